"""Topics: named lists of recipients, changed in bulk with one statement per call, never one per id.

Adding a subscriber creates the topic when it does not exist yet (named after its key), so a
first import or a first `add` needs no separate step; removing from an unknown topic is an error.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, Uuid, bindparam, delete, func, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.json_rows import json_rows, json_values
from ..db.models import Recipient, Topic, TopicSubscription
from ..db.types import UTCDateTime, utcnow
from ..errors import NotFound

TOPIC_KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
TOPIC_KEY_HINT = "is 1-64 lowercase letters, digits, _ . or -, starting with a letter or digit"

_TOPIC_KEY = re.compile(TOPIC_KEY_PATTERN)


def is_topic_key(key: str) -> bool:
    return _TOPIC_KEY.fullmatch(key) is not None  # `$` alone would let a trailing line break through


#: How many ids one call may add and remove together; larger lists go in several calls.
MAX_IDS_PER_CALL = 10_000
#: How many unknown ids an answer lists (all of them are counted).
MAX_UNKNOWN_LISTED = 100


@dataclass(frozen=True)
class TopicSummary:
    key: str
    name: str
    subscribers: int
    created_at: datetime


@dataclass(frozen=True)
class SubscriberChange:
    added: int
    removed: int
    unknown: int
    unknown_ids: list[str]  # the first MAX_UNKNOWN_LISTED, in the order given


def dialect_insert(session: AsyncSession) -> Any:
    """`insert` of the session's dialect: both have ON CONFLICT, the generic one has not."""
    return (postgresql if session.bind.dialect.name == "postgresql" else sqlite).insert


async def put_topic(session: AsyncSession, key: str, name: str) -> bool:
    """Create the topic or rename it; True when it was created."""
    topic = await session.get(Topic, key)
    if topic is None:
        session.add(Topic(key=key, name=name))
        return True
    topic.name = name
    return False


async def delete_topic(session: AsyncSession, key: str) -> None:
    """The topic and its subscriptions (the recipients stay)."""
    await session.delete(await require_topic(session, key))


async def ensure_topics(session: AsyncSession, keys: Iterable[str], *, now: datetime) -> None:
    rows = [{"key": key, "name": key, "created_at": now} for key in sorted(set(keys))]
    if rows:
        await session.execute(dialect_insert(session)(Topic).on_conflict_do_nothing(), rows)


async def topic_summaries(
    session: AsyncSession, *, limit: int, after: str | None = None, key: str | None = None
) -> list[TopicSummary]:
    """Topics by key with their subscriber counts: a page of them, or the one `key`."""
    query = (
        select(Topic.key, Topic.name, Topic.created_at, func.count(TopicSubscription.recipient_id))
        .outerjoin(TopicSubscription, TopicSubscription.topic_key == Topic.key)
        .group_by(Topic.key, Topic.name, Topic.created_at)
        .order_by(Topic.key)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Topic.key > after)
    if key is not None:
        query = query.where(Topic.key == key)
    rows = await session.execute(query)
    return [TopicSummary(key, name, count, created_at) for key, name, created_at, count in rows]


async def subscriber_ids(session: AsyncSession, key: str, *, limit: int, after: str | None) -> list[str]:
    """A page of the topic's subscribers' own ids, in id order (keyset: pass the last one as `after`)."""
    await require_topic(session, key)
    query = (
        select(Recipient.external_id)
        .join(TopicSubscription, TopicSubscription.recipient_id == Recipient.id)
        .where(TopicSubscription.topic_key == key)
        .order_by(Recipient.external_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Recipient.external_id > after)
    return list(await session.scalars(query))


async def require_topic(session: AsyncSession, key: str) -> Topic:
    topic = await session.get(Topic, key)
    if topic is None:
        raise NotFound("topic", key)
    return topic


async def change_subscribers(
    session: AsyncSession, key: str, *, add: list[str], remove: list[str]
) -> SubscriberChange:
    """Subscribe `add` and unsubscribe `remove` (recipients' own ids); ids of no recipient are counted."""
    now = utcnow()
    if add:
        await ensure_topics(session, [key], now=now)
    else:
        await require_topic(session, key)
    wanted = list(dict.fromkeys([*add, *remove]))
    known = set(await session.scalars(_recipients(session, wanted, Recipient.external_id)))
    unknown = [external_id for external_id in wanted if external_id not in known]
    return SubscriberChange(
        added=await _add(session, key, add, now) if add else 0,
        removed=await _remove(session, key, remove) if remove else 0,
        unknown=len(unknown),
        unknown_ids=unknown[:MAX_UNKNOWN_LISTED],
    )


def _recipients(session: AsyncSession, external_ids: list[str], *columns: Any) -> Select[Any]:
    """`columns` of the recipients with these external ids (a join, not a long IN list: see json_rows)."""
    given = json_values(session.bind.dialect.name, external_ids, "external_id", String(255))
    return select(*columns).join(given, given.c.external_id == Recipient.external_id)


async def _add(session: AsyncSession, key: str, external_ids: list[str], now: datetime) -> int:
    chosen = _recipients(session, external_ids, literal(key), Recipient.id, _moment(now)).where(true())
    statement = (
        dialect_insert(session)(TopicSubscription)
        .from_select(["topic_key", "recipient_id", "created_at"], chosen)
        .on_conflict_do_nothing()
        .returning(TopicSubscription.recipient_id)  # counted from the rows: psycopg's rowcount is -1 here
    )
    return len((await session.execute(statement)).all())


async def _remove(session: AsyncSession, key: str, external_ids: list[str]) -> int:
    chosen = _recipients(session, external_ids, Recipient.id)
    statement = delete(TopicSubscription).where(
        TopicSubscription.topic_key == key, TopicSubscription.recipient_id.in_(chosen)
    )
    return int((await session.execute(statement)).rowcount)  # type: ignore[attr-defined]


async def subscribe(session: AsyncSession, pairs: list[tuple[str, uuid.UUID]], *, now: datetime) -> None:
    """(topic key, recipient id) pairs; topics are created when missing, known pairs are kept."""
    if not pairs:
        return
    await ensure_topics(session, {key for key, _ in pairs}, now=now)
    rows = [{"topic_key": key, "recipient_id": rid.hex} for key, rid in pairs]
    given = json_rows(session.bind.dialect.name, rows, {"topic_key": String(64), "recipient_id": Uuid()})
    chosen = select(given.c.topic_key, given.c.recipient_id, _moment(now)).where(true())
    await session.execute(
        dialect_insert(session)(TopicSubscription)
        .from_select(["topic_key", "recipient_id", "created_at"], chosen)
        .on_conflict_do_nothing()
    )


def _moment(now: datetime) -> Any:
    return bindparam("now", now, type_=UTCDateTime())
