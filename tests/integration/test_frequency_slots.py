"""Frequency-cap slots. On PostgreSQL: two workers taking the last slot of a recipient at the same
moment cannot both get it, and a notification inserted for that recipient meanwhile is not held
up by the slot's row lock. On both databases: what a parcel counts and holds."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from appliance.db.engine import Database
from appliance.db.migrate import upgrade
from appliance.db.models import Notification, Recipient
from appliance.db.types import utcnow
from appliance.preferences.frequency import parse_caps
from appliance.preferences.slots import Wanted, take_slots

UTC = ZoneInfo("UTC")


@pytest.fixture
async def pg_database(pg_url: str) -> AsyncIterator[Database]:
    upgrade(pg_url)
    opened = Database(pg_url)
    yield opened
    await opened.dispose()


async def new_recipient(database: Database) -> Recipient:
    async with database.transaction() as session:
        recipient = Recipient(external_id=f"r-{uuid.uuid4().hex[:8]}")
        session.add(recipient)
    return recipient


def notification(recipient_id: uuid.UUID) -> Notification:
    return Notification(
        recipient_id=recipient_id, category="marketing", template="newsletter", priority="bulk", source="test"
    )


async def test_of_two_workers_taking_the_last_slot_at_once_only_one_gets_it(pg_database: Database) -> None:
    """Both wait on the recipient's lock, held by a third, then take it in turn: the second reads
    after its lock, so it sees the first's slot (read before it, it would count none and send)."""
    recipient = await new_recipient(pg_database)
    async with pg_database.transaction() as session:
        first, second = notification(recipient.id), notification(recipient.id)
        session.add_all([first, second])
    caps, now, pair = parse_caps("1/day"), utcnow(), (recipient.id, "marketing")

    async with pg_database.transaction() as holding:
        lock = select(Recipient.id).where(Recipient.id == recipient.id).with_for_update(key_share=True)
        await holding.execute(lock)
        takers = [
            asyncio.create_task(take_slots(pg_database, [Wanted(n.id, pair, caps, UTC)], now))
            for n in (first, second)
        ]
        await waiting_on_locks(pg_database, 2)
    results = await asyncio.wait_for(asyncio.gather(*takers), timeout=5)

    assert sorted(r is None for [r] in results) == [False, True]  # one slot taken, one cap reached
    async with pg_database.sessions() as session:
        counted = await session.scalars(
            select(Notification.counted_at).where(Notification.recipient_id == recipient.id)
        )
        assert sum(at is not None for at in counted) == 1


async def waiting_on_locks(database: Database, count: int) -> None:
    """Until `count` sessions of this database wait for a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(5):
        while True:
            async with database.sessions() as session:
                if await session.scalar(query) == count:
                    return
            await asyncio.sleep(0.01)


async def test_a_new_notification_for_the_recipient_does_not_wait_for_the_slot_lock(
    pg_database: Database,
) -> None:
    recipient = await new_recipient(pg_database)

    async def insert() -> None:
        async with pg_database.transaction() as session:
            session.add(notification(recipient.id))

    async with pg_database.transaction() as holding:  # a slot-taker's lock, held open
        lock = select(Recipient.id).where(Recipient.id == recipient.id).with_for_update(key_share=True)
        await holding.execute(lock)
        await asyncio.wait_for(insert(), timeout=5)  # FOR UPDATE would block this until the commit


async def test_a_parcel_counts_its_own_slots_and_keeps_those_taken_before(database: Database) -> None:
    """One transaction for a parcel's slots: the recipient's second notification in it finds the
    first's slot counted, and a notification whose slot was taken already (another channel's,
    a retry's) is let through without taking another."""
    recipient = await new_recipient(database)
    async with database.transaction() as session:
        earlier, first, second = (notification(recipient.id) for _ in range(3))
        session.add_all([earlier, first, second])
    pair, now = (recipient.id, "marketing"), utcnow()
    [none] = await take_slots(database, [Wanted(earlier.id, pair, parse_caps("2/day"), UTC)], now)
    assert none is None

    two_a_day = parse_caps("2/day")
    answers = await take_slots(
        database, [Wanted(n.id, pair, two_a_day, UTC) for n in (earlier, first, second)], now
    )

    assert answers == [None, None, two_a_day[0]]  # earlier held its slot, first took the last one
    async with database.sessions() as session:
        rows = dict((await session.execute(select(Notification.id, Notification.counted_at))).all())
    assert (rows[earlier.id], rows[first.id], rows[second.id]) == (now, now, None)


async def test_a_slot_taken_longer_ago_than_any_window_is_still_held(database: Database) -> None:
    """A delivery of a notification whose first went out before the longest window (a late
    fallback, say) takes no second slot: it holds one, though it no longer counts against caps."""
    recipient = await new_recipient(database)
    async with database.transaction() as session:
        old, fresh = notification(recipient.id), notification(recipient.id)
        session.add_all([old, fresh])
    pair, now, one_a_month = (recipient.id, "marketing"), utcnow(), parse_caps("1/month")
    [none] = await take_slots(database, [Wanted(old.id, pair, one_a_month, UTC)], now - timedelta(days=40))
    assert none is None

    answers = await take_slots(database, [Wanted(n.id, pair, one_a_month, UTC) for n in (old, fresh)], now)

    assert answers == [None, None]  # old holds its slot; fresh takes this month's only one
    async with database.sessions() as session:
        rows = dict((await session.execute(select(Notification.id, Notification.counted_at))).all())
    assert (rows[old.id], rows[fresh.id]) == (now - timedelta(days=40), now)
