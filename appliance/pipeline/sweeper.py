"""The sweeper: re-enqueue deliveries whose lease ran out, so nothing accepted is ever lost.

A lease runs out when a worker died mid-send, or when the broker lost (or never got) the
message. Several sweepers may run at once (one per worker process): the UPDATE takes each
row once, so every lapsed delivery is re-enqueued by exactly one of them per lapse.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update

from ..config.schema import Channel, Priority
from ..db.engine import Database
from ..db.models import Delivery, DeliveryStatus
from ..db.types import utcnow
from .dispatch import Dispatcher
from .store import Dispatch

log = logging.getLogger(__name__)

BATCH = 500


async def sweep_once(
    database: Database, dispatcher: Dispatcher, *, now: datetime, queue_lease: timedelta
) -> int:
    """Re-enqueue up to BATCH lapsed deliveries; returns how many."""
    async with database.transaction() as session:
        lapsed = (
            select(Delivery.id)
            .where(
                Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
                Delivery.lease_expires_at < now,
            )
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
        rows = await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(lapsed.scalar_subquery()), Delivery.lease_expires_at < now)
            .values(status=DeliveryStatus.QUEUED, lease_expires_at=now + queue_lease)
            .returning(Delivery.id, Delivery.channel, Delivery.priority)
            .execution_options(synchronize_session=False)
        )
        due = [Dispatch(uuid.UUID(str(i)), Channel(c), Priority(p)) for i, c, p in rows]
    if due:
        log.warning("sweeper: re-enqueuing %d deliveries whose lease lapsed", len(due))
        dispatcher.dispatch(due)
    return len(due)


async def run_sweeper(
    database: Database,
    dispatcher: Dispatcher,
    *,
    interval: timedelta,
    queue_lease: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Sweep forever; a failed sweep (database restarting) is logged and tried again next round."""
    while True:
        try:
            while await sweep_once(database, dispatcher, now=clock(), queue_lease=queue_lease) == BATCH:
                pass
        except Exception:
            log.exception("sweeper: sweep failed; will try again in %s", interval)
        await asyncio.sleep(interval.total_seconds())
