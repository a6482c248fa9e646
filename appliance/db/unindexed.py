"""A column SQLite must not look rows up by, in a statement that names a better key.

SQLite plans without statistics (nothing runs ANALYZE on the embedded file, and statistics
taken while a table was small would mislead it later): it takes an equality on any indexed
column for about ten rows. So for `id IN (<a parcel's fifty ids>) AND status = 'queued'` it
chose the status index, and read every queued delivery to claim fifty. With a backlog that
grows during a flood, a claim took 12 ms at the start of G7's batch rounds and 56 ms a minute
later, holding the file's one write turn all the while, and ingest fell from 8,200 to 4,900
notifications/s (measured). A unary `+` on the column, SQLite's documented way to take a term
out of index selection, leaves the lookup to the statement's key. PostgreSQL keeps statistics
and plans these well: it gets the column as it is.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement


class unindexed(FunctionElement[Any]):
    """`column`, compared as itself, that SQLite will not choose an index for."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(unindexed)
def _as_is(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unary_plus(element: unindexed, compiler: SQLCompiler, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"
