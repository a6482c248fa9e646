"""The sweeper: re-enqueue deliveries whose lease ran out, so nothing accepted is ever lost.

A lease runs out when a worker died mid-send, when the broker lost (or never got) the
message, or when a backlog kept it waiting longer than `queue_lease`; the sweeper tells the
last case from the others by the depth of the delivery's queue. It is the only way back for
such a delivery: a claim takes only `queued` ones. Several sweepers may run at once (one per
worker process): rows are locked and skipped, so each lapse is handled by exactly one of them.

When the holder died mid-send, the provider may already have the message. The sweeper
records an `abandoned` attempt, so a resulting duplicate is visible in the delivery's history.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel, Priority
from ..db.engine import Database
from ..db.models import Attempt, Delivery, DeliveryStatus
from ..db.types import utcnow
from .dispatch import Dispatcher
from .store import Dispatch

log = logging.getLogger(__name__)

BATCH = 500
ABANDONED = (
    "the worker holding this delivery stopped (killed or lost) before recording an outcome; "
    "the provider may have received it, so a resend may be a duplicate"
)


async def sweep_once(
    database: Database,
    dispatcher: Dispatcher,
    channels: frozenset[str],
    *,
    now: datetime,
    queue_lease: timedelta,
) -> int:
    """Re-enqueue up to BATCH lapsed deliveries; returns how many were handled."""
    async with database.transaction() as session:
        lapsed = (
            await session.execute(
                select(Delivery.id, Delivery.status, Delivery.channel, Delivery.priority)
                .where(
                    Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)),
                    Delivery.lease_expires_at < now,
                )
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
        ).all()
        orphans = [row.id for row in lapsed if row.channel not in channels]
        due = [row for row in lapsed if row.channel in channels]
        resend = await _lost(due, dispatcher)
        await _requeue(session, [row.id for row in due], now=now, queue_lease=queue_lease)
        await _fail_orphans(session, orphans, now=now)
        session.add_all(
            Attempt(
                delivery_id=row.id,
                provider="unknown",
                outcome="abandoned",
                started_at=now,
                latency_ms=0.0,
                error=ABANDONED,
            )
            for row in due
            if row.status == DeliveryStatus.SENDING
        )
    if resend:
        log.warning("sweeper: re-enqueuing %d deliveries whose lease lapsed", len(resend))
        dispatcher.dispatch(Dispatch(row.id, Channel(row.channel), Priority(row.priority)) for row in resend)
    return len(lapsed)


async def _lost(lapsed: list[Any], dispatcher: Dispatcher) -> list[Any]:
    """Which lapsed deliveries the broker no longer has.

    A dead worker's (`sending`) always. A `queued` one only when its queue is empty: while
    messages still wait there, it is most likely among them behind a backlog, and enqueuing
    it again would only pile duplicates onto that backlog; its lease is extended instead.
    """
    depths: dict[tuple[str, str], int] = {}
    lost = []
    for row in lapsed:
        queue = (row.channel, row.priority)
        if row.status == DeliveryStatus.QUEUED and queue not in depths:
            depths[queue] = await asyncio.to_thread(
                dispatcher.waiting, Channel(row.channel), Priority(row.priority)
            )
        if row.status == DeliveryStatus.SENDING or depths[queue] == 0:
            lost.append(row)
    return lost


async def _requeue(session: AsyncSession, ids: list, *, now: datetime, queue_lease: timedelta) -> None:
    if ids:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.QUEUED, lease_expires_at=now + queue_lease, updated_at=now)
        )


async def _fail_orphans(session: AsyncSession, ids: list, *, now: datetime) -> None:
    """Deliveries for a channel the config no longer declares can never be sent: say so."""
    if ids:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status=DeliveryStatus.FAILED,
                lease_expires_at=None,
                updated_at=now,
                last_error="its channel is no longer configured",
            )
        )


async def run_sweeper(
    database: Database,
    dispatcher: Dispatcher,
    channels: frozenset[str],
    *,
    interval: timedelta,
    queue_lease: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Sweep forever; a failed sweep (database restarting) is logged and tried again next round."""
    while True:
        try:
            while (
                await sweep_once(database, dispatcher, channels, now=clock(), queue_lease=queue_lease)
                == BATCH
            ):
                pass
        except Exception:
            log.exception("sweeper: sweep failed; will try again in %s", interval)
        await asyncio.sleep(interval.total_seconds())


async def release_all(database: Database, *, now: datetime) -> None:
    """Embedded mode, at start: the in-memory broker is empty, so every unsettled delivery
    belongs to the previous run of this process. Lapse them all for the first sweep."""
    async with database.transaction() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.SENDING)))
            .values(lease_expires_at=now)
        )
