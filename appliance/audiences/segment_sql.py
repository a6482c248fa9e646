"""Segment rules compiled to one SQL condition over `recipients`, on PostgreSQL and on SQLite.

Every condition compiles to an expression that is never NULL, so `ne` is exactly `NOT eq` and a
recipient without the attribute is simply not equal to anything: SQL's three-valued logic would
otherwise drop them from `ne` and from `NOT`.

Attributes are typed as JSON types them: a condition with a string value matches string attributes
only, a number matches numbers only (5 and 5.0 are equal; "5" is not 5), true matches true only.
The JSON type of an attribute is read with `json_typeof` on PostgreSQL and `json_type` on SQLite.
Strings order by code point on both databases (PostgreSQL with COLLATE "C"), not by the locale's
rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    not_,
    or_,
    true,
)
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import JSON, Boolean, String

from ..db.models import Recipient
from ..db.types import utcnow
from .segment_rules import AllOf, AnyOf, AttributeCondition, FieldCondition, Rule, Rules
from .segment_values import Op, ProfileField, Scalar, cutoff, locale_tag


def matches(rules: Rules, *, now: datetime | None = None) -> ColumnElement[bool]:
    """The recipients `rules` select, as a WHERE condition.

    `now` anchors relative ages ("30d"); a campaign passes one instant for all its batches so a
    recipient cannot drift in or out of the audience halfway through.
    """
    return _rule(rules.root, now or utcnow())


def _rule(rule: Rule, now: datetime) -> ColumnElement[bool]:
    if isinstance(rule, AllOf):
        return and_(true(), *(_rule(inner, now) for inner in rule.all))
    if isinstance(rule, AnyOf):
        return or_(false(), *(_rule(inner, now) for inner in rule.any))
    if isinstance(rule, AttributeCondition):
        return _attribute(rule)
    return _field(rule, now)


# --- attributes -------------------------------------------------------------------------------


class _PerDialect(ColumnElement[Any]):
    """One expression per dialect, chosen when the statement is compiled."""

    inherit_cache = False  # holds expressions SQLAlchemy's cache key cannot see

    def __init__(self, by_dialect: Mapping[str, ColumnElement[Any]], type_: Any) -> None:
        self.by_dialect = dict(by_dialect)
        self.type = type_


@compiles(_PerDialect)
def _compile_per_dialect(element: _PerDialect, compiler: SQLCompiler, **kw: Any) -> str:
    chosen = element.by_dialect.get(compiler.dialect.name)
    if chosen is None:
        raise CompileError(f"segments support {', '.join(element.by_dialect)}, not {compiler.dialect.name}")
    return compiler.process(chosen, **kw)


def _pg_json(name: str) -> ColumnElement[Any]:
    return Recipient.attributes.op("->", return_type=JSON)(literal(name))


def _pg_type(name: str) -> ColumnElement[str]:
    return func.json_typeof(_pg_json(name))  # string number boolean null array object; NULL if absent


def _pg_text(name: str) -> ColumnElement[str]:
    return Recipient.attributes.op("->>", return_type=String)(literal(name))


def _lite_path(name: str) -> ColumnElement[str]:
    return literal(f'$."{name}"')  # names are [A-Za-z0-9_-]: nothing to escape


def _lite_type(name: str) -> ColumnElement[str]:
    return func.json_type(Recipient.attributes, _lite_path(name))  # text integer real true false null ...


def _lite_value(name: str) -> ColumnElement[Any]:
    return func.json_extract(Recipient.attributes, _lite_path(name))  # the SQL value: TEXT, INTEGER, REAL


def _string(name: str) -> ColumnElement[str]:
    """The attribute if it is a JSON string, else NULL."""
    return _PerDialect(
        {
            "postgresql": case((_pg_type(name) == "string", _pg_text(name))),
            "sqlite": case((_lite_type(name) == "text", _lite_value(name))),
        },
        String(),
    )


def _number(name: str) -> ColumnElement[Any]:
    """The attribute if it is a JSON number, else NULL. PostgreSQL reads it as NUMERIC, exactly as
    written; SQLite as the INTEGER or REAL its JSON functions return. CASE, unlike AND, guarantees
    the cast never sees a string the planner reached first."""
    return _PerDialect(
        {
            "postgresql": case((_pg_type(name) == "number", cast(_pg_text(name), Numeric()))),
            "sqlite": case((_lite_type(name).in_(["integer", "real"]), _lite_value(name))),
        },
        Numeric(),
    )


def _flag(name: str) -> ColumnElement[str]:
    """'true' or 'false' if the attribute is a JSON boolean; something else or NULL otherwise."""
    return _PerDialect(
        {"postgresql": case((_pg_type(name) == "boolean", _pg_text(name))), "sqlite": _lite_type(name)},
        String(),
    )


def _present(name: str) -> ColumnElement[bool]:
    """Set to anything but null; NULL when absent."""
    return _PerDialect(
        {"postgresql": _pg_type(name) != "null", "sqlite": _lite_type(name) != "null"}, Boolean()
    )


def _bytewise(text: ColumnElement[str]) -> ColumnElement[str]:
    """Order strings by code point on both: SQLite's default is binary, PostgreSQL's is the locale's."""
    return _PerDialect({"postgresql": text.collate("C"), "sqlite": text}, String())


