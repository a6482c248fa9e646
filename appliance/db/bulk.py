"""Writing many rows at once: binary COPY or one INSERT of arrays on PostgreSQL, one executemany
on SQLite.

Measured here (fan-out of a campaign, 3 rows per recipient): executemany through the ORM ~300
recipients/s, Core executemany ~1,200/s, COPY several times that. design.md's figures agree:
PostgreSQL takes ~60k batched rows/s and ~105k by COPY. But a COPY costs two round trips, one
per table: a single notification (2 tables, a row each) goes faster as ONE statement, so COPY
starts at COPY_FROM rows. Below that, every table's rows go in one `INSERT .. SELECT FROM
unnest(<one array per column>)`, the tables chained as data-modifying CTEs: one round trip for
all, and the same text for any number of rows, so PostgreSQL and psycopg prepare it once. (The
foreign keys between them hold: PostgreSQL checks them at the end of the whole statement.)

Both go through psycopg directly, in the session's transaction: SQLAlchemy's executemany spent
~160 µs of CPU per statement more than psycopg does on its own (measured), and a binary COPY
needs types SQLAlchemy does not give. Each column's type is read from the table itself, once
per database and table in a process. COPY goes in binary with the types given: psycopg formats
a row without looking up a dumper per value, and PostgreSQL parses no text (7.8 -> 4.7 µs of
client CPU per `notifications` row, measured). (psycopg's binary int4 dumper wraps a value past
2**31 instead of refusing it; the integers written here are counts and positions, far below that.)

On SQLite the executemany, too, goes to the driver's connection, its values bound a column at a
time by each column type's own processor: SQLAlchemy's executemany built a dict of parameters
per row, a fifth of the embedded API's Python time during batch ingest (G7's batch, alternated
pairs of three rounds: ~7,250 -> ~8,430 notifications/s, measured).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import Json, Jsonb, set_json_dumps
from sqlalchemy import Column, Dialect, Table, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

#: Fewer rows than this in every table go by one INSERT of arrays, not COPY.
COPY_FROM = 32

Rows = Sequence[dict[str, Any]]


async def insert_rows(session: AsyncSession, table: Table, rows: Rows) -> None:
    """Insert `rows`: dicts that all give the same columns. Columns they leave out take their
    Python-side default, or the database's."""
    await insert_tables(session, [(table, rows)])


async def insert_tables(session: AsyncSession, tables: Sequence[tuple[Table, Rows]]) -> None:
    """`insert_rows` for several tables, in the order given (the ones referred to first): in
    one statement when every table has fewer than COPY_FROM rows, else a statement each."""
    tables = [(table, rows) for table, rows in tables if rows]
    if not tables:
        return
    if session.bind.dialect.name != "postgresql":
        for table, rows in tables:
            await _executemany(session, table, rows)
        return
    layouts = [await _layout(session, table, tuple(rows[0])) for table, rows in tables]
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    try:
        async with raw.cursor() as cursor:
            # msgspec's bytes as they come: the engine's serializer (db/engine.py) decodes them
            # to text for SQLAlchemy's own statements. 0.1 µs a value; json.dumps takes 1.7.
            set_json_dumps(msgspec.json.encode, cursor)
            if all(len(rows) < COPY_FROM for _, rows in tables):
                await _insert_arrays(cursor, layouts, [rows for _, rows in tables])
                return
            # A statement per table: on a connection that commits each statement on its own
            # (Database.autocommit), they must still all be written or none.
            async with raw.transaction() if raw.autocommit else nullcontext():
                for layout, (_, rows) in zip(layouts, tables, strict=True):
                    if len(rows) < COPY_FROM:
                        await _insert_arrays(cursor, [layout], [rows])
                    else:
                        await _copy(cursor, layout, rows)
    except psycopg.IntegrityError as exc:
        # As SQLAlchemy raises it for an INSERT: callers handle a row that came first one way.
        raise IntegrityError(str(exc), None, exc) from exc


async def _executemany(session: AsyncSession, table: Table, rows: Rows) -> None:
    """SQLite: one executemany on the driver's connection, in the session's transaction. Each
    value goes through its column type's own bind processor, a column at a time."""
    given = tuple(rows[0])
    dialect = session.bind.dialect
    statement = _statements.get((table, given))
    if statement is None:
        statement = _statements[(table, given)] = _Statement.of(table, given, dialect)
    raw = (await (await session.connection()).get_raw_connection()).driver_connection
    try:
        await raw.executemany(statement.insert, statement.parameters(rows))
    except sqlite3.Error as exc:  # as SQLAlchemy raises it: IntegrityError, OperationalError …
        raise DBAPIError.instance(statement.insert, None, exc, sqlite3.Error) from exc


@dataclass(frozen=True)
class _Statement:
    """An INSERT of the columns a row shape gives, and how its values are bound."""

    insert: str
    values: Callable[[dict[str, Any]], tuple[Any, ...]]
    processors: list[tuple[int, Callable[[Any], Any]]]  # by position, the columns that have one

    @classmethod
    def of(cls, table: Table, given: tuple[str, ...], dialect: Dialect) -> _Statement:
        defaulted, names = _written(table, given)
        processors = [
            (position, processor)
            for position, name in enumerate(names)
            if (processor := table.columns[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]
        quoted = ", ".join(f'"{name}"' for name in names)
        return cls(
            insert=f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})',
            values=_values(given, defaulted),
            processors=processors,
        )

    def parameters(self, rows: Rows) -> list[tuple[Any, ...]]:
        columns = list(zip(*map(self.values, rows), strict=True))
        for position, processor in self.processors:
            columns[position] = tuple(map(processor, columns[position]))
        return list(zip(*columns, strict=True))


