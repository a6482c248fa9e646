"""The jobs Clarion schedules, and how the API hands its `send_at` notifications over.

A notification with a future `send_at` is stored with its deliveries `queued` until then and
leased until `send_at + queue_lease`, but not enqueued. At `send_at` the leader runs
`release_notifications`, which enqueues them. Should that job be lost (its scheduling failed,
or the leader died while running it), the lease lapses and the sweeper sends them, late.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update

from ..config.schema import Channel, Priority
from ..db.models import Delivery, DeliveryStatus
from ..db.types import utcnow
from ..db.unindexed import unindexed
from ..pipeline.store import Dispatch, Stored
from .context import JobContext, job_context
from .scheduler import Scheduler

log = logging.getLogger(__name__)

RELEASE_NOTIFICATIONS = "appliance.scheduling.jobs:release_notifications"
CHUNK = 500  # notifications per transaction when a whole batch comes due at once


def release_job_id(first_notification_id: uuid.UUID | str) -> str:
    """A release job is named after the first notification it releases."""
    return f"release:{first_notification_id}"


async def release_later(scheduler: Scheduler, stored: Iterable[Stored]) -> None:
    """Schedule the release of each stored notification that has a `send_at`, at that time.

    One job per distinct `send_at`: a batch for 9:00 is one job row, not a thousand. The
    notifications are committed already: when scheduling fails, their lease still brings them
    out (a `queue_lease` late), so the failure is logged rather than failing the request.
    """
    due: dict[datetime, list[str]] = {}
    for item in stored:
        if item.send_at is not None:
            due.setdefault(item.send_at, []).append(str(item.notification_id))
    for send_at, ids in due.items():
        try:
            await scheduler.schedule_once(
                release_job_id(ids[0]), send_at, RELEASE_NOTIFICATIONS, notification_ids=ids
            )
        except Exception:
            log.exception(
                "could not schedule %d notification(s) for %s (first: %s); they go out once leases lapse",
                len(ids),
                send_at.isoformat(),
                ids[0],
            )


async def release_notifications(notification_ids: list[str]) -> None:
    """The job run at `send_at`: enqueue the deliveries of these notifications still `queued`."""
    context = job_context()
    for start in range(0, len(notification_ids), CHUNK):
        chunk = [uuid.UUID(value) for value in notification_ids[start : start + CHUNK]]
        released = await _release(context, chunk)
        log.info("scheduler: released %d deliveries of %s", released, _which(notification_ids, start))


async def _release(context: JobContext, notification_ids: list[uuid.UUID]) -> int:
    now = utcnow()
    async with context.database.transaction() as session:
        rows = (
            await session.execute(
                select(Delivery.id, Delivery.channel, Delivery.priority, Delivery.not_before)
                .where(
                    Delivery.notification_id.in_(notification_ids),
                    unindexed(Delivery.status) == DeliveryStatus.QUEUED,
                )
                .with_for_update(skip_locked=True)  # one a sweep or a worker holds right now is theirs
            )
        ).all()
        if not rows:
            return 0
        # Leased from now like any enqueued delivery; quiet hours may hold one past send_at.
        lease = context.catalog.config.delivery.queue_lease
        for not_before in {row.not_before for row in rows}:
            await session.execute(
                update(Delivery)
                .where(Delivery.id.in_([row.id for row in rows if row.not_before == not_before]))
                .values(lease_expires_at=max(now, not_before or now) + lease, updated_at=now)
            )
    refused = context.dispatcher.dispatch(
        Dispatch(row.id, Channel(row.channel), Priority(row.priority), row.not_before) for row in rows
    )
    if refused:
        await _lapse(context, refused)
    return len(rows) - len(refused)


async def _lapse(context: JobContext, refused: list[Dispatch]) -> None:
    """What the broker refused, the sweeper takes on its next round rather than a lease later."""
    async with context.database.transaction() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([item.delivery_id for item in refused]))
            .values(lease_expires_at=utcnow())
        )


def _which(notification_ids: list[str], start: int) -> str:
    if len(notification_ids) == 1:
        return f"notification {notification_ids[0]}"
    end = min(start + CHUNK, len(notification_ids))
    return f"notifications {start + 1}-{end} of {len(notification_ids)} (first: {notification_ids[0]})"
