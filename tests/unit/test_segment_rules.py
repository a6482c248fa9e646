"""The segment rule language: what is well-formed, what each mistake says, and where it points."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import mssql, postgresql, sqlite
from sqlalchemy.exc import CompileError

from appliance.audiences.segment_rules import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    AllOf,
    AttributeCondition,
    FieldCondition,
    InvalidRules,
    Rules,
    parse_rules,
)
from appliance.audiences.segment_sql import matches
from appliance.audiences.segment_values import MAX_VALUES, Op, cutoff, locale_tag
from appliance.catalog import load_catalog
from appliance.db.models import Recipient
from appliance.errors import ConfigError, InvalidRequest


def problems(raw: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidRules) as caught:
        parse_rules(raw)
    return caught.value.problems


def nested(depth: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"attribute": "plan", "op": "exists"}
    for _ in range(depth):
        rule = {"all": [rule]}
    return rule


# --- what is well-formed ----------------------------------------------------------------------


def test_a_nested_rule_reads_back_as_written() -> None:
    raw = {
        "all": [
            {"attribute": "plan", "op": "eq", "value": "pro"},
            {"attribute": "seats", "op": "gte", "value": 5},
            {"attribute": "beta", "op": "in", "value": [True, 1, 2.5, "yes"]},
            {"attribute": "churned", "op": "not_exists"},
            {
                "any": [
                    {"field": "locale", "op": "in", "value": ["fr", "de_DE"]},
                    {"field": "timezone", "op": "eq", "value": "Europe/Paris"},
                ]
            },
            {"field": "created_at", "op": "after", "value": "30d"},
            {"field": "updated_at", "op": "before", "value": "2026-01-31T12:00:00+01:00"},
        ]
    }
    rules = parse_rules(raw)
    assert rules.to_json() == raw
    assert isinstance(rules.root, AllOf)
    assert rules.root.all[0] == AttributeCondition(attribute="plan", op=Op.EQ, value="pro")


def test_values_keep_their_json_type() -> None:
    """The type of the value chooses the comparison, so "5", 5, 5.0 and true must stay apart."""
    condition = parse_rules({"attribute": "x", "op": "in", "value": ["5", 5, 5.0, True]}).root
    assert isinstance(condition, AttributeCondition)
    assert [type(v) for v in condition.value] == [str, int, float, bool]  # type: ignore[union-attr]


def test_a_single_condition_and_an_empty_all_are_rules() -> None:
    assert isinstance(parse_rules({"field": "locale", "op": "exists"}).root, FieldCondition)
    assert parse_rules({"all": []}).to_json() == {"all": []}  # everyone


def test_yaml_dates_for_profile_dates_are_kept_as_iso_text() -> None:
    rules = parse_rules(
        {
            "all": [
                {"field": "created_at", "op": "after", "value": date(2026, 1, 1)},
                {"field": "updated_at", "op": "before", "value": datetime(2026, 1, 1, 8, tzinfo=UTC)},
            ]
        }
    )
    assert [c["value"] for c in rules.to_json()["all"]] == ["2026-01-01", "2026-01-01T08:00:00+00:00"]


# --- what each mistake says, and where --------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (
            {"all": [{"attribute": "plan", "op": "equals", "value": "pro"}]},
            "rules.all.0.op",
            "unknown op 'equals' for attributes; use one of: eq, ne, in, gt, gte, lt, lte, exists",
        ),
        ({"attribute": "plan", "op": "eq"}, "rules.value", "`eq` needs a `value`"),
        ({"attribute": "plan", "op": "exists", "value": 1}, "rules.value", "`exists` takes no `value`"),
        ({"attribute": "plan", "op": "eq", "value": ["a"]}, "rules.value", "`eq` takes one value; use `in`"),
        ({"attribute": "plan", "op": "in", "value": "a"}, "rules.value", "`in` needs a non-empty list"),
        ({"attribute": "plan", "op": "in", "value": []}, "rules.value", "`in` needs a non-empty list"),
        ({"attribute": "plan", "op": "in", "value": ["a", None]}, "rules.value", "item 1: expected a string"),
        ({"attribute": "plan", "op": "eq", "value": {"a": 1}}, "rules.value", "expected a string, a number"),
        ({"attribute": "plan", "op": "eq", "value": float("nan")}, "rules.value", "a number must be finite"),
        (
            {"attribute": "beta", "op": "gt", "value": True},
            "rules.value",
            "comparisons need a number or a string",
        ),
        ({"attribute": "seen", "op": "eq", "value": date(2026, 1, 1)}, "rules.value", "quote it"),
        ({"attribute": "two words", "op": "exists"}, "rules.attribute", "an attribute name is 1-64"),
        ({"attribute": "x" * 65, "op": "exists"}, "rules.attribute", "an attribute name is 1-64"),
        ({"attribute": 5, "op": "exists"}, "rules.attribute", "an attribute name is 1-64"),
        ({"field": "age", "op": "eq", "value": 3}, "rules.field", "Input should be 'locale'"),
        ({"field": "locale", "op": "gt", "value": "fr"}, "rules.op", "unknown op 'gt' for locale"),
        ({"field": "created_at", "op": "eq", "value": "1d"}, "rules.op", "use one of: before, after"),
        ({"field": "locale", "op": "eq", "value": "french!"}, "rules.value", "expected a language tag"),
        (
            {"field": "timezone", "op": "in", "value": ["UTC", "Mars/Olympus"]},
            "rules.value",
            "item 1: unknown",
        ),
        ({"field": "created_at", "op": "after", "value": "30 days"}, "rules.value", 'such as "30d"'),
        ({"field": "created_at", "op": "after", "value": "2026-01-01T10:00"}, "rules.value", "no UTC offset"),
        ({"field": "created_at", "op": "after", "value": 30}, "rules.value", 'such as "30d"'),
        ({"attribute": "a", "op": "eq", "value": 1, "colour": "red"}, "rules.colour", "unknown key"),
        ({"any": []}, "rules.any", "needs at least one rule"),
        ({"none": []}, "rules", "expected a condition {attribute|field, op, value} or a group"),
        ("plan = pro", "rules", "expected a condition"),
    ],
)
def test_each_mistake_names_its_field_and_the_fix(raw: Any, field: str, message: str) -> None:
    found = problems(raw)
    assert found[0][0] == field
    assert message in found[0][1], found


def test_every_mistake_is_reported_at_once_with_its_path() -> None:
    found = problems(
        {
            "all": [
                {"attribute": "plan", "op": "equals", "value": "pro"},
                {"any": [{"field": "locale", "op": "in", "value": ["fr", "??"]}, {"bogus": 1}]},
            ]
        }
    )
    assert [field for field, _ in found] == ["rules.all.0.op", "rules.all.1.any.0.value", "rules.all.1.any.1"]


def test_invalid_rules_are_an_invalid_request_naming_the_first_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_rules({"all": [{"attribute": "plan", "op": "nope", "value": 1}]})
    assert caught.value.field == "rules.all.0.op"


def test_nesting_and_size_are_bounded() -> None:
    parse_rules(nested(MAX_DEPTH))
    assert problems(nested(MAX_DEPTH + 1)) == [
        ("rules", f"groups nest {MAX_DEPTH + 1} deep; at most {MAX_DEPTH} levels are allowed")
    ]
    # A hostile depth is refused before the recursive validation could overflow the stack.
    assert "at most" in problems(nested(50_000))[0][1]
    many = {"all": [{"attribute": "a", "op": "exists"}] * (MAX_CONDITIONS + 1)}
    assert problems(many) == [("rules", f"{MAX_CONDITIONS + 1} conditions; a segment may have at most 100")]
    long_list = {"attribute": "a", "op": "in", "value": list(range(MAX_VALUES + 1))}
    assert "at most 500 values" in problems(long_list)[0][1]


# --- what values mean -------------------------------------------------------------------------

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("moment", "instant"),
    [
        ("30d", NOW - timedelta(days=30)),
        ("2w", NOW - timedelta(weeks=2)),
        ("12h", NOW - timedelta(hours=12)),
        ("90m", NOW - timedelta(minutes=90)),
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=UTC)),
        ("2026-01-31T10:00:00Z", datetime(2026, 1, 31, 10, tzinfo=UTC)),
        ("2026-01-31T10:00:00+02:00", datetime(2026, 1, 31, 8, tzinfo=UTC)),
    ],
)
def test_a_moment_is_an_age_before_now_or_an_instant(moment: str, instant: datetime) -> None:
    assert cutoff(moment, NOW) == instant


def test_locale_tags_compare_case_and_separator_blind() -> None:
    assert locale_tag("fr_CA") == locale_tag("FR-ca") == "fr-ca"


# --- compiling --------------------------------------------------------------------------------


def sql(rules: Rules, dialect: Any) -> str:
    query = select(Recipient.id).where(matches(rules, now=NOW))
    return str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def test_rules_compile_for_both_databases_with_their_own_json_functions() -> None:
    rules = parse_rules(
        {
            "all": [
                {"attribute": "name", "op": "lt", "value": "m"},
                {"attribute": "seats", "op": "gte", "value": 5},
            ]
        }
    )
    on_postgres, on_sqlite = sql(rules, postgresql.dialect()), sql(rules, sqlite.dialect())
    assert "json_typeof(recipients.attributes -> 'name')" in on_postgres
    assert 'COLLATE "C"' in on_postgres  # code point order, whatever the database's locale
    assert "CAST(recipients.attributes ->> 'seats' AS NUMERIC)" in on_postgres
    assert """json_type(recipients.attributes, '$."name"')""" in on_sqlite
    assert "COLLATE" not in on_sqlite  # SQLite's default is already binary


def test_an_unsupported_database_is_refused_by_name() -> None:
    rules = parse_rules({"attribute": "plan", "op": "eq", "value": "pro"})
    with pytest.raises(CompileError, match="segments support postgresql, sqlite, not mssql"):
        sql(rules, mssql.dialect())


# --- the YAML ---------------------------------------------------------------------------------

CONFIG = """\
server: {secret_key: a-long-enough-secret}
channels: {email: {providers: [box]}}
providers: {box: {type: sandbox}}
categories: {news: {channels: [email]}}
segments:
  power_users:
    name: Power users
    rules:
      all:
        - {attribute: plan, op: eq, value: pro}
        - {field: created_at, op: after, value: 2026-01-01}
