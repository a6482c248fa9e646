"""Segments on both stacks: every operator counted over seeded recipients, the API, the YAML's own,
and `matches` checked against a plain-Python reading of the same rules on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, create_engine, delete, insert, select

from appliance.audiences.segment_rules import MAX_DEPTH, parse_rules
from appliance.audiences.segment_sql import matches
from appliance.audiences.segments import segment_rules
from appliance.catalog import load_catalog
from appliance.db.engine import Database
from appliance.db.models import Recipient, Segment
from appliance.db.types import utcnow
from appliance.settings import Settings
from tests.conftest import AUTH, EXAMPLE_CONFIG, ROOT, Stack, serving

# external id -> (attributes, locale, timezone, created days ago, updated days ago)
PEOPLE: dict[str, tuple[dict[str, Any], str | None, str | None, int, int]] = {
    "ada": (
        {"plan": "pro", "seats": 12, "beta": True, "score": 4.5, "ref": "5", "name": "ada"},
        "fr-CA",
        "Europe/Paris",
        40,
        1,
    ),
    "bob": (
        {"plan": "free", "seats": 1, "beta": False, "ref": 5, "name": "Bob"},
        "fr",
        "America/Montreal",
        5,
        5,
    ),
    "cy": (
        {"plan": "pro", "seats": 5.0, "beta": "true", "nickname": None, "name": "émile"},
        "en-US",
        "America/New_York",
        400,
        100,
    ),
    "dee": ({"plan": "Pro", "seats": 5, "ref": "five"}, "fr_FR", None, 2, 2),
    "eve": ({}, None, "Asia/Tokyo", 10, 10),
    "fin": ({"plan": ["pro"], "seats": "12", "name": "zed"}, "frr", "Europe/Paris", 60, 20),
}
EVERYONE = set(PEOPLE)


def attribute(name: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"attribute": name, "op": op} | ({} if value is None else {"value": value})


def field(name: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": name, "op": op} | ({} if value is None else {"value": value})


def a_while_ago(days: int) -> str:
    return (utcnow() - timedelta(days=days)).isoformat()


# rules -> who they select, among PEOPLE
CASES: list[tuple[dict[str, Any], set[str]]] = [
    # strings: exact, case-sensitive, and only against strings
    (attribute("plan", "eq", "pro"), {"ada", "cy"}),
    (attribute("plan", "ne", "pro"), {"bob", "dee", "eve", "fin"}),  # missing and non-strings included
    (attribute("plan", "in", ["pro", "free"]), {"ada", "bob", "cy"}),
    (attribute("seats", "eq", "12"), {"fin"}),
    (attribute("ref", "eq", "5"), {"ada"}),
    # numbers: numeric, 5 == 5.0, never a string that looks like one
    (attribute("ref", "eq", 5), {"bob"}),
    (attribute("seats", "eq", 5), {"cy", "dee"}),
    (attribute("seats", "gt", 5), {"ada"}),
    (attribute("seats", "gte", 5), {"ada", "cy", "dee"}),
    (attribute("seats", "lt", 5), {"bob"}),
    (attribute("seats", "lte", 1), {"bob"}),
    (attribute("score", "gt", 4), {"ada"}),
    (attribute("score", "lt", 4.5), set()),
    (attribute("plan", "gt", 3), set()),
    # strings order by code point: "B" < "a" < "z" < "é"
    (attribute("name", "gt", "a"), {"ada", "cy", "fin"}),
    (attribute("name", "lt", "a"), {"bob"}),
    (attribute("name", "gte", "zed"), {"cy", "fin"}),
    # booleans: true is not "true" and not 1
    (attribute("beta", "eq", True), {"ada"}),
    (attribute("beta", "eq", False), {"bob"}),
    (attribute("beta", "ne", True), {"bob", "cy", "dee", "eve", "fin"}),
    (attribute("beta", "in", [True, "true"]), {"ada", "cy"}),
    (attribute("beta", "in", [1]), set()),
    # presence: null counts as missing; an array is present
    (attribute("nickname", "exists"), set()),
    (attribute("nickname", "not_exists"), EVERYONE),
    (attribute("ref", "exists"), {"ada", "bob", "dee"}),
    (attribute("plan", "exists"), {"ada", "bob", "cy", "dee", "fin"}),
    # locale: a language matches its regions (fr_FR too), but not another language (frr)
    (field("locale", "eq", "fr"), {"ada", "bob", "dee"}),
    (field("locale", "eq", "FR-ca"), {"ada"}),
    (field("locale", "in", ["en", "de"]), {"cy"}),
    (field("locale", "ne", "fr"), {"cy", "eve", "fin"}),
    (field("locale", "not_exists"), {"eve"}),
    # time zone: exact
    (field("timezone", "eq", "Europe/Paris"), {"ada", "fin"}),
    (field("timezone", "in", ["Asia/Tokyo", "America/Montreal"]), {"bob", "eve"}),
    (field("timezone", "ne", "Europe/Paris"), {"bob", "cy", "dee", "eve"}),
    (field("timezone", "not_exists"), {"dee"}),
    # dates: relative ages and instants; updated_at stands for "last seen"
    (field("created_at", "after", "30d"), {"bob", "dee", "eve"}),
    (field("created_at", "before", "30d"), {"ada", "cy", "fin"}),
    (field("created_at", "before", "8w"), {"cy", "fin"}),
    (field("updated_at", "after", "7d"), {"ada", "bob", "dee"}),
    (field("updated_at", "before", "36h"), {"bob", "cy", "dee", "eve", "fin"}),
    (field("created_at", "before", a_while_ago(100)), {"cy"}),
    # nesting
    (
        {
            "all": [
                attribute("plan", "eq", "pro"),
                {"any": [field("locale", "eq", "fr"), attribute("seats", "gte", 10)]},
            ]
        },
        {"ada"},
    ),
    (
        {
            "any": [
                {"all": [field("timezone", "eq", "Europe/Paris"), field("created_at", "before", "50d")]},
                attribute("beta", "eq", False),
            ]
        },
        {"bob", "fin"},
    ),
    ({"all": [attribute("plan", "exists"), {"any": [attribute("plan", "eq", "pro")]}]}, {"ada", "cy"}),
    ({"all": []}, EVERYONE),
]


async def seed(database_url: str) -> None:
    """Straight into the database: the API cannot backdate created_at."""
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "external_id": key,
            "attributes": attributes,
            "locale": locale,
            "timezone": zone,
            "created_at": now - timedelta(days=created),
            "updated_at": now - timedelta(days=updated),
        }
        for key, (attributes, locale, zone, created, updated) in PEOPLE.items()
    ]
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.execute(insert(Recipient), rows)
    finally:
        await database.dispose()


async def preview(client: AsyncTestClient, rules: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/v1/segments/preview", json={"rules": rules}, headers=AUTH)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_every_operator_selects_by_type_and_nesting(stack: Stack) -> None:
    await seed(stack.settings.database_url)
    wrong = {}
    for rules, expected in CASES:
        found = await preview(stack.client, rules)
        if found != {"count": len(expected), "sample": sorted(expected)}:
            wrong[str(rules)] = (found, sorted(expected))
    assert wrong == {}


async def test_stored_segments_are_created_replaced_counted_and_deleted(stack: Stack) -> None:
    await seed(stack.settings.database_url)
    client = stack.client
    body = {"name": "Pros", "rules": attribute("plan", "eq", "pro")}

    created = await client.put("/v1/segments/pros", json=body, headers=AUTH)
    assert created.status_code == 201, created.text
    assert created.json() | {"created_at": None, "updated_at": None} == {
        "key": "pros",
        "name": "Pros",
        "rules": {"attribute": "plan", "op": "eq", "value": "pro"},
        "source": "api",
        "created_at": None,
        "updated_at": None,
    }
    count = await client.get("/v1/segments/pros/count", headers=AUTH)
    assert count.json() == {"count": 2, "sample": ["ada", "cy"]}

    wider = {"rules": {"any": [body["rules"], attribute("plan", "eq", "free")]}}
    replaced = await client.put("/v1/segments/pros", json=wider, headers=AUTH)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["name"] == "pros"  # no name given: the key stands in
    assert (await client.get("/v1/segments/pros/count", headers=AUTH)).json()["count"] == 3

    listed = (await client.get("/v1/segments", headers=AUTH)).json()
    stored = [(s["key"], s["source"], s["rules"]) for s in listed if s["source"] == "api"]
    assert stored == [("pros", "api", wider["rules"])]
    assert (await client.get("/v1/segments/pros", headers=AUTH)).json()["rules"] == wider["rules"]

    assert (await client.delete("/v1/segments/pros", headers=AUTH)).status_code == 204
    for response in (
        await client.get("/v1/segments/pros", headers=AUTH),
        await client.get("/v1/segments/pros/count", headers=AUTH),
        await client.delete("/v1/segments/pros", headers=AUTH),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert [s for s in (await client.get("/v1/segments", headers=AUTH)).json() if s["source"] == "api"] == []


async def test_invalid_rules_are_refused_naming_every_field(stack: Stack) -> None:
    rules = {"all": [attribute("plan", "equals", "pro"), {"any": [field("locale", "in", ["fr", "??"])]}]}
    for response in (
        await stack.client.put("/v1/segments/broken", json={"rules": rules}, headers=AUTH),
        await stack.client.post("/v1/segments/preview", json={"rules": rules}, headers=AUTH),
    ):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["field"] == "rules.all.0.op"
        assert problem["detail"].startswith("unknown op 'equals' for attributes; use one of: eq, ne")
        assert [error["field"] for error in problem["errors"]] == [
            "rules.all.0.op",
            "rules.all.1.any.0.value",
        ]
    assert (await stack.client.get("/v1/segments/broken", headers=AUTH)).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "field_name"),
    [
        ("/v1/segments/Not_Lower", {"rules": {"all": []}}, "key"),
        ("/v1/segments/ok", {"rules": {"all": []}, "colour": "red"}, "colour"),
        ("/v1/segments/ok", {"rules": [1]}, "rules"),
        ("/v1/segments/ok", {"rules": {"all": []}, "name": "x" * 201}, "name"),
        ("/v1/segments/ok", {"rules": {"attribute": "a", "op": "eq", "value": "\x00"}}, "rules.value"),
        ("/v1/segments/ok", {"rules": {"attribute": "a", "op": "eq", "value": 10**30}}, "rules.value"),
    ],
)
async def test_malformed_bodies_and_keys_are_refused(
    stack: Stack, path: str, body: dict[str, Any], field_name: str
) -> None:
    response = await stack.client.put(path, json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["field"].endswith(field_name)  # a top-level body key may read "data.colour"


async def test_deep_nesting_is_refused_before_it_is_walked(stack: Stack) -> None:
    rules: dict[str, Any] = attribute("a", "exists")
    for _ in range(200):
        rules = {"any": [rules]}
    response = await stack.client.post("/v1/segments/preview", json={"rules": rules}, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "rules"
    assert f"at most {MAX_DEPTH} levels" in response.json()["detail"]


# --- segments of the YAML ---------------------------------------------------------------------

YAML_SEGMENTS = {
    "french": {"name": "French speakers", "rules": field("locale", "eq", "fr")},
    "recent": {"rules": {"all": [field("created_at", "after", "30d")]}},
}


def config_with_segments(directory: Path) -> Path:
    """The example config plus a `segments` section, beside the example's template files."""
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["segments"] = YAML_SEGMENTS
    path = directory / "clarion.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    (directory / "templates").symlink_to(ROOT / "config" / "templates")
    return path


