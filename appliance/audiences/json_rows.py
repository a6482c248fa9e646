"""Many rows as one JSON parameter, unpacked into a table by the database itself.

A batch of a thousand recipients then costs one short statement and one string to bind, instead
of thousands of bound values that the driver and SQLAlchemy handle one by one, in a statement too
long for their caches (measured: most of an import's time). The unpacked table also keeps
PostgreSQL's planner honest: it expects a small input and joins by index, even when the
statistics of a table that just grew are stale.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import Text, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeEngine


def json_rows(dialect: str, rows: list[dict[str, Any]], columns: dict[str, TypeEngine[Any]]) -> FromClause:
    """A table `r` with `columns`, one row per dict of `rows`. Give uuids as `.hex`: both databases read
    that form, and it is how SQLite stores them."""
    document = bindparam(None, msgspec.json.encode(rows).decode(), type_=Text, unique=True)
    if dialect == "postgresql":
        typed = [column(name, type_) for name, type_ in columns.items()]
        return (
            func.jsonb_to_recordset(cast(document, JSONB))
            .table_valued(*typed)
            .render_derived(name="r", with_types=True)
        )
    if dialect == "sqlite":
        entries = func.json_each(document).table_valued("value")
        fields = [func.json_extract(entries.c.value, f"$.{name}").label(name) for name in columns]
        return select(*fields).select_from(entries).subquery("r")
    raise NotImplementedError(f"json_rows for {dialect}")


def json_values(dialect: str, values: list[str], name: str, type_: TypeEngine[Any]) -> FromClause:
    """A one-column table of plain values, e.g. external ids."""
    return json_rows(dialect, [{name: value} for value in values], {name: type_})
