"""The inbox table: the one place inbox rows are written and read.

Every function takes the recipient's own id (the one the operator's app uses) and touches
only that recipient's rows, so an API handler cannot reach another inbox by a message id.
Expired messages stay in the table but are left out of every list and count.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import DeliveryEvent, InboxMessage, Recipient

#: How a read shows among a delivery's events: provider "in_app", kind "read".
READ_SOURCE, READ_KIND = "in_app", "read"


class Box(StrEnum):
    INBOX = "inbox"  # everything not archived
    UNREAD = "unread"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class Counts:
    unread: int
    unseen: int


@dataclass(frozen=True)
class Changes:
    """What to set on one message; None leaves it as it is. Reading a message also sees it."""

    read: bool | None = None
    seen: bool | None = None
    archived: bool | None = None


@dataclass(frozen=True)
class NewMessage:
    recipient_id: str
    delivery_id: uuid.UUID
    category: str
    title: str
    body: str
    action_url: str | None
    expires_at: datetime | None


async def add(session: AsyncSession, message: NewMessage, now: datetime) -> int:
    """The id of the message's row; a delivery sent again finds the row its first try wrote."""
    existing = await session.scalar(
        select(InboxMessage.id).where(InboxMessage.delivery_id == message.delivery_id)
    )
    if existing is not None:
        return existing
    owner = await session.scalar(select(Recipient.id).where(Recipient.external_id == message.recipient_id))
    row = InboxMessage(
        recipient_id=owner,
        delivery_id=message.delivery_id,
        category=message.category,
        title=message.title,
        body=message.body,
        action_url=message.action_url,
        created_at=now,
        expires_at=message.expires_at,
    )
    session.add(row)
    await session.flush()
    return row.id


async def page(
    session: AsyncSession, recipient_id: str, box: Box, *, before: int | None, limit: int, now: datetime
) -> list[InboxMessage]:
    """Newest first; `before` (an id) continues where the last page ended."""
    query = select(InboxMessage).where(_visible(recipient_id, now), *_in_box(box))
    if before is not None:
        query = query.where(InboxMessage.id < before)
    return list(await session.scalars(query.order_by(InboxMessage.id.desc()).limit(limit)))


async def since(
    session: AsyncSession, recipient_id: str, after: int, *, limit: int, now: datetime
) -> list[InboxMessage]:
    """Oldest first: what arrived after message `after`, for a stream to send in order."""
    query = select(InboxMessage).where(_visible(recipient_id, now), InboxMessage.id > after)
    return list(await session.scalars(query.order_by(InboxMessage.id).limit(limit)))


async def newest_id(session: AsyncSession, recipient_id: str) -> int:
    found = await session.scalar(select(func.max(InboxMessage.id)).where(_owned(recipient_id)))
    return found or 0


async def counts(session: AsyncSession, recipient_id: str, now: datetime) -> Counts:
    unread = func.count().filter(InboxMessage.read_at.is_(None))
    unseen = func.count().filter(InboxMessage.seen_at.is_(None))
    query = select(unread, unseen).where(_visible(recipient_id, now), *_in_box(Box.INBOX))
    row = (await session.execute(query)).one()
    return Counts(unread=row[0], unseen=row[1])


async def change(
    session: AsyncSession, recipient_id: str, message_id: int, changes: Changes, now: datetime
) -> InboxMessage | None:
    """The message as changed, or None when this recipient has no such message."""
    row = await session.scalar(
        select(InboxMessage)
        .where(InboxMessage.id == message_id, _visible(recipient_id, now))
        .with_for_update()
    )
    if row is None:
        return None
    if changes.read and row.read_at is None:
        _record_reads(session, [row.delivery_id], now)
        row.read_at = now
    elif changes.read is False:
        row.read_at = None
    if changes.read or changes.seen:
        row.seen_at = row.seen_at or now
    elif changes.seen is False:
        row.seen_at = None
    if changes.archived is not None:
        row.archived_at = (row.archived_at or now) if changes.archived else None
    await session.flush()
    return row


async def read_all(session: AsyncSession, recipient_id: str, now: datetime) -> int:
    """Mark every unread message read (and seen); how many there were."""
    query = select(InboxMessage.id, InboxMessage.delivery_id).where(
        _visible(recipient_id, now), *_in_box(Box.UNREAD)
    )
    unread = (await session.execute(query.with_for_update())).all()
    if unread:
        _record_reads(session, [row.delivery_id for row in unread], now)
        await session.execute(
            update(InboxMessage)
            .where(InboxMessage.id.in_([row.id for row in unread]))
            .values(read_at=now, seen_at=func.coalesce(InboxMessage.seen_at, now))
            .execution_options(synchronize_session=False)
        )
    return len(unread)


async def see_all(session: AsyncSession, recipient_id: str, now: datetime) -> None:
    """Mark every message seen: the recipient opened the list, so none is new any more."""
    await session.execute(
        update(InboxMessage)
        .where(_visible(recipient_id, now), InboxMessage.seen_at.is_(None))
        .values(seen_at=now)
        .execution_options(synchronize_session=False)
    )


def _record_reads(session: AsyncSession, deliveries: Sequence[uuid.UUID], now: datetime) -> None:
    session.add_all(
        DeliveryEvent(delivery_id=delivery, provider=READ_SOURCE, kind=READ_KIND, occurred_at=now)
        for delivery in deliveries
    )


def _owned(recipient_id: str) -> ColumnElement[bool]:
    owner = select(Recipient.id).where(Recipient.external_id == recipient_id).scalar_subquery()
    return InboxMessage.recipient_id == owner


def _visible(recipient_id: str, now: datetime) -> ColumnElement[bool]:
    return and_(_owned(recipient_id), or_(InboxMessage.expires_at.is_(None), InboxMessage.expires_at > now))


def _in_box(box: Box) -> list[ColumnElement[bool]]:
    match box:
        case Box.INBOX:
            return [InboxMessage.archived_at.is_(None)]
        case Box.UNREAD:
            return [InboxMessage.archived_at.is_(None), InboxMessage.read_at.is_(None)]
        case Box.ARCHIVED:
            return [InboxMessage.archived_at.is_not(None)]