async def test_yaml_segments_are_listed_read_only_and_found_first(
    stack_settings: Settings, tmp_path: Path
) -> None:
    config = config_with_segments(tmp_path)
    catalog = load_catalog(config, environ={})
    async with serving(stack_settings, catalog, config) as client:
        await seed(stack_settings.database_url)
        stored = {"name": "Stored", "rules": attribute("plan", "eq", "pro")}
        assert (await client.put("/v1/segments/pros", json=stored, headers=AUTH)).status_code == 201

        listed = (await client.get("/v1/segments", headers=AUTH)).json()
        assert [(s["key"], s["name"], s["source"]) for s in listed] == [
            ("french", "French speakers", "config"),
            ("recent", "recent", "config"),
            ("pros", "Stored", "api"),
        ]
        assert listed[0]["rules"] == YAML_SEGMENTS["french"]["rules"]
        assert listed[0]["created_at"] is None

        for response in (
            await client.put("/v1/segments/french", json=stored, headers=AUTH),
            await client.delete("/v1/segments/french", headers=AUTH),
        ):
            assert response.status_code == 409, response.text
            assert response.json()["field"] == "key"
            assert "defined in the config file" in response.json()["detail"]
        count = await client.get("/v1/segments/french/count", headers=AUTH)
        assert count.json() == {"count": 3, "sample": ["ada", "bob", "dee"]}

    # A row with a YAML segment's key (stored before the YAML gained it) stays hidden behind it.
    database = Database(stack_settings.database_url)
    try:
        async with database.transaction() as session:
            session.add(Segment(key="recent", name="Shadowed", rules=attribute("plan", "exists")))
        async with database.sessions() as session:
            french = await segment_rules(session, catalog.config, "french")
            recent = await segment_rules(session, catalog.config, "recent")
            pros = await segment_rules(session, catalog.config, "pros")
            assert french is not None and french.to_json() == YAML_SEGMENTS["french"]["rules"]
            assert recent is not None and recent.to_json() == YAML_SEGMENTS["recent"]["rules"]
            assert pros is not None and pros.to_json() == stored["rules"]
            assert await segment_rules(session, catalog.config, "nobody") is None
            # what the campaign engine does with them: stream ids in order
            ids = await session.scalars(
                select(Recipient.external_id).where(matches(pros)).order_by(Recipient.id)
            )
            assert sorted(ids) == ["ada", "cy"]
    finally:
        await database.dispose()


