"""Queued deliveries to claim and record, for the tests of pipeline/claims.py and record.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from appliance.db.bulk import insert_tables
from appliance.db.engine import Database
from appliance.db.ids import new_id
from appliance.db.models import Delivery, DeliveryStatus, Notification, Recipient
from appliance.pipeline.route import AttemptRecord
from appliance.providers.base import Outcome

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def queued_deliveries(database: Database, count: int) -> list[uuid.UUID]:
    """`count` single-channel notifications to one recipient, each with a queued delivery."""
    recipient = Recipient(
        id=uuid.uuid4(), external_id=f"r-{uuid.uuid4().hex[:8]}", email="r@example.com", attributes={}
    )
    notifications = [
        {
            "id": new_id(),
            "recipient_id": recipient.id,
            "category": "orders",
            "template": "receipt",
            "priority": "normal",
            "data": {"n": n},
            "source": "api:test",
            "created_at": NOW,
        }
        for n in range(count)
    ]
    deliveries = [
        {
            "id": new_id(),
            "notification_id": row["id"],
            "channel": "email",
            "priority": "normal",
            "status": DeliveryStatus.QUEUED,
            "created_at": NOW,
            "updated_at": NOW,
        }
        for row in notifications
    ]
    async with database.transaction() as session:
        session.add(recipient)
        await session.flush()
        await insert_tables(
            session, [(Notification.__table__, notifications), (Delivery.__table__, deliveries)]
        )
    return [row["id"] for row in deliveries]


def tried(outcome: Outcome) -> AttemptRecord:
    return AttemptRecord(provider="smtp", outcome=outcome, started_at=NOW, latency_ms=12.5)
