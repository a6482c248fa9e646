"""Writing many rows at once: COPY on PostgreSQL, one executemany elsewhere.

Measured here (fan-out of a campaign, 3 rows per recipient): executemany through the ORM ~300
recipients/s, Core executemany ~1,200/s, COPY several times that. design.md's figures agree:
PostgreSQL takes ~60k batched rows/s and ~105k by COPY. But a COPY costs two round trips
where one INSERT costs one: a single notification (3 tables, one row each) goes faster by INSERT,
so COPY starts at COPY_FROM rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import JSON, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

#: Fewer rows than this go by one multi-row INSERT (SQLAlchemy's insertmanyvalues).
COPY_FROM = 32


async def insert_rows(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert `rows` (dicts keyed by column name; missing keys take the column's default)."""
    if not rows:
        return
    if session.bind.dialect.name != "postgresql" or len(rows) < COPY_FROM:
        await session.execute(table.insert(), list(rows))
        return
    columns = [column for column in table.columns if _given_or_defaulted(column.name, column, rows[0])]
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    names = ", ".join(f'"{column.name}"' for column in columns)
    given = [(column.name, isinstance(column.type, JSON), _default(column)) for column in columns]
    statement = f'COPY "{table.name}" ({names}) FROM STDIN'
    try:
        async with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                await copy.write_row([_value(row, *column) for column in given])
    except psycopg.IntegrityError as exc:
        # As SQLAlchemy raises it for an INSERT: callers handle a row that came first one way.
        raise IntegrityError(statement, None, exc) from exc


def _given_or_defaulted(name: str, column: Any, sample: dict[str, Any]) -> bool:
    """Columns the rows give, or with a Python-side default; the rest are left to the database."""
    return name in sample or column.default is not None


def _value(row: dict[str, Any], name: str, is_json: bool, default: Callable[[], Any]) -> Any:
    value = row[name] if name in row else default()
    return Jsonb(value) if is_json and value is not None else value


def _default(column: Any) -> Callable[[], Any]:
    # SQLAlchemy wraps a default callable to take an execution context; ours ignore it.
    if column.default is None:
        return lambda: None  # every row gives it (the first one did)
    if column.default.is_scalar:
        return lambda: column.default.arg
    return lambda: column.default.arg(None)