# --- matches() against a plain-Python reading of the rules ----------------------------------

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MISSING = object()

SCALARS = st.one_of(
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.5, -1.5, 2.0, 1e20]),
    st.sampled_from(["", "a", "B", "é", "5", "true", "a b"]),
)
ATTRIBUTE_VALUES = st.one_of(SCALARS, st.none(), st.just([1]), st.just({"k": "a"}))
LOCALES = ["fr", "fr-CA", "fr_ca", "FR-be", "frr", "en", "en-US", "de-DE"]
ZONES = ["Europe/Paris", "UTC", "Asia/Tokyo"]
AGES = [timedelta(hours=12), timedelta(days=1), timedelta(days=3), timedelta(days=10), timedelta(days=400)]
MOMENTS = ["12h", "1d", "3d", "2w", "2026-05-01", "2026-05-29T12:00:00Z", "2025-01-01T00:00:00+02:00"]

people = st.lists(
    st.fixed_dictionaries(
        {
            "attributes": st.dictionaries(st.sampled_from(["a", "b"]), ATTRIBUTE_VALUES, max_size=2),
            "locale": st.none() | st.sampled_from(LOCALES),
            "timezone": st.none() | st.sampled_from(ZONES),
            "created_at": st.sampled_from(AGES).map(lambda age: NOW - age),
            "updated_at": st.sampled_from(AGES).map(lambda age: NOW - age),
        }
    ),
    max_size=10,
)


