"""Rates, durations and ${VAR} substitution, property-tested."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.config.interpolation import interpolate
from appliance.config.units import parse_duration, parse_rate

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@given(count=st.integers(min_value=1, max_value=10**9), unit=st.sampled_from(sorted(UNITS)))
def test_every_well_formed_rate_parses_to_count_per_period(count: int, unit: str) -> None:
    rate = parse_rate(f"{count}/{unit}")
    assert (rate.count, rate.period_s, str(rate)) == (count, UNITS[unit], f"{count}/{unit}")


@given(st.text().filter(lambda s: "/" not in s))
def test_text_without_a_slash_is_never_a_rate(text: str) -> None:
    with pytest.raises(ValueError, match=r'expected "<n>/<s\|m\|h\|d\|w>"'):
        parse_rate(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500ms", timedelta(milliseconds=500)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1.5h", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        (7, timedelta(seconds=7)),
    ],
)
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["fast", "10", "5 minutes", "-1s", ""])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration"):
        parse_duration(text)


names = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
plain = st.text(alphabet=st.characters(blacklist_characters="$"), max_size=20)


@given(name=names, value=plain, before=plain, after=plain)
def test_a_set_variable_is_substituted_in_place(name: str, value: str, before: str, after: str) -> None:
    data = {"a": [f"{before}${{{name}}}{after}"]}
    result, missing = interpolate(data, {name: value})
    assert result == {"a": [f"{before}{value}{after}"]}
    assert missing == []


@given(name=names, default=st.text(alphabet=st.characters(blacklist_characters="$}"), max_size=20))
def test_an_unset_variable_takes_its_default(name: str, default: str) -> None:
    result, missing = interpolate({"k": f"${{{name}:-{default}}}"}, {})
    assert result == {"k": default}
    assert missing == []


def test_an_unset_variable_without_default_is_reported_with_its_path() -> None:
    _, missing = interpolate({"providers": {"mail": {"password": "${SMTP_PASSWORD}"}}}, {})
    assert [(m.path, m.name) for m in missing] == [(("providers", "mail", "password"), "SMTP_PASSWORD")]


def test_non_strings_are_left_alone() -> None:
    data = {"port": 587, "tls": True, "ratio": 0.5, "none": None}
    assert interpolate(data, {})[0] == data
