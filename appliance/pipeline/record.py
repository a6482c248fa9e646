"""Recording what happened: one attempt row per provider call, then the delivery's new status."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from ..db.engine import Database
from ..db.models import Attempt, Delivery, DeliveryStatus
from .claims import Claimed
from .route import AttemptRecord
from .settle import Settlement


async def record(
    database: Database,
    claimed: Claimed,
    settlement: Settlement,
    attempts: list[AttemptRecord],
    *,
    now: datetime,
    queue_lease: timedelta,
) -> None:
    values: dict[str, object] = {
        "status": settlement.status,
        "last_error": settlement.error,
        "updated_at": now,
    }
    if settlement.status is DeliveryStatus.SENT:
        values.update(sent_at=now, provider_message_id=settlement.provider_message_id, lease_expires_at=None)
        values["provider"] = attempts[-1].provider if attempts else None
    elif settlement.retry_in is not None:
        # Waiting in the broker for its retry; if that message is lost, the sweeper resends it.
        values["lease_expires_at"] = now + settlement.retry_in + queue_lease
    else:
        values["lease_expires_at"] = None
    if not settlement.spent_a_try:
        values["attempt_count"] = Delivery.attempt_count - 1  # the claim counted it; a wait is not a try
    async with database.transaction() as session:
        session.add_all(
            Attempt(
                delivery_id=claimed.delivery_id,
                provider=attempt.provider,
                outcome=attempt.outcome.kind.value,
                started_at=attempt.started_at,
                latency_ms=attempt.latency_ms,
                provider_message_id=attempt.outcome.provider_message_id,
                error=attempt.outcome.error,
            )
            for attempt in attempts
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.id == claimed.delivery_id, Delivery.status == DeliveryStatus.SENDING)
            .values(**values)
        )
