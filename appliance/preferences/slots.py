"""Frequency-cap slots: a notification takes one when its first delivery goes out.

Counting and taking happen in one transaction with the recipient's row locked, so two
workers sending to the same recipient at once cannot both take the last slot.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.models import Notification, Recipient
from .frequency import FrequencyCap
from .verdict import cap_reached

#: No calendar period is longer than this (a month); older slots never count.
LONGEST_WINDOW = timedelta(days=32)

Pair = tuple[uuid.UUID, str]  # (recipient id, category)


async def counted(session: AsyncSession, pairs: Iterable[Pair], now: datetime) -> dict[Pair, list[datetime]]:
    """When each recipient's notifications of each category took their slots, over the longest window."""
    wanted = set(pairs)
    found: dict[Pair, list[datetime]] = defaultdict(list)
    if not wanted:
        return found
    rows = await session.execute(
        select(Notification.recipient_id, Notification.category, Notification.counted_at).where(
            tuple_(Notification.recipient_id, Notification.category).in_(list(wanted)),
            Notification.counted_at >= now - LONGEST_WINDOW,
        )
    )
    for recipient_id, category, at in rows:
        found[recipient_id, category].append(at)
    return found


async def take_slot(
    database: Database,
    notification_id: uuid.UUID,
    pair: Pair,
    caps: tuple[FrequencyCap, ...],
    zone: ZoneInfo,
    now: datetime,
) -> FrequencyCap | None:
    """Take the notification's slot (its other channels share it); the cap reached if none is left."""
    async with database.transaction() as session:
        # FOR NO KEY UPDATE: excludes another slot-taker, but not a transaction inserting a row that
        # refers to this recipient (a new notification, a campaign batch), which FOR UPDATE would.
        locked = select(Recipient.id).where(Recipient.id == pair[0]).with_for_update(key_share=True)
        await session.execute(locked)
        holds = await session.scalar(
            select(Notification.counted_at).where(Notification.id == notification_id)
        )
        if holds is not None:
            return None
        reached = cap_reached(caps, (await counted(session, [pair], now))[pair], now, zone)
        if reached is None:
            await session.execute(
                update(Notification).where(Notification.id == notification_id).values(counted_at=now)
            )
        return reached
