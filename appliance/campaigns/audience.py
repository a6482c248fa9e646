"""Who a campaign reaches: everyone, a topic's subscribers or a segment, streamed in id order.

Keyset paging by recipient id (a stable order that both databases index) makes the fan-out
resumable: the campaign keeps the last id it reached, and the next batch starts after it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..audiences.segment_sql import matches
from ..audiences.segments import segment_rules
from ..config.schema import ClarionConfig
from ..db.models import Recipient, TopicSubscription


@dataclass(frozen=True)
class Member:
    """The columns planning reads of a recipient (a pipeline.store.Addressee), in one query."""

    id: uuid.UUID
    external_id: str
    timezone: str | None
    email: str | None
    phone: str | None
    unsubscribed_all: bool


def describe(audience: dict[str, Any]) -> str:
    if "topic" in audience:
        return f"topic {audience['topic']}"
    if "segment" in audience:
        return f"segment {audience['segment']}"
    return "everyone"


async def next_members(
    session: AsyncSession,
    config: ClarionConfig,
    audience: dict[str, Any],
    after: uuid.UUID | None,
    limit: int,
    *,
    start: uuid.UUID | None = None,
    end: uuid.UUID | None = None,
) -> list[Member]:
    """The next `limit` members after `after` (else from `start`), below `end`, in id order."""
    query = await _members(session, config, audience)
    if after is not None:
        query = query.where(Recipient.id > after)
    elif start is not None:
        query = query.where(Recipient.id >= start)
    if end is not None:
        query = query.where(Recipient.id < end)
    rows = await session.execute(query.order_by(Recipient.id).limit(limit))
    return [Member(*row) for row in rows]


async def _members(session: AsyncSession, config: ClarionConfig, audience: dict[str, Any]) -> Select[Any]:
    query = select(
        Recipient.id,
        Recipient.external_id,
        Recipient.timezone,
        Recipient.email,
        Recipient.phone,
        Recipient.unsubscribed_all,
    )
    if "segment" in audience:
        # Read at every batch: an edit to the segment applies to the recipients not reached yet.
        rules = await segment_rules(session, config, audience["segment"])
        return query.where(matches(rules) if rules is not None else false())
    if "topic" in audience:
        query = query.join(TopicSubscription, TopicSubscription.recipient_id == Recipient.id).where(
            TopicSubscription.topic_key == audience["topic"]
        )
    return query


async def audience_size(session: AsyncSession, config: ClarionConfig, audience: dict[str, Any]) -> int:
    """How many recipients the audience selects now (the campaign plans them as it reaches them)."""
    query = await _members(session, config, audience)
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0
