"""Store: recipients resolved, deliveries planned, everything written at once: all or nothing.

Nothing is enqueued here: the dispatcher runs after the commit, so the broker never holds an
id the database does not. A lost enqueue is repaired by the sweeper when the lease expires.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

import msgspec
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from ..config.schema import Channel, PolicyConfig, Priority
from ..db.among import among, among_param
from ..db.bulk import insert_tables
from ..db.engine import Database
from ..db.ids import new_id
from ..db.models import Delivery, Device, Notification, Recipient
from ..errors import IdempotencyConflict, RequestRejected
from ..preferences import ledger, slots
from ..preferences.choices import Choices
from ..preferences.verdict import Standing, cap_reached, quiet_until
from . import suppression
from .intake import Accepted
from .planner import Circumstances, PlannedDelivery, plan


# The values made per notification and per delivery are Structs, as the planner's are: built
# in C, several microseconds less per notification than frozen dataclasses (G2, G5).
class Dispatch(msgspec.Struct, frozen=True):
    delivery_id: uuid.UUID
    channel: Channel
    priority: Priority
    not_before: datetime | None = None  # deferred past quiet hours: enqueued with a delay


class Stored(msgspec.Struct, frozen=True):
    notification_id: uuid.UUID
    replayed: bool
    dispatches: tuple[Dispatch, ...] = ()
    send_at: datetime | None = None  # the API leaves these to the scheduler, to enqueue then


StoreResult = Stored | RequestRejected


class Addressee(ledger.Subscriber, Protocol):
    """What planning reads of a recipient: a Recipient row, or a campaign member's columns."""

    @property
    def email(self) -> str | None: ...

    @property
    def phone(self) -> str | None: ...

    @property
    def timezone(self) -> str | None: ...


class KeyUse(msgspec.Struct, frozen=True):
    """What an idempotency key answered first: replayed for a repeat with the same request."""

    request_hash: str | None
    notification_id: uuid.UUID


@dataclass(frozen=True)
class Occasion:
    """Where and when items are stored, and the rules in force."""

    source: str  # cut to the column's length as it is written: `api:` and a key name of up to 63
    now: datetime
    queue_lease: timedelta
    policy: PolicyConfig


async def store(database: Database, items: list[Accepted], occasion: Occasion) -> list[StoreResult]:
    """Write every item that can be written; answer each one on its own, in order."""
    # Without a recipient to create or change, only the rows of db/bulk.py are written: one
    # statement that commits on its own, without the round trips of BEGIN and COMMIT, while each
    # table has fewer than COPY_FROM rows, else statements it wraps in a transaction. The reads
    # before are no less safe outside a transaction: at READ COMMITTED they lock nothing either,
    # and what matters (a key used meanwhile, a recipient deleted) the write's constraints check.
    changes = _profile_changes(items)
    for attempt in range(3):
        try:
            async with database.transaction() if changes else database.autocommit() as session:
                recipients = await _resolve_recipients(session, items, changes)
                return await store_in(session, items, occasion, recipients)
        except IntegrityError:
            # A concurrent request created the same recipient or used the same key first;
            # a second pass sees its row and answers from it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def store_in(
    session: AsyncSession,
    items: list[Accepted],
    occasion: Occasion,
    recipients: Mapping[str, Addressee],
) -> list[StoreResult]:
    """`store` inside the caller's transaction (a campaign batch moves its cursor in the same one),
    for the items' `recipients` by external id, read already: a campaign's members, or what
    `_resolve_recipients` found or made."""
    replays = await _key_uses_of(session, items)
    # Only what these items' channels can use: each lookup is a round trip on every request.
    channels = {channel.value for item in items for channel in item.channels}
    devices = (
        await _device_counts(session, [r.id for r in recipients.values() if r.id is not None])
        if Channel.PUSH.value in channels
        else {}
    )
    suppressed = await suppression.reasons(session, _addresses(recipients.values(), channels))
    # Choices cannot change the verdict of a category nobody may opt out of: not read for it.
    heeding = {item.recipient.id for item in items if item.rules.opt_out}
    choices = await ledger.choices_for(session, [r for key, r in recipients.items() if key in heeding])
    counted = await slots.counted(session, _capped_pairs(items, recipients), occasion.now)
    results: list[StoreResult] = []
    rows = _Rows()
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
        standing = Standing(
            has_email=bool(recipient.email),
            has_phone=bool(recipient.phone),
            device_count=devices.get(recipient.id, 0),
            suppressed=_suppressed_channels(recipient, suppressed),
            choices=choices.get(recipient.id, Choices()),
            timezone=recipient.timezone,
        )
        circumstances = _circumstances(item, standing, counted[recipient.id, item.category], occasion)
        stored = rows.add(item, recipient, standing, circumstances, occasion)
        if item.idempotency_key:  # a repeat later in the same call replays it too
            replays[item.idempotency_key] = KeyUse(item.request_hash, stored.notification_id)
        results.append(stored)
    await rows.insert(session)
    return results


