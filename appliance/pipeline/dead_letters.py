"""Dead letters: deliveries that used every try. Listed for operators, and sent again on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..config.schema import Channel, Priority
from ..db.engine import Database
from ..db.models import Delivery, DeliveryStatus, Notification, Recipient
from ..errors import NotFound, RequestRejected
from .dispatch import Dispatcher
from .store import Dispatch


@dataclass(frozen=True)
class DeadLetter:
    delivery_id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    recipient: str
    category: str
    template: str
    tries: int
    error: str | None
    dead_since: datetime


async def list_dead_letters(
    database: Database, *, limit: int, before: datetime | None = None
) -> list[DeadLetter]:
    """Newest first; `before` pages on the time they died."""
    query = (
        select(Delivery, Notification.category, Notification.template, Recipient.external_id)
        .join(Notification, Delivery.notification_id == Notification.id)
        .join(Recipient, Notification.recipient_id == Recipient.id)
        .where(Delivery.status == DeliveryStatus.DEAD)
        .order_by(Delivery.updated_at.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(Delivery.updated_at < before)
    async with database.sessions() as session:
        rows = (await session.execute(query)).all()
    return [
        DeadLetter(
            d.id,
            d.notification_id,
            d.channel,
            recipient,
            category,
            template,
            d.attempt_count,
            d.last_error,
            d.updated_at,
        )
        for d, category, template, recipient in rows
    ]


async def retry_dead_letter(
    database: Database,
    dispatcher: Dispatcher,
    delivery_id: uuid.UUID,
    *,
    now: datetime,
    queue_lease: timedelta,
) -> None:
    """Give a dead delivery a fresh set of tries and enqueue it."""
    async with database.transaction() as session:
        revived = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.DEAD)
            .values(
                status=DeliveryStatus.QUEUED,
                attempt_count=0,
                last_error=None,
                lease_expires_at=now + queue_lease,
                updated_at=now,
            )
            .returning(Delivery.channel, Delivery.priority)
        )
        row = revived.one_or_none()
        if row is None:
            status = await session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))
            if status is None:
                raise NotFound("delivery", str(delivery_id))
            raise RequestRejected("delivery_id", f"only dead deliveries can be retried; this one is {status}")
    dispatcher.dispatch([Dispatch(delivery_id, Channel(row.channel), Priority(row.priority))])
