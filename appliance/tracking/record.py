"""Storing an open or a click as an event of its delivery, flagged when a machine made it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select

from ..db.engine import Database
from ..db.models import Delivery, DeliveryEvent
from .automation import automated

PROVIDER = "tracking"  # the `provider` of tracking events: Clarion saw them itself
OPENED, CLICKED = "opened", "clicked"


async def record(
    database: Database,
    delivery_id: uuid.UUID,
    kind: str,
    *,
    user_agent: str | None,
    method: str,
    now: datetime,
) -> bool:
    """Store the event; False when the delivery no longer exists (its data was deleted)."""
    async with database.transaction() as session:
        found = (await session.execute(select(Delivery.sent_at).where(Delivery.id == delivery_id))).first()
        if found is None:
            return False
        sent_at = found.sent_at
        session.add(
            DeliveryEvent(
                delivery_id=delivery_id,
                provider=PROVIDER,
                kind=kind,
                occurred_at=now,
                detail=(user_agent or "")[:500] or None,
                automated=automated(user_agent, method=method, since_sent=_since(kind, sent_at, now)),
            )
        )
    return True


def _since(kind: str, sent_at: datetime | None, now: datetime) -> timedelta | None:
    return now - sent_at if kind == CLICKED and sent_at is not None else None
