"""What the dashboard, the category pages and /v1/analytics read: counts over a time window.

Windows of whole hours read the rollup (refreshed first, so they are never stale); the last
hour, in 5-minute buckets, counts its deliveries directly, which an index on `created_at` keeps
to that hour's rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select

from ..db.engine import Database
from ..db.models import ConsentEvent
from .counting import Count, Dimension, grouped, live, rolled_up
from .rollup import refresh
from .windows import Window

# What a consent change is set to when someone stops receiving (preferences/ledger.py).
UNSUBSCRIBED = ("opted_out", "unsubscribed")
EVERYTHING = "all"  # the subject of "unsubscribe from everything"


async def counts(
    database: Database,
    window: Window,
    dimensions: Sequence[Dimension],
    *,
    now: datetime,
    category: str | None = None,
) -> list[Count]:
    if window.from_rollup:
        await refresh(database, now=now)
    source = rolled_up if window.from_rollup else live
    async with database.sessions() as session:
        return await grouped(session, source(window.start, window.end, category), dimensions, window.bucket)


async def unsubscribes(database: Database, window: Window) -> Counter[str]:
    """Unsubscribes in the window by category; "all" for unsubscribing from everything."""
    query = (
        select(ConsentEvent.subject, func.count())
        .where(ConsentEvent.created_at >= window.start, ConsentEvent.created_at < window.end)
        .where(ConsentEvent.new.in_(UNSUBSCRIBED))
        .group_by(ConsentEvent.subject)
    )
    found: Counter[str] = Counter()
    async with database.sessions() as session:
        for subject, count in await session.execute(query):
            found[subject.partition(".")[0]] += count  # "marketing.email" -> marketing
    return found
