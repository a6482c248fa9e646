"""What the recipient pages read: a search over profiles, and everything known about one recipient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from ...db.engine import Database
from ...db.models import ConsentEvent, Notification, Recipient, Suppression, Topic, TopicSubscription
from ...pipeline import suppression
from ...preferences.choices import Choices
from ...preferences.ledger import choices_for, consent_log
from .queries import Cursor, MessageFilters, recent_notifications

CONSENT_SHOWN = 50
HISTORY_SHOWN = 20


@dataclass(frozen=True)
class RecipientFacts:
    recipient: Recipient
    choices: Choices
    topics: list[tuple[Topic, datetime]]  # each topic with when they subscribed
    suppressions: list[Suppression]
    consent: list[ConsentEvent]  # newest first, at most CONSENT_SHOWN
    history: list[Notification]  # newest first, at most HISTORY_SHOWN + 1 (one more says there are more)


def _prefix(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def search_recipients(
    database: Database, text: str, *, before: Cursor | None, limit: int
) -> list[Recipient]:
    """Newest first; with `text`, those whose id, email or phone starts with it (any case)."""
    query = select(Recipient).order_by(Recipient.created_at.desc(), Recipient.id.desc()).limit(limit)
    if text:
        starts = _prefix(text)
        query = query.where(
            or_(
                *(
                    func.lower(column).like(starts, escape="\\")
                    for column in (Recipient.external_id, Recipient.email, Recipient.phone)
                )
            )
        )
    if before is not None:
        query = query.where(before.older(Recipient.created_at, Recipient.id))
    async with database.sessions() as session:
        return list(await session.scalars(query))


async def recipient_facts(database: Database, external_id: str) -> RecipientFacts | None:
    async with database.sessions() as session:
        recipient = await session.scalar(select(Recipient).where(Recipient.external_id == external_id))
        if recipient is None:
            return None
        choices = (await choices_for(session, [recipient]))[recipient.id]
        topics = await _topics(session, recipient)
        suppressed = await _suppressions(session, recipient)
        consent = await consent_log(session, recipient.id, before=None, limit=CONSENT_SHOWN)
    history = await recent_notifications(
        database, MessageFilters(recipient=external_id), before=None, limit=HISTORY_SHOWN + 1
    )
    return RecipientFacts(recipient, choices, topics, suppressed, consent, history)


async def _topics(session: AsyncSession, recipient: Recipient) -> list[tuple[Topic, datetime]]:
    rows = await session.execute(
        select(Topic, TopicSubscription.created_at)
        .join(TopicSubscription, TopicSubscription.topic_key == Topic.key)
        .where(TopicSubscription.recipient_id == recipient.id)
        .order_by(Topic.key)
    )
    return [(topic, since) for topic, since in rows]


async def _suppressions(session: AsyncSession, recipient: Recipient) -> list[Suppression]:
    """Suppressions of the recipient's own addresses (they are kept by address, not by recipient)."""
    own = suppression.addresses(recipient.email, recipient.phone)
    keys = [(channel, suppression.normalize(channel, address)) for channel, address in own.items()]
    if not keys:
        return []
    query = select(Suppression).where(tuple_(Suppression.channel, Suppression.address).in_(keys))
    return list(await session.scalars(query.order_by(Suppression.channel)))
