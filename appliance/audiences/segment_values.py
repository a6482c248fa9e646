"""The words of the segment rule language, ops and profile fields, and the values each accepts.

Values are checked here and kept as written; `cutoff` and `locale_tag` say what they mean when
a segment is evaluated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_VALUES = 500  # items of one `in` list
MAX_TEXT = 1000  # characters of one string value

Scalar = str | int | float | bool
Value = Scalar | tuple[Scalar, ...] | None


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"
    BEFORE = "before"
    AFTER = "after"


class ProfileField(StrEnum):
    LOCALE = "locale"
    TIMEZONE = "timezone"
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"  # stands for "last seen": it moves whenever the profile is written


COMPARISONS = (Op.GT, Op.GTE, Op.LT, Op.LTE)
PRESENCE = (Op.EXISTS, Op.NOT_EXISTS)
ATTRIBUTE_OPS = (Op.EQ, Op.NE, Op.IN, *COMPARISONS, *PRESENCE)
FIELD_OPS = {
    ProfileField.LOCALE: (Op.EQ, Op.NE, Op.IN, *PRESENCE),
    ProfileField.TIMEZONE: (Op.EQ, Op.NE, Op.IN, *PRESENCE),
    ProfileField.CREATED_AT: (Op.BEFORE, Op.AFTER),
    ProfileField.UPDATED_AT: (Op.BEFORE, Op.AFTER),
}

_LOCALE_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_RELATIVE = re.compile(r"^(\d{1,6})(m|h|d|w)$")
_RELATIVE_UNITS = {
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def op_among(op: Any, allowed: tuple[Op, ...], subject: str) -> Op:
    if isinstance(op, str) and op in allowed:
        return Op(op)
    return _fail(f"unknown op {op!r} for {subject}; use one of: {', '.join(allowed)}")


def attribute_value(op: Op, value: Any) -> Value:
    return _value_for(op, value, _orderable if op in COMPARISONS else _scalar)


def field_value(field: ProfileField, op: Op, value: Any) -> Value:
    return _value_for(op, value, _FIELD_VALUES[field])


def _fail(message: str) -> Any:
    raise ValueError(message)


def _value_for(op: Op, value: Any, one: Callable[[Any], Scalar]) -> Value:
    if op in PRESENCE:
        return None if value is None else _fail(f"`{op}` takes no `value`")
    if value is None:
        return _fail(f"`{op}` needs a `value`")
    if op is Op.IN:
        if not isinstance(value, list | tuple) or not value:
            return _fail("`in` needs a non-empty list of values, such as [a, b]")
        if len(value) > MAX_VALUES:
            return _fail(f"`in` takes at most {MAX_VALUES} values, got {len(value)}")
        return tuple(_item(index, item, one) for index, item in enumerate(value))
    if isinstance(value, list | tuple):
        return _fail(f"`{op}` takes one value; use `in` to match any of a list")
    return one(value)


def _item(index: int, item: Any, one: Callable[[Any], Scalar]) -> Scalar:
    try:
        return one(item)
    except ValueError as exc:
        raise ValueError(f"item {index}: {exc}") from None


def _scalar(value: Any) -> Scalar:
    if isinstance(value, date):  # YAML reads an unquoted 2024-05-01 as a date, not a string
        return _fail(f"YAML read {value} as a date; quote it to compare it as a string")
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**63:  # what SQLite can bind
            return _fail("an integer must fit in 64 bits; write a larger one with an exponent, such as 1e30")
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else _fail("a number must be finite")
    if isinstance(value, str):
        return _text(value)
    return _fail("expected a string, a number or true/false")


def _text(value: str) -> str:
    if len(value) > MAX_TEXT:
        return _fail(f"a string value is at most {MAX_TEXT} characters")
    if "\x00" in value:  # PostgreSQL text cannot hold it
        return _fail("a string value cannot contain the NUL character")
    return value


def _orderable(value: Any) -> Scalar:
    if isinstance(value, bool):
        return _fail("comparisons need a number or a string, not true/false; use `eq`")
    return _scalar(value)


def _locale(value: Any) -> str:
    if isinstance(value, str) and _LOCALE_TAG.match(value):
        return value
    return _fail(f"expected a language tag such as fr or fr-CA, got {value!r}")


def _time_zone(value: Any) -> str:
    if isinstance(value, str) and len(value) <= 64:  # the column's width
        try:
            ZoneInfo(value)
            return value
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return _fail(f"unknown time zone {value!r}; expected an IANA name such as Europe/Paris")


def _moment(value: Any) -> str:
    if isinstance(value, datetime | date):  # YAML timestamps arrive parsed; keep them as text
        value = value.isoformat()
    if not isinstance(value, str):
        return _fail('expected a relative age such as "30d" (m, h, d, w) or an ISO date such as 2026-01-31')
    cutoff(value, datetime.now(UTC))  # raises the precise complaint
    return value


_FIELD_VALUES: dict[ProfileField, Callable[[Any], Scalar]] = {
    ProfileField.LOCALE: _locale,
    ProfileField.TIMEZONE: _time_zone,
    ProfileField.CREATED_AT: _moment,
    ProfileField.UPDATED_AT: _moment,
}


def cutoff(moment: str, now: datetime) -> datetime:
    """The instant a `before`/`after` value names: "30d" is 30 days before `now`; a bare date is
    midnight UTC; a date and time must carry its offset, so no server's zone is guessed."""
    relative = _RELATIVE.match(moment)
    if relative:
        return now - int(relative.group(1)) * _RELATIVE_UNITS[relative.group(2)]
    try:
        parsed = datetime.fromisoformat(moment)
    except ValueError:
        raise ValueError(
            f'expected a relative age such as "30d" (m, h, d, w) or an ISO date, got {moment!r}'
        ) from None
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    if len(moment) == 10:  # a date alone
        return parsed.replace(tzinfo=UTC)
    raise ValueError(f"{moment!r} has no UTC offset; add one, such as Z or +01:00")


def locale_tag(value: str) -> str:
    """Language tags compare case-insensitively, and fr_CA is written for fr-CA often enough."""
    return value.lower().replace("_", "-")
