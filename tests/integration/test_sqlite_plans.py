"""SQLite finds a parcel's deliveries by their ids and notifications, never by their status
(db/unindexed.py): with a backlog of queued deliveries, a claim that read every queued row
held the one write turn longer the longer the backlog grew."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, update

from appliance.db.engine import Database, sqlite_file
from appliance.db.models import Delivery, DeliveryStatus
from appliance.pipeline.claims import claim
from appliance.pipeline.record import Round, record
from appliance.pipeline.settle import Settlement
from appliance.pipeline.store import Dispatch
from appliance.preferences.frequency import parse_caps
from appliance.preferences.slots import Wanted, take_slots
from appliance.providers.base import Outcome, OutcomeKind

from .parcels import LEASE, NOW, queued_deliveries, tried

STATUS_INDEX = "ix_deliveries_status_lease"


#: The shared fixture's SQLite side only: PostgreSQL plans with statistics.
on_sqlite = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


class Plans:
    """Each statement the engine runs, with its parameters, to ask SQLite how it plans it."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.statements: list[tuple[str, Any]] = []
        event.listen(database.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(
        self, _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool
    ) -> None:
        if not many:
            self.statements.append((statement, parameters))

    def with_step(self, step: str) -> list[str]:
        """The statements seen whose plan has a step saying `step`: an index's name, a SCAN."""
        path = sqlite_file(self.database.url)
        assert path is not None
        with sqlite3.connect(path) as connection:
            return [
                statement
                for statement, parameters in self.statements
                if any(
                    step in row[3]
                    for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
                )
            ]


async def fail_one_send_rest(database: Database, parcel: Sequence[uuid.UUID]) -> list[Dispatch]:
    """Claim `parcel` together; record its first delivery failed for good and the rest sent."""
    failing, *sending = await claim(database, parcel, now=NOW, lease=LEASE)
    assert [failing.delivery_id, *(each.delivery_id for each in sending)] == list(parcel)
    failed = Round(
        failing, Settlement(DeliveryStatus.FAILED, error="bounced"), [tried(Outcome(OutcomeKind.PERMANENT))]
    )
    sent = [
        Round(each, Settlement(DeliveryStatus.SENT, provider_message_id="pm"), [tried(Outcome.sent("pm"))])
        for each in sending
    ]
    return await record(database, [failed, *sent], now=NOW, queue_lease=LEASE)


@on_sqlite
async def test_a_parcel_is_claimed_and_recorded_by_its_ids(database: Database) -> None:
    await queued_deliveries(database, 300)  # the backlog the status index would lead through
    parcel = await queued_deliveries(database, 50)  # a full one: its ids are an IN list
    plans = Plans(database)

    await fail_one_send_rest(database, parcel)

    updates = [statement for statement, _ in plans.statements if statement.startswith("UPDATE deliveries")]
    assert len(updates) == 2  # the take and the settling
    assert plans.with_step(STATUS_INDEX) == []


@on_sqlite
async def test_held_fallbacks_are_found_by_their_notification(database: Database) -> None:
    """A fallback channel waits, held, on its notification's first: a claim asks whether one
    waits, a failure releases it, a send stands it down. Each by the notification."""
    await queued_deliveries(database, 300)
    first, fallback, other_first, other_fallback = await queued_deliveries(database, 4)
    async with database.transaction() as session:
        for delivery_id, waits_on in ((fallback, first), (other_fallback, other_first)):
            notification_id = (
                update(Delivery)
                .where(Delivery.id == waits_on)
                .values(position=0)
                .returning(Delivery.notification_id)
            )
            await session.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id)
                .values(
                    status=DeliveryStatus.HELD,
                    position=1,
                    notification_id=(await session.execute(notification_id)).scalar_one(),
                )
            )
    plans = Plans(database)

    released = await fail_one_send_rest(database, [first, other_first])

    assert [dispatch.delivery_id for dispatch in released] == [fallback]
    async with database.sessions() as session:
        statuses = dict((await session.execute(select(Delivery.id, Delivery.status))).all())
    assert (statuses[fallback], statuses[other_fallback]) == ("queued", "skipped")
    assert plans.with_step(STATUS_INDEX) == []


@on_sqlite
async def test_a_parcels_frequency_slots_are_found_by_recipient(database: Database) -> None:
    claimed = await claim(database, await queued_deliveries(database, 3), now=NOW, lease=LEASE)
    two_a_day = parse_caps("2/day")
    plans = Plans(database)

    answers = await take_slots(
        database,
        [
            Wanted(c.notification_id, (c.recipient.id, c.category), two_a_day, ZoneInfo("UTC"))
            for c in claimed
        ],
        NOW,
    )

    assert answers == [None, None, two_a_day[0]]  # one recipient: the third finds both slots taken
    assert plans.with_step("SCAN") == []  # every row found through an index, none by reading a table
