"""Recording what happened: one attempt row per provider call, then the delivery's new status.

With the `fallback` strategy the notification's held channels follow in the same transaction:
the next one is released when this one could not get out, the rest stand down when it did.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    Update,
    case,
    delete,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel, Priority
from ..db.among import among
from ..db.bulk import insert_rows
from ..db.engine import Database
from ..db.json_rows import json_document, json_rows_param
from ..db.models import Attempt, Delivery, DeliveryStatus, Device, SuppressionReason
from ..db.unindexed import unindexed
from ..providers.base import OutcomeKind
from . import suppression
from .claims import Claimed
from .route import AttemptRecord
from .settle import Settlement
from .store import Dispatch

#: Outcomes after which a fallback notification moves on to its next channel.
NOT_OUT = frozenset({DeliveryStatus.FAILED, DeliveryStatus.DEAD, DeliveryStatus.SKIPPED})


@dataclass(frozen=True)
class Round:
    """One delivery's round, as the courier hands it over for recording."""

    claimed: Claimed
    settlement: Settlement
    attempts: Sequence[AttemptRecord] = ()


async def record(
    database: Database, rounds: Sequence[Round], *, now: datetime, queue_lease: timedelta
) -> list[Dispatch]:
    """Record a parcel's rounds together: every attempt and every delivery's new state in one
    statement on PostgreSQL (an insert and an UPDATE on SQLite), then what follows for fallback
    channels and dead addresses, all in one transaction. Returns what to enqueue after the
    commit: the fallback deliveries released, and the retries, each due after its delay — of the
    deliveries still ours only (one another worker claimed meanwhile is that worker's to retry).

    Usually nothing follows (no held channels, no address found dead): then the one statement
    commits on its own, without the round trips of BEGIN and COMMIT."""
    if not rounds:
        return []
    attempts = [_attempt_row(r.claimed, a) for r in rounds for a in r.attempts]
    alone = not any(done.claimed.holds_fallbacks or _finds_dead_addresses(done.attempts) for done in rounds)
    async with database.autocommit() if alone else database.transaction() as session:
        ours = await _settle_deliveries(session, rounds, now, queue_lease, attempts)
        for done in rounds:
            await _forget_dead_addresses(session, done.claimed, done.attempts, now)
        still_ours = [done for done in rounds if done.claimed.delivery_id in ours]
        await _stand_down(session, still_ours, now)
        following = [
            _again(done.claimed, now + done.settlement.retry_in)
            for done in still_ours
            if done.settlement.retry_in is not None
        ]
        for done in still_ours:
            following += await _follow_fallback(session, done.claimed, done.settlement, now, queue_lease)
        return following


def _again(claimed: Claimed, due: datetime) -> Dispatch:
    return Dispatch(claimed.delivery_id, Channel(claimed.channel), Priority(claimed.priority), not_before=due)


def _attempt_row(claimed: Claimed, attempt: AttemptRecord) -> dict[str, object]:
    outcome = attempt.outcome
    values = (
        claimed.delivery_id,
        attempt.provider,
        outcome.kind.value,
        attempt.started_at,
        attempt.latency_ms,
        _message_id(outcome.provider_message_id),
        outcome.error,
    )
    return dict(zip(ATTEMPT_COLUMNS, values, strict=True))


async def _settle_deliveries(
    session: AsyncSession,
    rounds: Sequence[Round],
    now: datetime,
    queue_lease: timedelta,
    attempts: list[dict[str, Any]],
) -> set[uuid.UUID]:
    """One UPDATE for the parcel, the attempt rows inserted along with it; returns the ids that
    were still ours."""
    changes = {r.claimed.delivery_id: _new_values(r, now, queue_lease) for r in rounds}
    tries = {r.claimed.delivery_id: r.claimed.tries for r in rounds}
    if session.bind.dialect.name == "postgresql":
        if unknown := {name for values in changes.values() for name in values} - set(SETTLED):
            raise AssertionError(f"{sorted(unknown)}: list them in SETTLED, or PostgreSQL never sets them")
        given = [
            {
                "id": delivery_id,
                "tries": tries[delivery_id],
                **{name: values.get(name) for name in SETTLED},
                **{f"set_{name}": name in values for name in SETTLED},
            }
            for delivery_id, values in changes.items()
        ]
        documents = {"given": json_document(given), "tried": json_document(attempts)}
        return set((await session.execute(_settling(), documents)).scalars())
    await insert_rows(session, Attempt.__table__, attempts)  # SQLite has no INSERT inside WITH
    table = Delivery.__table__
    columns = sorted({name for values in changes.values() for name in values})
    settle = (
        table.update()
        .where(
            among(session, table.c.id, changes),
            unindexed(table.c.status) == DeliveryStatus.SENDING,
            # Still ours: a worker that outlived its lease finds the try count moved on by the
            # next claim and records its attempts without overwriting that worker's outcome.
            table.c.attempt_count == _per_delivery(table.c.attempt_count, tries, len(changes)),
        )
        .values(
            {
                name: _per_delivery(
                    table.c[name],
                    {id_: values[name] for id_, values in changes.items() if name in values},
                    len(changes),
                )
                for name in columns
            }
        )
        .returning(table.c.id)
    )
    return set((await session.execute(settle)).scalars())


#: What `_new_values` may set, and the columns of an attempt row (`_attempt_row`), in its order.
SETTLED = (
    "status",
    "last_error",
    "updated_at",
    "sent_at",
    "provider",
    "provider_message_id",
    "lease_expires_at",
    "not_before",
    "attempt_count",
)
ATTEMPT_COLUMNS = (
    "delivery_id",
    "provider",
    "outcome",
    "started_at",
    "latency_ms",
    "provider_message_id",
    "error",
)


