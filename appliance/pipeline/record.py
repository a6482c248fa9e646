"""Recording what happened: one attempt row per provider call, then the delivery's new status.

With the `fallback` strategy the notification's held channels follow in the same transaction:
the next one is released when this one could not get out, the rest stand down when it did.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel, Priority
from ..db.engine import Database
from ..db.models import Attempt, Delivery, DeliveryStatus, Device, SuppressionReason
from ..providers.base import OutcomeKind
from . import suppression
from .claims import Claimed
from .route import AttemptRecord
from .settle import Settlement
from .store import Dispatch

#: Outcomes after which a fallback notification moves on to its next channel.
NOT_OUT = frozenset({DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED})


async def record(
    database: Database,
    claimed: Claimed,
    settlement: Settlement,
    attempts: list[AttemptRecord],
    *,
    now: datetime,
    queue_lease: timedelta,
) -> list[Dispatch]:
    """Returns the fallback deliveries this outcome released, to be enqueued after the commit."""
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
        values["not_before"] = settlement.not_before
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
        updated = await session.execute(
            update(Delivery)
            .where(
                Delivery.id == claimed.delivery_id,
                Delivery.status == DeliveryStatus.SENDING,
                # Still ours: a worker that outlived its lease finds the try count moved on by the
                # next claim and records its attempts without overwriting that worker's outcome.
                Delivery.attempt_count == claimed.tries,
            )
            .values(**values)
        )
        await _forget_dead_addresses(session, claimed, attempts, now)
        if not updated.rowcount:  # type: ignore[attr-defined]
            return []
        return await _follow_fallback(session, claimed, settlement, now, queue_lease)


async def _follow_fallback(
    session: AsyncSession, claimed: Claimed, settlement: Settlement, now: datetime, queue_lease: timedelta
) -> list[Dispatch]:
    held = (Delivery.notification_id == claimed.notification_id) & (Delivery.status == DeliveryStatus.HELD)
    if settlement.status in (DeliveryStatus.SENT, DeliveryStatus.THROTTLED):
        why = (
            f"not needed: sent on {claimed.channel}"
            if settlement.status is DeliveryStatus.SENT
            else settlement.error
        )
        status = (
            DeliveryStatus.SKIPPED if settlement.status is DeliveryStatus.SENT else DeliveryStatus.THROTTLED
        )
        await session.execute(
            update(Delivery).where(held).values(status=status, last_error=why, updated_at=now)
        )
        return []
    if settlement.status not in NOT_OUT:
        return []
    following = (
        await session.execute(
            select(Delivery.id, Delivery.channel, Delivery.priority)
            .where(held)
            .order_by(Delivery.position)
            .limit(1)
        )
    ).one_or_none()
    if following is None:
        return []
    delivery_id, channel, priority = following
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.HELD)
        .values(
            status=DeliveryStatus.QUEUED,
            last_error=f"fallback: {claimed.channel} did not get out",
            lease_expires_at=now + queue_lease,
            updated_at=now,
        )
    )
    return [Dispatch(delivery_id, Channel(channel), Priority(priority))]


async def _forget_dead_addresses(
    session: AsyncSession, claimed: Claimed, attempts: list[AttemptRecord], now: datetime
) -> None:
    """A provider said this address or device can never receive: stop sending to it."""
    gone_tokens = {token for attempt in attempts for token in attempt.outcome.invalid_tokens}
    if gone_tokens:
        await session.execute(delete(Device).where(Device.token.in_(gone_tokens)))
    invalid = [a for a in attempts if a.outcome.kind is OutcomeKind.INVALID_RECIPIENT]
    if invalid and claimed.address:
        await suppression.suppress(
            session,
            claimed.channel,
            claimed.address,
            SuppressionReason.INVALID,
            detail=invalid[-1].outcome.error,
            source=f"provider:{invalid[-1].provider}",
            recipient_id=claimed.recipient.id,
            now=now,
        )
