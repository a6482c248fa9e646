"""`attributes` merged key by key inside an upsert, in the SQL of each database.

The same rule as `apply_profile`: every key given replaces that key (a null too), other keys
stay. Done in SQL rather than read-modify-write, so two imports touching the same recipient at
once cannot lose each other's keys.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, cast, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement

from ..db.models import Recipient

# SQLite's json_patch would merge nested objects and drop null keys, so the keys are rebuilt:
# the stored ones not given, then the given ones. A value passed through the subquery loses its
# JSON type (objects and arrays would come out as strings, true as 1), hence the CASE.
_SQLITE_MERGE = """(
  SELECT json_group_object(key, CASE type
      WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
      WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
  FROM (
    SELECT key, value, type FROM json_each(recipients.attributes)
    WHERE key NOT IN (SELECT key FROM json_each(excluded.attributes))
    UNION ALL
    SELECT key, value, type FROM json_each(excluded.attributes)
  )
)"""


def merged_attributes(dialect: str, excluded: Any) -> ColumnElement[Any]:
    """The upsert's new `recipients.attributes`: the stored ones with `excluded.attributes` over them."""
    if dialect == "postgresql":
        stored = Recipient.__table__.c.attributes
        return cast(cast(stored, JSONB).op("||")(cast(excluded.attributes, JSONB)), JSON)
    if dialect == "sqlite":
        return text(_SQLITE_MERGE)  # type: ignore[return-value]
    raise NotImplementedError(f"attribute merge for {dialect}")
