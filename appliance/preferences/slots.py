"""Frequency-cap slots: a notification takes one when its first delivery goes out.

Counting and taking happen in one transaction for a parcel, its recipients' rows locked in id
order, so two workers sending to the same recipient at once cannot both take the last slot.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.among import among
from ..db.engine import Database
from ..db.models import Notification, Recipient
from .frequency import FrequencyCap
from .verdict import cap_reached

#: No calendar period is longer than this (a month); older slots never count.
LONGEST_WINDOW = timedelta(days=32)

Pair = tuple[uuid.UUID, str]  # (recipient id, category)


async def counted(session: AsyncSession, pairs: Iterable[Pair], now: datetime) -> dict[Pair, list[datetime]]:
    """When each recipient's notifications of each category took their slots, over the longest window."""
    slots, _ = await _slots_and_holders(session, pairs, (), now)
    return slots


async def _slots_and_holders(
    session: AsyncSession, pairs: Iterable[Pair], notifications: Collection[uuid.UUID], now: datetime
) -> tuple[dict[Pair, list[datetime]], set[uuid.UUID]]:
    """`counted`, and which of `notifications` hold a slot already (however long ago): one read,
    a round trip less on a parcel's way to its first send (G3c in docs/benchmarks.md)."""
    wanted, since = set(pairs), now - LONGEST_WINDOW
    slots: dict[Pair, list[datetime]] = defaultdict(list)
    holders: set[uuid.UUID] = set()
    if not wanted:
        return slots, holders
    # By recipient and by category, not by (recipient, category) pairs: SQLite scanned the whole
    # index of slots for a row-value IN, where an IN of recipient ids looks each one up.
    which = and_(
        among(session, Notification.recipient_id, {recipient for recipient, _ in wanted}),
        among(session, Notification.category, {category for _, category in wanted}),
        Notification.counted_at >= since,
    )
    ids: tuple[Any, ...] = ()  # without them, the slots' index covers the read (`counted`)
    if notifications:
        which = or_(
            which, and_(among(session, Notification.id, notifications), Notification.counted_at.is_not(None))
        )
        ids = (Notification.id,)
    rows = await session.execute(
        select(Notification.recipient_id, Notification.category, Notification.counted_at, *ids).where(which)
    )
    for recipient_id, category, at, *held in rows:
        if held and held[0] in notifications:
            holders.add(held[0])
        # A holder's slot from before the window is read by its id; it counts against no cap.
        if at >= since and (recipient_id, category) in wanted:
            slots[recipient_id, category].append(at)
    return slots, holders


class Wanted(NamedTuple):
    """A notification's slot to take, under its category's caps on its recipient's calendar."""

    notification_id: uuid.UUID
    pair: Pair
    caps: tuple[FrequencyCap, ...]
    zone: ZoneInfo


async def take_slots(
    database: Database, wanted: Sequence[Wanted], now: datetime
) -> list[FrequencyCap | None]:
    """Take each notification's slot (its other channels share it), all in one transaction: for
    each, in order, the cap reached if none is left, else None. A parcel's slots went one
    transaction each, and during a flood its fifty queued for SQLite's write turn among the
    requests': ~39 deliveries/s to a capped category (docs/benchmarks.md)."""
    async with database.transaction() as session:
        # FOR NO KEY UPDATE: excludes another slot-taker, but not a transaction inserting a row that
        # refers to these recipients (a new notification, a campaign batch), which FOR UPDATE would.
        # In id order, so that two parcels sharing recipients lock them in the same order.
        recipients = sorted({each.pair[0] for each in wanted})
        await session.execute(
            select(Recipient.id)
            .where(among(session, Recipient.id, recipients))
            .order_by(Recipient.id)
            .with_for_update(key_share=True)
        )
        notifications = {each.notification_id for each in wanted}
        slots, holding = await _slots_and_holders(session, [each.pair for each in wanted], notifications, now)
        answers: list[FrequencyCap | None] = []
        taking: list[uuid.UUID] = []
        for each in wanted:
            if each.notification_id in holding:  # taken already: another channel's, or a retry's
                answers.append(None)
                continue
            reached = cap_reached(each.caps, slots[each.pair], now, each.zone)
            if reached is None:
                slots[each.pair].append(now)  # counted against the recipient's next in this parcel
                holding.add(each.notification_id)
                taking.append(each.notification_id)
            answers.append(reached)
        if taking:
            await session.execute(
                update(Notification)
                .where(among(session, Notification.id, taking))
                .values(counted_at=now)
                .execution_options(synchronize_session=False)
            )
    return answers
