"""Store: recipients resolved, deliveries planned, everything written in ONE transaction.

Nothing is enqueued here: the dispatcher runs after the commit, so the broker never holds an
id the database does not. A lost enqueue is repaired by the sweeper when the lease expires.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel, Priority
from ..db.engine import Database
from ..db.models import Delivery, DeliveryStatus, Device, IdempotencyRecord, Notification, Recipient
from ..errors import IdempotencyConflict, RequestRejected
from . import suppression
from .intake import Accepted
from .planner import Reachability, plan


@dataclass(frozen=True)
class Dispatch:
    delivery_id: uuid.UUID
    channel: Channel
    priority: Priority


@dataclass(frozen=True)
class Stored:
    notification_id: uuid.UUID
    replayed: bool
    dispatches: tuple[Dispatch, ...] = ()


StoreResult = Stored | RequestRejected


async def store(
    database: Database, items: list[Accepted], *, source: str, now: datetime, queue_lease: timedelta
) -> list[StoreResult]:
    """Write every item that can be written; answer each one on its own, in order."""
    for attempt in range(3):
        try:
            async with database.transaction() as session:
                return await _store(session, items, source=source, now=now, queue_lease=queue_lease)
        except IntegrityError:
            # A concurrent request created the same recipient or used the same key first;
            # a second pass sees its row and answers from it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def _store(
    session: AsyncSession, items: list[Accepted], *, source: str, now: datetime, queue_lease: timedelta
) -> list[StoreResult]:
    replays = await _idempotency_records(session, items)
    recipients = await _resolve_recipients(session, items)
    devices = await _device_counts(session, [r.id for r in recipients.values() if r.id is not None])
    suppressed = await suppression.reasons(session, _addresses(recipients.values()))
    results: list[StoreResult] = []
    for item in items:
        record = replays.get(item.idempotency_key) if item.idempotency_key else None
        if record is not None:
            results.append(_replay(record, item))
            continue
        recipient = recipients.get(item.recipient.id)
        if recipient is None:
            results.append(
                RequestRejected(
                    "to.id",
                    f"no recipient with id {item.recipient.id!r}; give `email`, `phone` or other fields "
                    "in `to` to create it, or POST /v1/recipients first",
                )
            )
            continue
        reach = Reachability(
            has_email=bool(recipient.email),
            has_phone=bool(recipient.phone),
            device_count=devices.get(recipient.id, 0),
            suppressed=_suppressed_channels(recipient, suppressed),
        )
        notification, stored = _write(session, item, recipient, reach, source, now, queue_lease)
        if item.idempotency_key:
            replays[item.idempotency_key] = IdempotencyRecord(
                key=item.idempotency_key,
                request_hash=item.request_hash,
                notification=notification,
                notification_id=notification.id,
            )
            session.add(replays[item.idempotency_key])
        results.append(stored)
    return results


def _replay(record: IdempotencyRecord, item: Accepted) -> StoreResult:
    if record.request_hash != item.request_hash:
        return IdempotencyConflict()
    return Stored(notification_id=record.notification_id, replayed=True)


def _write(
    session: AsyncSession,
    item: Accepted,
    recipient: Recipient,
    reach: Reachability,
    source: str,
    now: datetime,
    queue_lease: timedelta,
) -> tuple[Notification, Stored]:
    notification = Notification(
        id=uuid.uuid4(),
        recipient=recipient,
        category=item.category,
        template=item.template,
        priority=item.priority.value,
        data=item.data,
        source=source,
        created_at=now,
    )
    session.add(notification)
    dispatches = []
    for planned in plan(item.channels, item.priority, reach):
        delivery = Delivery(
            id=uuid.uuid4(),
            notification=notification,
            channel=planned.channel.value,
            priority=planned.priority.value,
            status=DeliveryStatus.SKIPPED if planned.skipped else DeliveryStatus.QUEUED,
            last_error=planned.skip_reason,
            lease_expires_at=None if planned.skipped else now + queue_lease,
            created_at=now,
            updated_at=now,
        )
        session.add(delivery)
        if not planned.skipped:
            dispatches.append(Dispatch(delivery.id, planned.channel, planned.priority))
    return notification, Stored(notification_id=notification.id, replayed=False, dispatches=tuple(dispatches))


async def _idempotency_records(session: AsyncSession, items: list[Accepted]) -> dict[str, IdempotencyRecord]:
    keys = {item.idempotency_key for item in items if item.idempotency_key}
    if not keys:
        return {}
    rows = await session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key.in_(keys)))
    return {row.key: row for row in rows}


async def _resolve_recipients(session: AsyncSession, items: list[Accepted]) -> dict[str, Recipient]:
    """Existing recipients, updated with inline fields; new ones created when fields were given."""
    wanted = {item.recipient.id for item in items}
    rows = await session.scalars(
        select(Recipient).where(Recipient.external_id.in_(wanted)).execution_options(populate_existing=True)
    )
    found = {row.external_id: row for row in rows}
    for item in items:
        fields = item.recipient.profile_fields()
        if not fields:
            continue
        recipient = found.get(item.recipient.id)
        if recipient is None:
            recipient = Recipient(id=uuid.uuid4(), external_id=item.recipient.id, attributes={})
            session.add(recipient)
            found[item.recipient.id] = recipient
        apply_profile(recipient, fields)
    return found


def apply_profile(recipient: Recipient, fields: dict[str, object]) -> None:
    """Set the given fields; attributes merge key by key instead of replacing the whole map."""
    for name, value in fields.items():
        if name == "attributes":
            recipient.attributes = {**(recipient.attributes or {}), **value}  # type: ignore[dict-item]
        else:
            setattr(recipient, name, value)


def _addresses(recipients: Iterable[Recipient]) -> list[suppression.Key]:
    return [key for r in recipients for key in suppression.addresses(r.email, r.phone).items()]


def _suppressed_channels(recipient: Recipient, found: dict[suppression.Key, str]) -> dict[Channel, str]:
    reasons = {}
    for channel, address in suppression.addresses(recipient.email, recipient.phone).items():
        reason = found.get((channel, suppression.normalize(channel, address)))
        if reason:
            reasons[Channel(channel)] = reason
    return reasons


async def _device_counts(session: AsyncSession, recipient_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not recipient_ids:
        return {}
    rows = await session.execute(
        select(Device.recipient_id, func.count())
        .where(Device.recipient_id.in_(recipient_ids))
        .group_by(Device.recipient_id)
    )
    return {recipient_id: count for recipient_id, count in rows}