def _definitely(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    """NULL (the attribute is absent or of another type) becomes false."""
    return func.coalesce(condition, false(), type_=Boolean)


def _equals(name: str, value: Scalar) -> ColumnElement[bool]:
    if isinstance(value, bool):  # before int: True is an int to Python
        return _definitely(_flag(name) == ("true" if value else "false"))
    if isinstance(value, int | float):
        return _definitely(_number(name) == value)
    return _definitely(_string(name) == value)


def _one_of(name: str, values: tuple[Scalar, ...]) -> ColumnElement[bool]:
    flags = [("true" if v else "false") for v in values if isinstance(v, bool)]
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    strings = [v for v in values if isinstance(v, str)]
    parts = []
    if flags:
        parts.append(_definitely(_flag(name).in_(flags)))
    if numbers:
        # Typed as NUMERIC: left to itself the list takes its first value's type, and `[0, 1e20]`
        # would be sent as INTEGERs that 1e20 overflows (found by test_segments' hypothesis test).
        parts.append(
            _definitely(_number(name).in_(bindparam(None, numbers, expanding=True, type_=Numeric())))
        )
    if strings:
        parts.append(_definitely(_string(name).in_(strings)))
    return or_(false(), *parts)


_ORDER = {
    Op.GT: lambda a, b: a > b,
    Op.GTE: lambda a, b: a >= b,
    Op.LT: lambda a, b: a < b,
    Op.LTE: lambda a, b: a <= b,
}


def _compare(name: str, op: Op, value: Scalar) -> ColumnElement[bool]:
    if isinstance(value, str):
        return _definitely(_ORDER[op](_bytewise(_string(name)), value))
    return _definitely(_ORDER[op](_number(name), value))


def _attribute(condition: AttributeCondition) -> ColumnElement[bool]:
    name, op, value = condition.attribute, condition.op, condition.value
    if op in (Op.EXISTS, Op.NOT_EXISTS):
        present = _definitely(_present(name))
        return present if op is Op.EXISTS else not_(present)
    if op is Op.IN:
        return _one_of(name, value)  # type: ignore[arg-type]  # validated: a tuple for `in`
    if op in _ORDER:
        return _compare(name, op, value)  # type: ignore[arg-type]
    equal = _equals(name, value)  # type: ignore[arg-type]
    return equal if op is Op.EQ else not_(equal)


# --- profile fields ---------------------------------------------------------------------------


def _field(condition: FieldCondition, now: datetime) -> ColumnElement[bool]:
    if condition.field in (ProfileField.CREATED_AT, ProfileField.UPDATED_AT):
        column = Recipient.created_at if condition.field is ProfileField.CREATED_AT else Recipient.updated_at
        instant = cutoff(str(condition.value), now)
        return column < instant if condition.op is Op.BEFORE else column >= instant
    column = Recipient.locale if condition.field is ProfileField.LOCALE else Recipient.timezone
    if condition.op in (Op.EXISTS, Op.NOT_EXISTS):
        return column.is_not(None) if condition.op is Op.EXISTS else column.is_(None)
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    one = _locale_is if condition.field is ProfileField.LOCALE else _zone_is
    # Guarded by IS NOT NULL so a recipient without one is "not equal", never NULL.
    found = and_(column.is_not(None), or_(false(), *(one(str(v)) for v in values)))
    return not_(found) if condition.op is Op.NE else found


def _locale_is(tag: str) -> ColumnElement[bool]:
    """`fr` matches fr, fr-CA and fr_CA; `fr-CA` matches fr-CA but not fr."""
    wanted = locale_tag(tag)
    have = func.replace(func.lower(Recipient.locale), "_", "-")
    return or_(have == wanted, func.substr(have, 1, len(wanted) + 1) == wanted + "-")


def _zone_is(zone: str) -> ColumnElement[bool]:
    return Recipient.timezone == zone
