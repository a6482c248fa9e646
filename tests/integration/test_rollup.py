"""The hourly rollup, on SQLite and PostgreSQL: it recounts exactly the hours that changed.

Given deliveries in an hour long past and in the current one, when an old one bounces or is
opened, the next read counts it so; when nothing changed, a refresh recounts nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from appliance.analytics.figures import counts
from appliance.analytics.rollup import LOOK_BACK, refresh
from appliance.analytics.windows import HOUR, TimeRange, floor, window
from appliance.db.engine import Database
from appliance.db.models import Delivery, DeliveryEvent, DeliveryRollup, Notification, Recipient

NOW = datetime.now(UTC)
EARLIER = floor(NOW - timedelta(hours=3), HOUR) + timedelta(minutes=10)  # a minute later is the same hour


async def deliveries(database: Database, *created: datetime) -> list[uuid.UUID]:
    async with database.transaction() as session:
        recipient = Recipient(external_id=f"r-{uuid.uuid4().hex[:8]}")
        session.add(recipient)
        await session.flush()
        rows = []
        for at in created:
            notification = Notification(
                recipient_id=recipient.id, category="orders", template="t", priority="normal", source="test"
            )
            session.add(notification)
            await session.flush()
            status = "sent" if at < NOW - LOOK_BACK else "queued"
            rows.append(Delivery(notification_id=notification.id, channel="email", priority="normal",
                                 status=status, created_at=at, updated_at=at))  # fmt: skip
        session.add_all(rows)
    return [row.id for row in rows]


async def by_status(database: Database, now: datetime) -> dict[str, tuple[int, int]]:
    found = await counts(database, window(TimeRange.DAY, now), ("status",), now=now)
    return {c.status or "": (c.deliveries, c.opened) for c in found}


async def test_a_change_to_an_old_delivery_is_counted_at_the_next_read(database: Database) -> None:
    old, _, _ = await deliveries(database, EARLIER, EARLIER, NOW)
    assert await by_status(database, NOW) == {"sent": (2, 0), "queued": (1, 0)}

    async with database.transaction() as session:
        await session.execute(update(Delivery).where(Delivery.id == old).values(status="bounced"))
        session.add(DeliveryEvent(delivery_id=old, provider="p", kind="opened", occurred_at=NOW))
    assert await by_status(database, NOW) == {"sent": (1, 0), "bounced": (1, 1), "queued": (1, 0)}


async def test_a_refresh_recounts_only_the_hours_that_changed(database: Database) -> None:
    await deliveries(database, EARLIER - timedelta(hours=5), EARLIER, EARLIER + timedelta(minutes=1))
    assert await refresh(database, now=NOW) == 2  # the first build: every hour with deliveries
    later = NOW + 2 * LOOK_BACK
    assert await refresh(database, now=later) == 0  # nothing changed since

    await deliveries(database, later - timedelta(minutes=1))
    assert await refresh(database, now=later) == 1
    async with database.sessions() as session:
        hours = dict((await session.execute(select(DeliveryRollup.hour, DeliveryRollup.deliveries))).all())
    assert sorted(hours.values()) == [1, 1, 2]