def _attribute_conditions() -> st.SearchStrategy[dict[str, Any]]:
    name = st.sampled_from(["a", "b", "c"])  # nobody has "c"
    orderable = SCALARS.filter(lambda v: not isinstance(v, bool))
    return st.one_of(
        st.builds(attribute, name, st.sampled_from(["eq", "ne"]), SCALARS),
        st.builds(attribute, name, st.just("in"), st.lists(SCALARS, min_size=1, max_size=3)),
        st.builds(attribute, name, st.sampled_from(["gt", "gte", "lt", "lte"]), orderable),
        st.builds(attribute, name, st.sampled_from(["exists", "not_exists"])),
    )


def _field_conditions() -> st.SearchStrategy[dict[str, Any]]:
    tags = st.sampled_from(["fr", "fr-CA", "FR", "fr_ca", "en", "de"])
    return st.one_of(
        st.builds(field, st.just("locale"), st.sampled_from(["eq", "ne"]), tags),
        st.builds(field, st.just("locale"), st.just("in"), st.lists(tags, min_size=1, max_size=3)),
        st.builds(field, st.sampled_from(["locale", "timezone"]), st.sampled_from(["exists", "not_exists"])),
        st.builds(field, st.just("timezone"), st.sampled_from(["eq", "ne"]), st.sampled_from(ZONES)),
        st.builds(field, st.just("timezone"), st.just("in"), st.lists(st.sampled_from(ZONES), min_size=1)),
        st.builds(
            field,
            st.sampled_from(["created_at", "updated_at"]),
            st.sampled_from(["before", "after"]),
            st.sampled_from(MOMENTS),
        ),
    )


conditions = st.one_of(_attribute_conditions(), _field_conditions())
rule_trees = st.recursive(
    conditions,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda rules: {"all": rules}),
        st.lists(inner, min_size=1, max_size=3).map(lambda rules: {"any": rules}),
    ),
    max_leaves=8,
)


def reference(rule: dict[str, Any], person: dict[str, Any]) -> bool:
    """What the rules documentation promises, read literally in Python."""
    if "all" in rule:
        return all(reference(inner, person) for inner in rule["all"])
    if "any" in rule:
        return any(reference(inner, person) for inner in rule["any"])
    if "attribute" in rule:
        return _reference_attribute(rule, person["attributes"].get(rule["attribute"], MISSING))
    return _reference_field(rule, person)


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, bool):
        return isinstance(have, bool) and have == want
    if isinstance(want, int | float):
        return _is_number(have) and have == want
    return isinstance(have, str) and have == want


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _reference_attribute(rule: dict[str, Any], have: Any) -> bool:
    op, want = rule["op"], rule.get("value")
    if op in ("exists", "not_exists"):
        return (have is not MISSING and have is not None) == (op == "exists")
    if op in ("eq", "ne"):
        return _same(have, want) == (op == "eq")
    if op == "in":
        return any(_same(have, item) for item in want)
    comparable = isinstance(have, str) if isinstance(want, str) else _is_number(have)
    if not comparable:
        return False
    return {"gt": have > want, "gte": have >= want, "lt": have < want, "lte": have <= want}[op]


