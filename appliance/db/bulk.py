"""Writing many rows at once: binary COPY or one INSERT of JSON documents on PostgreSQL, one
executemany on SQLite.

Measured here (fan-out of a campaign, 3 rows per recipient): executemany through the ORM ~300
recipients/s, Core executemany ~1,200/s, COPY several times that. design.md's figures agree:
PostgreSQL takes ~60k batched rows/s and ~105k by COPY. But a COPY costs two round trips, one
per table: a single notification (2 tables, a row each) goes faster as ONE statement, so COPY
starts at COPY_FROM rows. Below that, each table's rows go as one JSON document that
`json_to_recordset` unpacks into an `INSERT .. SELECT`, the tables chained as data-modifying
CTEs: one round trip for all, and the same text for any number of rows, so PostgreSQL and
psycopg prepare it once. (The foreign keys between them hold: PostgreSQL checks them at the end
of the whole statement.) msgspec writes a document in C where psycopg dumped an array parameter
per column item by item in Python: 8 notifications with their deliveries, 1.24 -> 0.41 ms of
client CPU; 31, 2.73 -> 0.48 ms (measured). `json_to_recordset`, not the jsonb one: a json
column's value keeps its text as written. Past COPY_FROM the documents still cost the client less
than COPY, but PostgreSQL more: G5's fan-out with documents only took 68 and 72 s against 67 and
68 with COPY (alternated).

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
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import msgspec
import psycopg
from psycopg.types.json import set_json_dumps
from sqlalchemy import Column, Dialect, Table, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .json_rows import json_document

#: Fewer rows than this in every table go by one INSERT of JSON documents, not COPY.
COPY_FROM = 32

Rows = Sequence[dict[str, Any]]


async def insert_rows(session: AsyncSession, table: Table, rows: Rows) -> None:
    """Insert `rows`: dicts that all give the same columns. Columns they leave out take their
    Python-side default, or the database's. On PostgreSQL a few rows go as JSON: no bytes, and a
    float NaN or infinity would be written as NULL (none of the tables written so has such columns)."""
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
            if all(len(rows) < COPY_FROM for _, rows in tables):
                await _insert_documents(cursor, layouts, [rows for _, rows in tables])
                return
            # A statement per table: on a connection that commits each statement on its own
            # (Database.autocommit), they must still all be written or none.
            async with raw.transaction() if raw.autocommit else nullcontext():
                for layout, (_, rows) in zip(layouts, tables, strict=True):
                    if len(rows) < COPY_FROM:
                        await _insert_documents(cursor, [layout], [rows])
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
    shape: _Shape
    processors: list[tuple[int, Callable[[Any], Any]]]  # by position, the columns that have one

    @classmethod
    def of(cls, table: Table, given: tuple[str, ...], dialect: Dialect) -> _Statement:
        shape = _Shape.of(table, given)
        names = shape.names
        processors = [
            (position, processor)
            for position, name in enumerate(names)
            if (processor := table.columns[name].type.dialect_impl(dialect).bind_processor(dialect))
        ]
        quoted = ", ".join(f'"{name}"' for name in names)
        return cls(
            insert=f'INSERT INTO "{table.name}" ({quoted}) VALUES ({", ".join("?" * len(names))})',
            shape=shape,
            processors=processors,
        )

    def parameters(self, rows: Rows) -> list[tuple[Any, ...]]:
        columns = list(zip(*self.shape.tuples(rows), strict=True))
        for position, processor in self.processors:
            columns[position] = tuple(map(processor, columns[position]))
        return list(zip(*columns, strict=True))


_statements: dict[tuple[Table, tuple[str, ...]], _Statement] = {}


async def _copy(cursor: psycopg.AsyncCursor[Any], layout: _Layout, rows: Rows) -> None:
    # Only COPY has psycopg dump JSON values (18 µs a cursor to set, measured): msgspec's bytes as
    # they come; the engine's serializer (db/engine.py) decodes them to text for SQLAlchemy's
    # own statements. 0.1 µs a value; json.dumps takes 1.7.
    set_json_dumps(msgspec.json.encode, cursor)
    async with cursor.copy(layout.copy) as copy:
        copy.set_types(layout.oids)
        for row in layout.shape.tuples(rows):
            await copy.write_row(row)


async def _insert_documents(
    cursor: psycopg.AsyncCursor[Any], layouts: list[_Layout], tables: list[Rows]
) -> None:
    *first, last = [layout.insert for layout in layouts]
    chained = ", ".join(f"w{n} AS ({insert})" for n, insert in enumerate(first))
    statement = f"WITH {chained} {last}" if chained else last
    documents = [layout.document(rows) for layout, rows in zip(layouts, tables, strict=True)]
    await cursor.execute(statement, documents)


@dataclass(frozen=True)
class _Layout:
    copy: str  # COPY .. FROM STDIN in binary
    oids: list[int]  # PostgreSQL type oids, in the statement's column order
    insert: str  # INSERT .. SELECT FROM json_to_recordset(one JSON document of the rows)
    shape: _Shape

    def document(self, rows: Rows) -> str:
        return json_document(self.shape.complete(rows))


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
        shape = _Shape.of(table, given)
        names = shape.names
        types = _column_types.get(where, {})
        if not types.keys() >= set(names):  # not read yet, or a migration has added columns since
            types = await _read_column_types(session, where)
        quoted = ", ".join(f'"{name}"' for name in names)
        # Read as the columns' own types: a value too long for a varchar(n) fails, as in COPY.
        declared = ", ".join(f'"{name}" {types[name].name}' for name in names)
        unpacked = f"json_to_recordset(%s::json) AS r({declared})"
        layout = _Layout(
            copy=f'COPY "{table.name}" ({quoted}) FROM STDIN (FORMAT BINARY)',
            oids=[types[name].oid for name in names],
            insert=f'INSERT INTO "{table.name}" ({quoted}) SELECT * FROM {unpacked}',
            shape=shape,
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


@dataclass(frozen=True)
class _Shape:
    """The columns written for rows that give the same ones: those, then the ones they leave out
    that have a Python-side default."""

    names: list[str]
    complete: Callable[[Rows], Rows]  # the rows with the defaulted columns' values added
    values: Callable[[dict[str, Any]], tuple[Any, ...]]  # a complete row's, in the order of names

    @classmethod
    def of(cls, table: Table, given: tuple[str, ...]) -> _Shape:
        defaulted = [c for c in table.columns if c.name not in given and c.default is not None]
        names = [*given, *(column.name for column in defaulted)]
        values = itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
        return cls(names, _completion(defaulted), values)  # type: ignore[arg-type]

    def tuples(self, rows: Rows) -> Iterator[tuple[Any, ...]]:
        return map(self.values, self.complete(rows))


def _completion(defaulted: Sequence[Column[Any]]) -> Callable[[Rows], Rows]:
    if not defaulted:
        return lambda rows: rows
    if all(column.default.is_scalar for column in defaulted):  # a delivery's try count: 0
        fixed = {column.name: column.default.arg for column in defaulted}
        return lambda rows: [row | fixed for row in rows]
    defaults = {column.name: _default(column) for column in defaulted}
    return lambda rows: [row | {name: default() for name, default in defaults.items()} for row in rows]


def _default(column: Any) -> Callable[[], Any]:
    # SQLAlchemy wraps a default callable to take an execution context; ours ignore it.
    if column.default.is_scalar:
        return lambda: column.default.arg
    return lambda: column.default.arg(None)
