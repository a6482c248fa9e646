"""Apply what providers report (delivered, bounced, complained, failed) to deliveries.

One transaction per webhook call. Each event finds its delivery by the id Clarion gave the
provider, else by the provider's message id; it moves the delivery only when `can_move` allows
(so a late `delivered` never undoes a `bounced`), is stored once per delivery and kind (so a
repeated event changes nothing), and a hard bounce or a complaint suppresses the address.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.models import Delivery, DeliveryEvent, DeliveryStatus, Notification, Recipient, SuppressionReason
from ..providers.events import EventKind, ProviderEvent
from .status import can_move
from .suppression import ADDRESSED, addresses, suppress


@dataclass(frozen=True)
class EventCounts:
    matched: int = 0  # events that found their delivery
    moved: int = 0  # ... and changed its status
    ignored: int = 0  # ... and did not: a repeat, or a step backwards
    unknown: int = 0  # events for no delivery Clarion knows (sent by someone else, or pruned)


@dataclass
class _Target:
    id: uuid.UUID
    status: DeliveryStatus
    channel: str
    fallback_address: str | None
    recipient_id: uuid.UUID


async def apply_events(
    database: Database, provider_name: str, events: Sequence[ProviderEvent], now: datetime
) -> EventCounts:
    matched = moved = ignored = unknown = 0
    async with database.transaction() as session:
        seen: dict[uuid.UUID, _Target] = {}
        for event in events:
            target = await _find(session, provider_name, event, seen)
            if target is None:
                unknown += 1
                continue
            matched += 1
            if await _already_recorded(session, target.id, event.kind):
                ignored += 1
                continue
            session.add(
                DeliveryEvent(
                    delivery_id=target.id,
                    provider=provider_name,
                    kind=event.kind,
                    occurred_at=event.occurred_at,
                    detail=event.detail,
                    received_at=now,
                )
            )
            if await _move(session, target, DeliveryStatus(event.kind), event, now):
                moved += 1
            else:
                ignored += 1
            await _suppress_if_needed(session, provider_name, target, event, now)
    return EventCounts(matched=matched, moved=moved, ignored=ignored, unknown=unknown)


async def _find(
    session: AsyncSession, provider_name: str, event: ProviderEvent, seen: dict[uuid.UUID, _Target]
) -> _Target | None:
    query = (
        select(
            Delivery.id,
            Delivery.status,
            Delivery.channel,
            Recipient.id.label("recipient_id"),
            Recipient.email,
            Recipient.phone,
        )
        .join(Notification, Notification.id == Delivery.notification_id)
        .join(Recipient, Recipient.id == Notification.recipient_id)
        .where(Delivery.provider == provider_name)
        .with_for_update(of=Delivery)
    )
    row: Any = None
    if (delivery_id := _uuid(event.delivery_id)) is not None:
        row = (await session.execute(query.where(Delivery.id == delivery_id))).first()
    if row is None and event.provider_message_id:
        row = (
            await session.execute(
                query.where(Delivery.provider_message_id == event.provider_message_id).limit(1)
            )
        ).first()
    if row is None:
        return None
    if row.id not in seen:  # a batch may carry several events for one delivery: keep its latest status
        address = addresses(row.email, row.phone).get(row.channel)
        seen[row.id] = _Target(row.id, DeliveryStatus(row.status), row.channel, address, row.recipient_id)
    return seen[row.id]


async def _already_recorded(session: AsyncSession, delivery_id: uuid.UUID, kind: EventKind) -> bool:
    return bool(
        await session.scalar(
            select(exists().where(DeliveryEvent.delivery_id == delivery_id, DeliveryEvent.kind == str(kind)))
        )
    )


async def _move(
    session: AsyncSession, target: _Target, status: DeliveryStatus, event: ProviderEvent, now: datetime
) -> bool:
    if not can_move(target.status, status):
        return False
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status is not DeliveryStatus.DELIVERED:
        values["last_error"] = f"{status}: {event.detail}" if event.detail else str(status)
    result = await session.execute(
        update(Delivery).where(Delivery.id == target.id, Delivery.status == target.status).values(**values)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    target.status = status
    return True


async def _suppress_if_needed(
    session: AsyncSession, provider_name: str, target: _Target, event: ProviderEvent, now: datetime
) -> None:
    complaint = event.kind is EventKind.COMPLAINED
    if not (complaint or event.hard) or target.channel not in ADDRESSED:
        return
    address = event.address or target.fallback_address
    if not address:
        return
    await suppress(
        session,
        target.channel,
        address,
        SuppressionReason.COMPLAINT if complaint else SuppressionReason.HARD_BOUNCE,
        detail=event.detail,
        source=f"provider:{provider_name}"[:64],
        recipient_id=target.recipient_id,
        now=now,
    )


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None