def _reference_field(rule: dict[str, Any], person: dict[str, Any]) -> bool:
    name, op, want = rule["field"], rule["op"], rule.get("value")
    if name in ("created_at", "updated_at"):
        moment = _reference_moment(want)
        return person[name] < moment if op == "before" else person[name] >= moment
    have = person[name]
    if op in ("exists", "not_exists"):
        return (have is not None) == (op == "exists")
    wanted = want if isinstance(want, list) else [want]
    found = have is not None and any(_reference_same_place(name, have, item) for item in wanted)
    return not found if op == "ne" else found


def _reference_same_place(name: str, have: str, want: str) -> bool:
    if name == "timezone":
        return have == want
    have, want = have.lower().replace("_", "-"), want.lower().replace("_", "-")
    return have == want or have.startswith(want + "-")


def _reference_moment(value: str) -> datetime:
    units = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
    if value[-1] in units and value[:-1].isdigit():
        return NOW - int(value[:-1]) * units[value[-1]]
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _depth(rule: dict[str, Any]) -> int:
    inner = rule.get("all", rule.get("any"))
    return 0 if inner is None else 1 + max((_depth(r) for r in inner), default=0)


@pytest.fixture
def icu_pg_url(pg_server: str) -> Iterator[str]:
    """A PostgreSQL database whose default collation sorts like a dictionary ("a" < "B" < "é" < "z"),
    so code point order in segments is shown to come from the rules, not from a C-locale server."""
    name = f"clarion_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as connection:
        icu = "LOCALE_PROVIDER icu ICU_LOCALE 'und' LOCALE 'C.UTF-8'"
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 {icu}')
    base = pg_server.rsplit("/", 1)[0]
    yield f"postgresql+psycopg://{base.split('://', 1)[1]}/{name}"
    with psycopg.connect(pg_server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def recipients_engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A synchronous engine with just the recipients table: hypothesis drives sync tests."""
    url = "sqlite://" if request.param == "sqlite" else request.getfixturevalue("icu_pg_url")
    engine = create_engine(url)
    Recipient.__table__.create(engine)  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        engine.dispose()


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(population=people, rule=conditions | rule_trees)  # single conditions half the time
def test_matches_agrees_with_a_plain_reading_of_the_rules(
    recipients_engine: Engine, population: list[dict[str, Any]], rule: dict[str, Any]
) -> None:
    assume(_depth(rule) <= MAX_DEPTH)
    rows = [
        {"id": uuid.uuid4(), "external_id": f"p{index}", **person} for index, person in enumerate(population)
    ]
    with recipients_engine.begin() as connection:
        connection.execute(delete(Recipient))
        if rows:
            connection.execute(insert(Recipient), rows)
        selected = set(
            connection.scalars(select(Recipient.external_id).where(matches(parse_rules(rule), now=NOW)))
        )
    expected = {row["external_id"] for row in rows if reference(rule, row)}
    assert selected == expected


def test_strings_order_by_code_point_whatever_the_database_collation(recipients_engine: Engine) -> None:
    names = ["a", "B", "é", "Z", "ab"]  # a dictionary would say a < ab < B < é < Z
    with recipients_engine.begin() as connection:
        connection.execute(
            insert(Recipient),
            [{"id": uuid.uuid4(), "external_id": name, "attributes": {"name": name}} for name in names],
        )
        above_b = connection.scalars(
            select(Recipient.external_id).where(matches(parse_rules(attribute("name", "gt", "B"))))
        )
        assert sorted(above_b) == ["Z", "a", "ab", "é"]


async def test_a_number_list_mixing_small_and_huge_values_is_compared_as_numbers(stack: Stack) -> None:
    # Found by hypothesis: the list once took its first value's type (INTEGER) and 1e20 overflowed it.
    rules = {"attribute": "a", "op": "in", "value": [0, 1e20]}
    answer = await stack.client.post("/v1/segments/preview", json={"rules": rules}, headers=AUTH)
    assert answer.status_code == 200, answer.text