_statements: dict[tuple[Table, tuple[str, ...]], _Statement] = {}


async def _copy(cursor: psycopg.AsyncCursor[Any], layout: _Layout, rows: Rows) -> None:
    async with cursor.copy(layout.copy) as copy:
        copy.set_types(layout.oids)
        for row in rows:
            await copy.write_row(layout.values(row))


async def _insert_arrays(
    cursor: psycopg.AsyncCursor[Any], layouts: list[_Layout], tables: list[Rows]
) -> None:
    *first, last = [layout.insert for layout in layouts]
    chained = ", ".join(f"w{n} AS ({insert})" for n, insert in enumerate(first))
    statement = f"WITH {chained} {last}" if chained else last
    arguments = [
        column for layout, rows in zip(layouts, tables, strict=True) for column in layout.columns(rows)
    ]
    await cursor.execute(statement, arguments)


@dataclass(frozen=True)
class _Layout:
    copy: str  # COPY .. FROM STDIN in binary
    oids: list[int]  # PostgreSQL type oids, in the statement's column order
    insert: str  # INSERT .. SELECT FROM unnest(one array parameter per column)
    json: dict[int, Callable[[Any], object]]  # the json and jsonb columns by position: their wrapper
    values: Callable[[dict[str, Any]], tuple[Any, ...]]

    def columns(self, rows: Rows) -> list[list[Any]]:
        """The rows as one list per column; JSON values wrapped, or psycopg takes a list value
        for an array and a dict for nothing it knows."""
        columns = [list(column) for column in zip(*map(self.values, rows), strict=True)]
        for position, wrap in self.json.items():
            columns[position] = [None if value is None else wrap(value) for value in columns[position]]
        return columns


#: json keeps the text as written (key order, duplicates); jsonb stores it parsed.
_JSON: dict[str, Callable[[Any], object]] = {"json": Json, "jsonb": Jsonb}


@dataclass(frozen=True)
class _Type:
    oid: int
    name: str  # as a cast spells it: "character varying(64)", "timestamp with time zone"


# Keyed by (database URL, table): one process may write to several databases (the tests do).
_layouts: dict[tuple[str, str, tuple[str, ...]], _Layout] = {}
_column_types: dict[tuple[str, str], dict[str, _Type]] = {}


async def _layout(session: AsyncSession, table: Table, given: tuple[str, ...]) -> _Layout:
    """How rows giving the columns `given` are written to `table`; made once per such shape."""
    where = (str(session.bind.url), table.name)
    layout = _layouts.get((*where, given))
    if layout is None:
        defaulted, names = _written(table, given)
        types = _column_types.get(where, {})
        if not types.keys() >= set(names):  # not read yet, or a migration has added columns since
            types = await _read_column_types(session, where)
        quoted = ", ".join(f'"{name}"' for name in names)
        arrays = ", ".join(f"%s::{types[name].name}[]" for name in names)
        layout = _Layout(
            copy=f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)',
            oids=[types[name].oid for name in names],
            insert=f'INSERT INTO "{table.name}" ({quoted}) SELECT * FROM unnest({arrays})',
            json={n: _JSON[types[name].name] for n, name in enumerate(names) if types[name].name in _JSON},
            values=_values(given, defaulted),
        )
        _layouts[(*where, given)] = layout
    return layout


async def _read_column_types(session: AsyncSession, where: tuple[str, str]) -> dict[str, _Type]:
    table = where[1]
    rows = await session.execute(
        text(
            "SELECT attname, atttypid::int, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped"
        ),
        {"table": f'"{table}"'},
    )
    _column_types[where] = {name: _Type(oid, type_name) for name, oid, type_name in rows}
    return _column_types[where]


def _written(table: Table, given: tuple[str, ...]) -> tuple[list[Column[Any]], list[str]]:
    """The columns a row leaves out that have a Python-side default, and the names of all the
    columns written: the given ones, then those."""
    defaulted = [c for c in table.columns if c.name not in given and c.default is not None]
    return defaulted, [*given, *(column.name for column in defaulted)]


def _values(
    given: tuple[str, ...], defaulted: Sequence[Column[Any]]
) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """A row's values of the columns `given`, then the defaults of the columns `defaulted`."""
    get = itemgetter(*given) if len(given) > 1 else lambda row: (row[given[0]],)
    if not defaulted:
        return get  # type: ignore[return-value]
    if all(column.default.is_scalar for column in defaulted):  # a delivery's try count: 0
        fixed = tuple(column.default.arg for column in defaulted)
        return lambda row: get(row) + fixed
    defaults = [_default(column) for column in defaulted]
    return lambda row: (*get(row), *(default() for default in defaults))


def _default(column: Any) -> Callable[[], Any]:
    # SQLAlchemy wraps a default callable to take an execution context; ours ignore it.
    if column.default.is_scalar:
        return lambda: column.default.arg
    return lambda: column.default.arg(None)