@cache
def _settling() -> Update:
    """PostgreSQL: the parcel's attempts and new states as two JSON documents of rows, unpacked by
    the server: one statement, built once, for any parcel (a CASE per column and delivery was
    new to build and to look up in the cache every time). One array per column had been the
    parameters before: psycopg dumps an array's items one by one in Python, 47 % of the record's
    CPU (py-spy, G3). A column a round does not set keeps its value."""
    deliveries, attempts = Delivery.__table__, Attempt.__table__
    given = json_rows_param(
        "given",
        {
            "id": deliveries.c.id.type,
            "tries": Integer(),
            **{name: deliveries.c[name].type for name in SETTLED},
            **{f"set_{name}": Boolean() for name in SETTLED},
        },
    )
    tried = json_rows_param("tried", {name: attempts.c[name].type for name in ATTEMPT_COLUMNS})
    return (
        deliveries.update()
        .where(
            deliveries.c.id == given.c.id,
            deliveries.c.status == DeliveryStatus.SENDING,
            deliveries.c.attempt_count == given.c.tries,  # still ours, as in the statement above
        )
        .values(
            {
                name: case((given.c[f"set_{name}"], given.c[name]), else_=deliveries.c[name])
                for name in SETTLED
            }
        )
        .returning(deliveries.c.id)
        .add_cte(attempts.insert().from_select(ATTEMPT_COLUMNS, select(*tried.c)).cte("recorded"))
    )


_MESSAGE_ID_LENGTH: int = Delivery.__table__.c.provider_message_id.type.length  # attempts' the same


def _message_id(given: str | None) -> str | None:
    """A provider's message id as stored: a provider may answer with anything (a webhook's
    X-Request-Id, say), and PostgreSQL refuses a longer value where the record's JSON rows
    are read into their columns; the id's start is what it is looked up by."""
    return None if given is None else given[:_MESSAGE_ID_LENGTH]


def _new_values(done: Round, now: datetime, queue_lease: timedelta) -> dict[str, Any]:
    settlement = done.settlement
    values: dict[str, Any] = {"status": settlement.status, "last_error": settlement.error, "updated_at": now}
    if settlement.status is DeliveryStatus.SENT:
        values.update(sent_at=now, lease_expires_at=None)
        values["provider_message_id"] = _message_id(settlement.provider_message_id)
        values["provider"] = done.attempts[-1].provider if done.attempts else None
    elif settlement.retry_in is not None:
        # Waiting in the broker for its retry; if that message is lost, the sweeper resends it.
        values["lease_expires_at"] = now + settlement.retry_in + queue_lease
        values["not_before"] = settlement.not_before
    else:
        values["lease_expires_at"] = None
    if not settlement.spent_a_try:
        values["attempt_count"] = done.claimed.tries - 1  # the claim counted a try; a wait is not one
    return values


def _per_delivery(column: Any, values: dict[uuid.UUID, Any], parcel: int) -> Any:
    """`column`'s new value for each delivery id, its own value where none is given: one value
    when every delivery of the parcel takes the same (the usual case), else a CASE over the ids."""
    distinct = set(values.values())
    if len(values) == parcel and len(distinct) == 1:
        return type_coerce(distinct.pop(), column.type)
    return case(
        {key: type_coerce(value, column.type) for key, value in values.items()},
        value=Delivery.__table__.c.id,
        else_=column,
    )


async def _stand_down(session: AsyncSession, rounds: Sequence[Round], now: datetime) -> None:
    """Sent: the notification's held fallback channels are not needed. One UPDATE per channel,
    none when no notification of the parcel holds any (the claim read that)."""
    by_channel: dict[str, set[uuid.UUID]] = {}
    for done in rounds:
        if done.settlement.status is DeliveryStatus.SENT and done.claimed.holds_fallbacks:
            by_channel.setdefault(done.claimed.channel, set()).add(done.claimed.notification_id)
    for channel, notification_ids in by_channel.items():
        await session.execute(
            update(Delivery)
            .where(
                among(session, Delivery.notification_id, notification_ids),
                unindexed(Delivery.status) == DeliveryStatus.HELD,
            )
            .values(
                status=DeliveryStatus.SKIPPED, last_error=f"not needed: sent on {channel}", updated_at=now
            )
            .execution_options(synchronize_session=False)  # no Delivery in the session to keep in step
        )


async def _follow_fallback(
    session: AsyncSession, claimed: Claimed, settlement: Settlement, now: datetime, queue_lease: timedelta
) -> list[Dispatch]:
    if not claimed.holds_fallbacks:
        return []  # no channel of its notification waits on this one
    if settlement.status is not DeliveryStatus.THROTTLED and settlement.status not in NOT_OUT:
        return []  # sent (see _stand_down) or waiting for a retry: nothing follows yet
    held = (Delivery.notification_id == claimed.notification_id) & (
        unindexed(Delivery.status) == DeliveryStatus.HELD
    )
    if settlement.status is DeliveryStatus.THROTTLED:
        await session.execute(
            update(Delivery)
            .where(held)
            .values(status=DeliveryStatus.THROTTLED, last_error=settlement.error, updated_at=now)
            .execution_options(synchronize_session=False)
        )
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


def _finds_dead_addresses(attempts: Sequence[AttemptRecord]) -> bool:
    return any(
        attempt.outcome.invalid_tokens or attempt.outcome.kind is OutcomeKind.INVALID_RECIPIENT
        for attempt in attempts
    )


async def _forget_dead_addresses(
    session: AsyncSession, claimed: Claimed, attempts: Sequence[AttemptRecord], now: datetime
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