def _replay(record: KeyUse, item: Accepted) -> StoreResult:
    if record.request_hash != item.request_hash:
        return IdempotencyConflict()
    return Stored(notification_id=record.notification_id, replayed=True)


def _circumstances(
    item: Accepted, standing: Standing, counted: list[datetime], occasion: Occasion
) -> Circumstances:
    zone = standing.zone(occasion.policy)
    due = max(occasion.now, item.send_at or occasion.now)
    return Circumstances(
        capped=cap_reached(item.rules.frequency_cap, counted, occasion.now, zone),
        not_before=quiet_until(item.rules, occasion.policy, standing, due)
        or (due if due > occasion.now else None),
    )


def _capped_pairs(items: list[Accepted], recipients: Mapping[str, Addressee]) -> list[slots.Pair]:
    return [
        (recipients[item.recipient.id].id, item.category)
        for item in items
        if item.rules.frequency_cap and item.recipient.id in recipients
    ]


_SOURCE_LENGTH = Notification.__table__.c.source.type.length


@dataclass
class _Rows:
    """The rows a call writes, inserted together: one statement per table, not one per row."""

    notifications: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        item: Accepted,
        recipient: Addressee,
        standing: Standing,
        circumstances: Circumstances,
        occasion: Occasion,
    ) -> Stored:
        now, notification_id = occasion.now, new_id()
        self.notifications.append(
            {
                "id": notification_id,
                "recipient_id": recipient.id,
                "category": item.category,
                "template": item.template,
                "priority": item.priority.value,
                "data": item.data,
                "source": occasion.source[:_SOURCE_LENGTH],
                "created_at": now,
                "campaign_id": item.campaign_id,
                "variant": item.variant,
                "idempotency_key": item.idempotency_key,
                "request_hash": item.request_hash,
            }
        )
        dispatches = []
        for planned in plan(item.category, item.rules, item.channels, standing, circumstances):
            delivery_id = new_id()
            self.deliveries.append(_delivery_row(delivery_id, notification_id, planned, occasion))
            if planned.dispatched:
                dispatches.append(
                    Dispatch(delivery_id, planned.channel, planned.priority, planned.not_before)
                )
        later = item.send_at if item.send_at is not None and item.send_at > now else None
        return Stored(notification_id, replayed=False, dispatches=tuple(dispatches), send_at=later)

    async def insert(self, session: AsyncSession) -> None:
        await session.flush()  # recipients created by this call exist before what refers to them
        await insert_tables(
            session,
            [
                (Notification.__table__, self.notifications),
                (Delivery.__table__, self.deliveries),
            ],
        )


def _delivery_row(
    delivery_id: uuid.UUID, notification_id: uuid.UUID, planned: PlannedDelivery, occasion: Occasion
) -> dict[str, Any]:
    now = occasion.now
    return {
        "id": delivery_id,
        "notification_id": notification_id,
        "channel": planned.channel.value,
        "position": planned.position,
        "priority": planned.priority.value,
        "status": planned.status,
        "last_error": planned.reason,
        "not_before": planned.not_before,
        "lease_expires_at": (planned.not_before or now) + occasion.queue_lease
        if planned.dispatched
        else None,
        "created_at": now,
        "updated_at": now,
    }


