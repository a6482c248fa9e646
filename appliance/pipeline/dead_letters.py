"""Dead letters: deliveries that used every try. Listed for operators, and sent again on request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

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
    fresh = {
        "status": DeliveryStatus.QUEUED,
        "attempt_count": 0,
        "last_error": None,
        "lease_expires_at": now + queue_lease,
        "updated_at": now,
    }
    channel, priority = await _leave_dead(database, delivery_id, fresh, "retried")
    dispatcher.dispatch([Dispatch(delivery_id, Channel(channel), Priority(priority))])


async def discard_dead_letter(database: Database, delivery_id: uuid.UUID, *, by: str, now: datetime) -> None:
    """Give up on a dead delivery for good: it leaves the list as `failed`, saying who decided."""
    error = func.coalesce(Delivery.last_error, "")
    values = {
        "status": DeliveryStatus.FAILED,
        "last_error": f"discarded by {by}; " + error,
        "updated_at": now,
    }
    await _leave_dead(database, delivery_id, values, "discarded")


async def _leave_dead(
    database: Database, delivery_id: uuid.UUID, values: dict[str, Any], verb: str
) -> tuple[str, str]:
    """Move one dead delivery to `values`; its (channel, priority). Refuses any other status."""
    async with database.transaction() as session:
        moved = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.DEAD)
            .values(**values)
            .returning(Delivery.channel, Delivery.priority)
        )
        row = moved.one_or_none()
        if row is None:
            status = await session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))
            if status is None:
                raise NotFound("delivery", str(delivery_id))
            raise RequestRejected("delivery_id", f"only dead deliveries can be {verb}; this one is {status}")
    return row.channel, row.priority
