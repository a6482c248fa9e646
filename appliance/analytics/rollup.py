"""Keep `delivery_rollups` current: recount every hour in which a delivery or an event changed.

A delivery is counted in the hour it was created, under its *current* status, so an hour's
counts move as its deliveries are sent, delivered, bounced or opened. Each refresh finds the
hours touched since the watermark (deliveries by `updated_at`, events by `received_at`, both
indexed), deletes their rollup rows and counts them again from the tables: the rollup is a
cache that one refresh can always rebuild, never a second source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, union
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.bulk import insert_rows
from ..db.engine import Database
from ..db.models import Delivery, DeliveryEvent, DeliveryRollup, RollupWatermark
from .counting import ALL_DIMENSIONS, epoch_bucket, grouped, live
from .windows import HOUR

WATERMARK = "deliveries"
# Rows written by a transaction that began before a refresh but committed after it carry an
# earlier timestamp than the new watermark; looking back this far takes them in next time.
LOOK_BACK = timedelta(minutes=2)
_LOCK_KEY = 0x636C6172  # "clar": one refresher at a time on PostgreSQL (SQLite has one writer anyway)


async def refresh(database: Database, *, now: datetime) -> int:
    """Bring the rollup up to date; returns how many hours were recounted."""
    async with database.transaction() as session:
        if session.bind.dialect.name == "postgresql":
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        mark = await session.get(RollupWatermark, WATERMARK)
        hours = await changed_hours(session, None if mark is None else mark.refreshed_at)
        for start, end in runs(hours):
            await _recount(session, start, end)
        if mark is None:
            session.add(RollupWatermark(name=WATERMARK, refreshed_at=now - LOOK_BACK))
        else:
            mark.refreshed_at = now - LOOK_BACK
    return len(hours)


async def changed_hours(session: AsyncSession, since: datetime | None) -> list[datetime]:
    """Creation hours of deliveries changed, or given an event, since `since` (every hour if None)."""
    hour = epoch_bucket(Delivery.created_at, HOUR, session.bind.dialect.name)
    deliveries = select(hour.label("hour"))
    if since is not None:
        events = (
            select(hour.label("hour"))
            .join(DeliveryEvent, DeliveryEvent.delivery_id == Delivery.id)
            .where(DeliveryEvent.received_at >= since)
        )
        query = union(deliveries.where(Delivery.updated_at >= since), events)
    else:
        query = deliveries.distinct()
    epochs = (await session.scalars(select(func.distinct(query.subquery().c.hour)))).all()
    return sorted(datetime.fromtimestamp(int(epoch), UTC) for epoch in epochs)


def runs(hours: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Ascending hours as [start, end) spans of consecutive hours: one recount query per span."""
    spans: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if spans and spans[-1][1] == hour:
            spans[-1] = (spans[-1][0], hour + HOUR)
        else:
            spans.append((hour, hour + HOUR))
    return spans


async def _recount(session: AsyncSession, start: datetime, end: datetime) -> None:
    stale = delete(DeliveryRollup).where(DeliveryRollup.hour >= start, DeliveryRollup.hour < end)
    await session.execute(stale)
    counts = await grouped(session, live(start, end), ALL_DIMENSIONS, HOUR)
    rows = [
        {"hour": c.bucket, "category": c.category, "channel": c.channel, "status": c.status}
        | {"deliveries": c.deliveries, "opened": c.opened, "clicked": c.clicked}
        for c in counts
    ]
    await insert_rows(session, DeliveryRollup.__table__, rows)  # type: ignore[arg-type]
