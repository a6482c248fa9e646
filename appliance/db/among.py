"""`column IN (values)` whose SQL does not grow with the values.

An IN list renders one placeholder per value: for the few hundred ids of a batch the statement
is new text every time, so neither SQLAlchemy's compiled cache nor psycopg's query cache keeps
it, and psycopg re-parses thousands of characters per call (a tenth of a fan-out worker's CPU,
measured). On PostgreSQL the values go as one array parameter, `= ANY(:values)`, and the text
stays the same; SQLite has no arrays, so it keeps the IN list.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, any_, bindparam
from sqlalchemy.ext.asyncio import AsyncSession


def among(session: AsyncSession, column: ColumnElement[Any], values: Collection[Any]) -> ColumnElement[bool]:
    if session.bind.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(list(values))


def among_param(dialect: str, column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """`among` for a statement built once and run many times: the values come at execution,
    as the parameter `name` (a list)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))
