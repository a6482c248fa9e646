"""Save a batch of imported recipients with a few set-based statements, whatever its size.

One `INSERT .. ON CONFLICT (external_id) DO UPDATE .. RETURNING` writes them all, and one INSERT
subscribes them to their topics. The rules are those of `POST /v1/recipients`: a field left out
keeps its value, attributes merge key by key (in SQL: see attribute_merge). Nothing is looked up
by external id beforehand: right after a large import PostgreSQL's statistics still describe the
empty table, and a lookup planned on them scans the whole table once per batch.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Uuid, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import TypeEngine

from ..db.among import among
from ..db.json_rows import json_rows
from ..db.models import Recipient
from ..db.types import UTCDateTime, utcnow
from . import topics
from .attribute_merge import merged_attributes
from .import_rows import ImportRow

_SCALARS = ("email", "phone", "locale", "timezone")


@dataclass(frozen=True)
class BatchOutcome:
    created: int  # recipients that did not exist
    updated: int  # the other rows, a repeated id included


@dataclass
class Profile:
    """One recipient of a batch: its rows folded in file order, as if each were upserted in turn."""

    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    topics: set[str] = field(default_factory=set)


def fold(rows: Iterable[ImportRow]) -> dict[str, Profile]:
    """External id -> its profile; for an id given twice the later value of a field wins."""
    profiles: dict[str, Profile] = {}
    for row in rows:
        recipient = row.recipient
        profile = profiles.setdefault(recipient.id, Profile())
        given = {name: getattr(recipient, name) for name in _SCALARS}
        profile.fields.update({name: value for name, value in given.items() if value is not None})
        profile.attributes.update(recipient.attributes or {})
        profile.topics.update(recipient.topics or ())
    return profiles


async def save_batch(session: AsyncSession, rows: list[ImportRow]) -> BatchOutcome:
    profiles = fold(rows)
    now = utcnow()
    if session.bind.dialect.name == "postgresql":
        # The existing rows locked in id order first, as a parcel's frequency slots lock theirs
        # (preferences/slots.py): the upsert alone locks them in the file's order, and the two
        # could each hold a recipient the other waits for.
        await session.execute(
            select(Recipient.id)
            .where(among(session, Recipient.external_id, list(profiles)))
            .order_by(Recipient.id)
            .with_for_update(key_share=True)
        )
    saved = (await session.execute(_upsert(session, profiles, now))).all()
    ids = {external_id: recipient_id for recipient_id, external_id, _ in saved}
    members = [(key, ids[external_id]) for external_id, p in profiles.items() for key in p.topics]
    await topics.subscribe(session, members, now=now)
    created = sum(1 for *_, created_at in saved if created_at == now)  # a new row has this batch's time
    return BatchOutcome(created=created, updated=len(rows) - created)


def _upsert(session: AsyncSession, profiles: dict[str, Profile], now: datetime) -> Any:
    dialect = session.bind.dialect.name
    table = Recipient.__table__
    given = json_rows(dialect, [_row(key, profile) for key, profile in profiles.items()], _COLUMNS)
    moment = bindparam("now", now, type_=UTCDateTime())
    chosen = select(*[given.c[name] for name in _COLUMNS], moment, moment).where(
        true()
    )  # WHERE: SQLite's parser
    insert = topics.dialect_insert(session)(table).from_select(
        [*_COLUMNS, "created_at", "updated_at"], chosen
    )
    changes = {name: func.coalesce(insert.excluded[name], table.c[name]) for name in _SCALARS}
    changes["attributes"] = merged_attributes(dialect, insert.excluded)
    changes["updated_at"] = insert.excluded.updated_at
    return insert.on_conflict_do_update(index_elements=[table.c.external_id], set_=changes).returning(
        table.c.id, table.c.external_id, table.c.created_at
    )


# The columns an import writes, typed for the database to read them from JSON.
_COLUMNS: dict[str, TypeEngine[Any]] = {
    "id": Uuid(),
    "external_id": String(255),
    **{name: String(320) for name in _SCALARS},
    "attributes": JSON(),
}


def _row(external_id: str, profile: Profile) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex,  # kept only when the recipient is new
        "external_id": external_id,
        **{name: profile.fields.get(name) for name in _SCALARS},
        "attributes": profile.attributes,
    }