async def _key_uses_of(session: AsyncSession, items: list[Accepted]) -> dict[str, KeyUse]:
    keys = {item.idempotency_key for item in items if item.idempotency_key}
    if not keys:
        return {}
    rows = await session.execute(_key_uses(session.bind.dialect.name), {"keys": list(keys)})
    return {key: KeyUse(request_hash, notification_id) for key, request_hash, notification_id in rows}


@cache
def _key_uses(dialect: str) -> Select[Any]:
    """Built once per dialect, like the other statements a send runs: building one took longer
    than running it."""
    table = Notification.__table__.c
    return select(table.idempotency_key, table.request_hash, table.id).where(
        among_param(dialect, table.idempotency_key, "keys")
    )


def _profile_changes(items: list[Accepted]) -> dict[str, list[dict[str, object]]]:
    """The inline profile fields the items give, by recipient, in the items' order."""
    changes: dict[str, list[dict[str, object]]] = {}
    for item in items:
        fields = item.recipient.profile_fields()
        if fields:
            changes.setdefault(item.recipient.id, []).append(fields)
    return changes


async def _resolve_recipients(
    session: AsyncSession, items: list[Accepted], changes: dict[str, list[dict[str, object]]]
) -> dict[str, Addressee]:
    """Existing recipients, updated with inline fields (`changes`); new ones created when fields
    were given.

    Only recipients whose profile changes are loaded as ORM objects: a plain row of the columns
    planning reads costs a fraction of one (no instance state, no JSON attributes decoded).
    """
    unchanged = {item.recipient.id for item in items} - changes.keys()
    found: dict[str, Addressee] = {}
    if unchanged:
        found.update(await _addressees(session, unchanged))
    if changes:
        found.update(await _change_profiles(session, changes))
    return found


async def _addressees(session: AsyncSession, external_ids: Collection[str]) -> dict[str, Addressee]:
    rows = await session.execute(_addressees_of(session.bind.dialect.name), {"ids": list(external_ids)})
    return {row.external_id: row for row in rows}


@cache
def _addressees_of(dialect: str) -> Select[Any]:
    columns = Recipient.__table__.c
    return select(
        columns.id,
        columns.external_id,
        columns.email,
        columns.phone,
        columns.timezone,
        columns.unsubscribed_all,
    ).where(among_param(dialect, columns.external_id, "ids"))


async def _change_profiles(
    session: AsyncSession, changes: dict[str, list[dict[str, object]]]
) -> dict[str, Recipient]:
    """Each recipient's changes applied in the order the items gave them."""
    rows = await session.scalars(
        select(Recipient)
        .where(among(session, Recipient.external_id, changes))
        .options(lazyload(Recipient.devices))  # counted separately; loading them costs a query per batch
        .execution_options(populate_existing=True)
    )
    found = {row.external_id: row for row in rows}
    for external_id, field_sets in changes.items():
        recipient = found.get(external_id)
        if recipient is None:
            recipient = Recipient(id=uuid.uuid4(), external_id=external_id, attributes={})
            session.add(recipient)
            found[external_id] = recipient
        for fields in field_sets:
            apply_profile(recipient, fields)
    return found


def apply_profile(recipient: Recipient, fields: dict[str, object]) -> None:
    """Set the given fields; attributes merge key by key instead of replacing the whole map."""
    for name, value in fields.items():
        if name == "attributes":
            recipient.attributes = {**(recipient.attributes or {}), **value}  # type: ignore[dict-item]
        else:
            setattr(recipient, name, value)


def _addresses(recipients: Iterable[Addressee], channels: set[str]) -> list[suppression.Key]:
    if channels.isdisjoint(suppression.ADDRESSED):  # push, in-app, webhook: no address to check
        return []
    return [
        (channel, address)
        for r in recipients
        for channel, address in suppression.addresses(r.email, r.phone).items()
        if channel in channels
    ]


def _suppressed_channels(recipient: Addressee, found: dict[suppression.Key, str]) -> dict[Channel, str]:
    if not found:  # nothing this call's recipients use is suppressed: the usual case
        return {}
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
        .where(among(session, Device.recipient_id, recipient_ids))
        .group_by(Device.recipient_id)
    )
    return {recipient_id: count for recipient_id, count in rows}
