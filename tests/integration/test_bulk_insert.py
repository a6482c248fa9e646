"""Writing many rows at once (db/bulk.py), on SQLite and PostgreSQL: what the ORM reads back is
what was written, whether the rows went by executemany (SQLite), one INSERT of a JSON document
per table for all the tables (few, on PostgreSQL) or binary COPY (many, on PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from appliance.db.bulk import COPY_FROM, insert_rows, insert_tables
from appliance.db.engine import Database
from appliance.db.ids import new_id
from appliance.db.migrate import upgrade
from appliance.db.models import Campaign, Delivery, DeliveryStatus, Notification, Recipient

NOW = datetime(2026, 12, 6, 9, 30, 15, 123456, tzinfo=UTC)


async def a_recipient(database: Database) -> uuid.UUID:
    async with database.transaction() as session:
        recipient = Recipient(external_id=f"r-{uuid.uuid4().hex[:8]}", attributes={})
        session.add(recipient)
    return recipient.id


def notification_row(recipient_id: uuid.UUID, n: int) -> dict[str, Any]:
    return {
        "id": new_id(),
        "recipient_id": recipient_id,
        "category": "orders",
        "template": "receipt",
        "priority": "normal",
        "data": {"n": n, "items": [{"sku": "A-1", "price": 9.5}], "note": None, "name": "Zoë"},
        "source": "api:test",
        "created_at": NOW,
        "campaign_id": None,
        "variant": "B" if n % 2 else None,
    }


def delivery_row(notification_id: uuid.UUID, n: int) -> dict[str, Any]:
    # No attempt_count: the column's Python-side default fills it.
    return {
        "id": new_id(),
        "notification_id": notification_id,
        "channel": "email",
        "position": 0,
        "priority": "normal",
        "status": DeliveryStatus.QUEUED,
        "last_error": None,
        "not_before": NOW + timedelta(minutes=n) if n % 3 == 0 else None,
        "lease_expires_at": NOW + timedelta(minutes=5),
        "created_at": NOW,
        "updated_at": NOW,
    }


@pytest.mark.parametrize(
    ("count", "together"),
    [(3, False), (3, True), (COPY_FROM + 8, False), (COPY_FROM + 8, True)],
    ids=["few", "few-together", "many", "many-together"],
)
async def test_rows_read_back_as_written(database: Database, count: int, together: bool) -> None:
    recipient_id = await a_recipient(database)
    notifications = [notification_row(recipient_id, n) for n in range(count)]
    deliveries = [delivery_row(row["id"], n) for n, row in enumerate(notifications)]

    async with database.transaction() as session:
        if together:  # on PostgreSQL, few: one statement whose deliveries refer to its notifications
            await insert_tables(
                session, [(Notification.__table__, notifications), (Delivery.__table__, deliveries)]
            )
        else:
            await insert_rows(session, Notification.__table__, notifications)
            await insert_rows(session, Delivery.__table__, deliveries)

    async with database.sessions() as session:
        stored = {n.id: n for n in await session.scalars(select(Notification))}
        sent = {d.id: d for d in await session.scalars(select(Delivery))}
    for row in notifications:
        found = stored[row["id"]]
        assert (found.recipient_id, found.data, found.variant, found.created_at) == (
            recipient_id,
            row["data"],
            row["variant"],
            NOW,
        )
    for row in deliveries:
        found = sent[row["id"]]
        assert (found.notification_id, found.status, found.not_before, found.attempt_count) == (
            row["notification_id"],
            "queued",
            row["not_before"],
            0,
        )


@pytest.mark.parametrize("count", [3, COPY_FROM], ids=["few", "many"])
async def test_a_row_that_is_already_there_fails_the_insert_as_an_integrity_error(
    database: Database, count: int
) -> None:
    recipient_id = await a_recipient(database)
    rows = [notification_row(recipient_id, n) for n in range(count)]
    async with database.transaction() as session:
        await insert_rows(session, Notification.__table__, rows[:1])

    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await insert_rows(session, Notification.__table__, rows)

    async with database.sessions() as session:
        assert [n.id for n in await session.scalars(select(Notification))] == [rows[0]["id"]]


@pytest.mark.parametrize("count", [3, COPY_FROM], ids=["few", "many"])
async def test_the_foreign_keys_hold_between_tables_written_together(database: Database, count: int) -> None:
    recipient_id = await a_recipient(database)
    notifications = [notification_row(recipient_id, n) for n in range(count)]
    deliveries = [delivery_row(row["id"], n) for n, row in enumerate(notifications)]
    deliveries[-1]["notification_id"] = new_id()  # refers to no notification

    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            await insert_tables(
                session, [(Notification.__table__, notifications), (Delivery.__table__, deliveries)]
            )

    async with database.sessions() as session:
        assert list(await session.scalars(select(Notification))) == []


async def test_a_campaign_reaches_a_recipient_once_and_api_sends_as_often_as_asked(
    database: Database,
) -> None:
    recipient_id = await a_recipient(database)
    async with database.transaction() as session:
        campaign = Campaign(name="launch", category="orders", template="receipt")
        session.add(campaign)
    api_sends = [notification_row(recipient_id, n) for n in range(2)]  # no campaign: never unique
    async with database.transaction() as session:
        await insert_rows(session, Notification.__table__, api_sends)
        await insert_rows(
            session,
            Notification.__table__,
            [{**notification_row(recipient_id, 2), "campaign_id": campaign.id}],
        )

    with pytest.raises(IntegrityError):
        async with database.transaction() as session:
            again = {**notification_row(recipient_id, 3), "campaign_id": campaign.id}
            await insert_rows(session, Notification.__table__, [again])


async def test_many_rows_in_several_tables_are_written_all_or_none_even_without_a_transaction(
    database: Database,
) -> None:
    """Many rows go by a statement per table; in an autocommit session (a store of known
    recipients) they still commit together: a delivery found taken leaves no notification behind."""
    recipient_id = await a_recipient(database)
    notifications = [notification_row(recipient_id, n) for n in range(COPY_FROM + 8)]
    deliveries = [delivery_row(row["id"], n) for n, row in enumerate(notifications)]
    async with database.transaction() as session:
        taken = notification_row(recipient_id, 99)
        await insert_rows(session, Notification.__table__, [taken])
        await insert_rows(
            session, Delivery.__table__, [{**delivery_row(taken["id"], 99), "id": deliveries[-1]["id"]}]
        )

    with pytest.raises(IntegrityError):
        async with database.autocommit() as session:
            await insert_tables(
                session, [(Notification.__table__, notifications), (Delivery.__table__, deliveries)]
            )

    async with database.sessions() as session:
        assert [n.id for n in await session.scalars(select(Notification))] == [taken["id"]]
        assert [d.notification_id for d in await session.scalars(select(Delivery))] == [taken["id"]]


async def test_json_keeps_its_text_as_written(database: Database) -> None:
    recipient_id = await a_recipient(database)
    row = {**notification_row(recipient_id, 0), "data": {"zebra": 1, "a": 2}}
    async with database.transaction() as session:
        await insert_rows(session, Notification.__table__, [row])
    async with database.sessions() as session:
        [data] = await session.scalars(select(Notification.data))
    assert list(data) == ["zebra", "a"]  # a json column, not jsonb: the caller's key order stays


@pytest.mark.parametrize("count", [3, COPY_FROM], ids=["few", "many"])
async def test_a_value_too_long_for_its_column_fails_the_insert_few_rows_or_many(
    pg_url: str, count: int
) -> None:
    """On PostgreSQL, where a varchar(n) has a length (SQLite keeps any text): nothing is cut."""
    upgrade(pg_url)
    database = Database(pg_url)
    try:
        recipient_id = await a_recipient(database)
        rows = [{**notification_row(recipient_id, n), "variant": "v" * 65} for n in range(count)]
        with pytest.raises(psycopg.errors.StringDataRightTruncation):
            async with database.transaction() as session:
                await insert_rows(session, Notification.__table__, rows)
    finally:
        await database.dispose()
