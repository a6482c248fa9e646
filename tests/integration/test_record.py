"""Claiming and recording a parcel (pipeline/claims.py, record.py), on SQLite and PostgreSQL:
each delivery ends as its own round says, whatever the others in the parcel did, and a worker
whose lease ran out records its attempt without overwriting the next worker's claim."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from appliance.db.engine import Database
from appliance.db.models import Attempt, Delivery, DeliveryStatus
from appliance.pipeline.claims import claim
from appliance.pipeline.record import Round, record
from appliance.pipeline.settle import Settlement
from appliance.providers.base import Outcome, OutcomeKind

from .parcels import LEASE, NOW, queued_deliveries, tried


async def read(database: Database, ids: list[uuid.UUID]) -> list[Delivery]:
    async with database.sessions() as session:
        found = {d.id: d for d in await session.scalars(select(Delivery).where(Delivery.id.in_(ids)))}
    return [found[id_] for id_ in ids]


async def test_each_delivery_of_a_parcel_ends_as_its_round_says(database: Database) -> None:
    ids = await queued_deliveries(database, 3)
    sent, retried, throttled = await claim(database, ids, now=NOW, lease=LEASE)
    later = NOW + timedelta(seconds=3)

    follow_ups = await record(
        database,
        [
            Round(
                sent,
                Settlement(DeliveryStatus.SENT, provider_message_id="pm-1"),
                [tried(Outcome.sent("pm-1"))],
            ),
            Round(
                retried,
                Settlement(DeliveryStatus.QUEUED, error="503", retry_in=timedelta(seconds=30)),
                [tried(Outcome(OutcomeKind.RETRYABLE, error="503"))],
            ),
            Round(
                throttled,
                Settlement(
                    DeliveryStatus.QUEUED,
                    error="rate limited",
                    retry_in=timedelta(seconds=2),
                    spent_a_try=False,
                ),
            ),
        ],
        now=later,
        queue_lease=LEASE,
    )

    one, two, three = await read(database, ids)
    assert (one.status, one.provider, one.provider_message_id, one.sent_at, one.lease_expires_at) == (
        "sent",
        "smtp",
        "pm-1",
        later,
        None,
    )
    assert (one.attempt_count, one.last_error, one.updated_at) == (1, None, later)
    assert (two.status, two.last_error, two.attempt_count, two.sent_at, two.provider) == (
        "queued",
        "503",
        1,
        None,
        None,
    )
    assert two.lease_expires_at == later + timedelta(seconds=30) + LEASE
    assert (three.status, three.attempt_count) == ("queued", 0)  # a wait is not a try
    assert [(f.delivery_id, f.not_before) for f in follow_ups] == [
        (retried.delivery_id, later + timedelta(seconds=30)),
        (throttled.delivery_id, later + timedelta(seconds=2)),
    ]
    async with database.sessions() as session:
        attempts = list(await session.scalars(select(Attempt).order_by(Attempt.id)))
    assert [(a.delivery_id, a.outcome, a.provider_message_id, a.latency_ms) for a in attempts] == [
        (sent.delivery_id, "sent", "pm-1", 12.5),
        (retried.delivery_id, "retryable", None, 12.5),
    ]


async def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_next_claim(database: Database) -> None:
    [delivery_id] = await queued_deliveries(database, 1)
    [stale] = await claim(database, [delivery_id], now=NOW, lease=LEASE)
    [current] = await claim(database, [delivery_id], now=NOW + LEASE + timedelta(seconds=1), lease=LEASE)
    assert current.tries == stale.tries + 1

    follow_ups = await record(
        database,
        [
            Round(
                stale,
                Settlement(DeliveryStatus.QUEUED, error="timeout", retry_in=timedelta(seconds=5)),
                [tried(Outcome(OutcomeKind.RETRYABLE, error="timeout"))],
            )
        ],
        now=NOW + LEASE + timedelta(seconds=2),
        queue_lease=LEASE,
    )

    [delivery] = await read(database, [delivery_id])
    assert (delivery.status, delivery.attempt_count, delivery.last_error) == ("sending", 2, None)
    assert follow_ups == []  # the retry is the current worker's to decide
    async with database.sessions() as session:
        assert [a.outcome for a in await session.scalars(select(Attempt))] == ["retryable"]


async def test_a_claim_whose_reads_fail_gives_its_deliveries_back(database: Database) -> None:
    """The take commits before the reads on PostgreSQL: when a read fails, the deliveries are
    queued again with the try not counted, as a rolled-back transaction would leave them."""
    ids = await queued_deliveries(database, 2)
    async with database.transaction() as session:  # the suppression read (email) now fails
        await session.execute(text("DROP TABLE suppressions" + ("" if database.is_sqlite else " CASCADE")))

    with pytest.raises(DBAPIError):
        await claim(database, ids, now=NOW, lease=LEASE)

    for delivery in await read(database, ids):
        assert (delivery.status, delivery.attempt_count) == ("queued", 0)


async def test_a_message_id_longer_than_its_column_is_stored_cut_to_it(database: Database) -> None:
    """A provider may answer with any id (a webhook's X-Request-Id): the record keeps its start,
    not an error that would leave the parcel sending, to be sent again."""
    [delivery_id] = await queued_deliveries(database, 1)
    [claimed] = await claim(database, [delivery_id], now=NOW, lease=LEASE)
    long_id = "x" * 300

    await record(
        database,
        [
            Round(
                claimed,
                Settlement(DeliveryStatus.SENT, provider_message_id=long_id),
                [tried(Outcome.sent(long_id))],
            )
        ],
        now=NOW,
        queue_lease=LEASE,
    )

    [delivery] = await read(database, [delivery_id])
    async with database.sessions() as session:
        attempt = await session.scalar(select(Attempt).where(Attempt.delivery_id == delivery_id))
    assert (delivery.status, delivery.provider_message_id) == ("sent", "x" * 255)
    assert attempt is not None and attempt.provider_message_id == "x" * 255