"""


def test_yaml_segments_load_typed(tmp_path: Path) -> None:
    path = tmp_path / "clarion.yaml"
    path.write_text(CONFIG)
    segment = load_catalog(path, environ={}).config.segments["power_users"]
    assert segment.name == "Power users"
    assert segment.rules.to_json()["all"][1] == {"field": "created_at", "op": "after", "value": "2026-01-01"}


def test_yaml_segment_mistakes_are_located_by_line_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "clarion.yaml"
    path.write_text(
        CONFIG
        + """\
        - {attribute: seats, op: greater, value: 5}
        - any:
            - {field: locale, op: in, value: [fr, "x y"]}
            - {attribute: signup, op: eq, value: 2026-01-01}
            - {attribute: x, op: exists, colour: 1}
  Bad Key:
    rules: {attribute: a, op: exists}
  deep:
    rules: {all: [{all: [{all: [{all: [{all: [{all: [{attribute: a, op: exists}]}]}]}]}]}]}
"""
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(path, environ={})
    found = [str(problem) for problem in caught.value.problems]
    assert f"{path}:12: segments.power_users.rules.all.2.op: unknown op 'greater' for attributes" in found[0]
    assert any(
        p.startswith(
            f"{path}:14: segments.power_users.rules.all.3.any.0.value: item 1: expected a language tag"
        )
        for p in found
    )
    assert any(
        p.startswith(
            f"{path}:15: segments.power_users.rules.all.3.any.1.value: YAML read 2026-01-01 as a date"
        )
        for p in found
    )
    assert any(
        p.startswith(f"{path}:16: segments.power_users.rules.all.3.any.2.colour: unknown key") for p in found
    )
    assert any(p.startswith(f"{path}:17: segments.Bad Key: ") for p in found)
    assert f"{path}:20: segments.deep.rules: groups nest 6 deep; at most 5 levels are allowed" in found
