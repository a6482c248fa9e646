"""Claiming a delivery: the lease that makes one worker its owner until it settles or expires."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, Executable, FromClause, Row, Select, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel
from ..db.among import among, among_param
from ..db.engine import Database
from ..db.models import Campaign, Delivery, DeliveryStatus, Device, Notification, Recipient
from ..db.unindexed import unindexed
from ..preferences import ledger
from ..preferences.choices import Choices
from ..preferences.verdict import Standing
from . import suppression

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecipientView:
    id: uuid.UUID
    external_id: str
    email: str | None
    phone: str | None
    locale: str | None
    timezone: str | None
    attributes: dict[str, Any]
    device_tokens: tuple[str, ...]
    unsubscribed_all: bool = False

    def template_context(self) -> dict[str, Any]:
        return {
            **self.attributes,
            "id": self.external_id,
            "email": self.email,
            "phone": self.phone,
            "locale": self.locale,
            "timezone": self.timezone,
        }


@dataclass(frozen=True)
class Claimed:
    """Everything a worker needs to send one delivery, read when it was claimed."""

    delivery_id: uuid.UUID
    notification_id: uuid.UUID
    channel: str
    priority: str
    tries: int
    category: str
    template: str
    data: dict[str, Any]
    recipient: RecipientView
    standing: Standing  # as it is now: the recipient may have opted out since planning
    not_before: datetime | None = None  # scheduled (send_at, local time) or deferred until then
    variant: str | None = None  # the A/B variant to render
    campaign_state: str | None = None  # of the campaign it belongs to: paused or cancelled stop it
    campaign_id: uuid.UUID | None = None
    holds_fallbacks: bool = False  # other channels of its notification wait (held) on this one

    @property
    def address(self) -> str | None:
        """The recipient's own address on this channel (push and the rest have none)."""
        return suppression.addresses(self.recipient.email, self.recipient.phone).get(self.channel)


def claimable(now: datetime | BindParameter[datetime]) -> Any:
    """Queued, or held by a worker whose lease ran out (it died or lost its way)."""
    status = unindexed(Delivery.status)  # claims name their ids: looked up by those
    return or_(
        status == DeliveryStatus.QUEUED,
        (status == DeliveryStatus.SENDING) & (Delivery.lease_expires_at < now),
    )


@cache
def _holds_fallbacks() -> Any:
    """Whether a delivery's notification has channels held back for it (strategy `fallback`):
    only then does its outcome change other rows (record.py). Read with the claim, as data, so
    a config reloaded since planning cannot strand a held channel. Built once, like the claim."""
    deliveries = Delivery.__table__
    sibling = deliveries.alias("sibling")
    return (
        exists()
        .where(sibling.c.notification_id == deliveries.c.notification_id)
        .where(unindexed(sibling.c.status) == DeliveryStatus.HELD)
        .label("holds_fallbacks")
    )


async def claim(
    database: Database,
    delivery_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    lease: timedelta,
    heeds_choices: Callable[[str], bool] = lambda category: True,
    deferred: bool = False,
) -> list[Claimed]:
    """Take the deliveries for `lease`; those settled already or held by another worker's live
    lease are left out (a duplicate message, or a sweep's resend).

    On PostgreSQL the taking and the reading of each delivery's notification and recipient are
    one statement that commits on its own: a parcel's claim is one round trip, not the four of
    a transaction around two statements — for a parcel of one, that was most of what a delivery
    costs (docs/benchmarks.md). What else a send depends on is read after it, only where some
    delivery of the parcel needs it. `heeds_choices(category)` False: the recipient's
    per-category choices cannot change the verdict (a category they may not opt out of), so
    they are not read. `deferred`: the parcel may start a little later; on SQLite, writers that
    come up to a second after it go first (db/sqlite_writers.py).
    """
    async with database.autocommit(deferred=deferred) as session:
        taken = await _take(session, delivery_ids, now, lease)
        if not taken:
            return []
        try:
            found = await _Surroundings.read(session, taken, heeds_choices)
        except Exception:
            await _let_go(database, [row.delivery_id for row in taken], now + lease)
            raise
    return [found.claimed(row) for row in taken]


async def _let_go(database: Database, delivery_ids: list[uuid.UUID], leased_until: datetime) -> None:
    """Undo a take whose reads failed, as the rollback of one transaction did: queued again,
    the try not counted, at once claimable by the message's retry (not after a whole lease).
    SQLite's take is still in its transaction, which rolls back by itself."""
    if database.is_sqlite:
        return
    deliveries = Delivery.__table__
    try:
        async with database.autocommit() as session:
            await session.execute(
                deliveries.update()
                .where(
                    among(session, deliveries.c.id, delivery_ids),
                    deliveries.c.status == DeliveryStatus.SENDING,
                    deliveries.c.lease_expires_at == leased_until,  # still this take's
                )
                .values(status=DeliveryStatus.QUEUED, attempt_count=deliveries.c.attempt_count - 1)
            )
    except Exception:  # the database is gone too: the lease lapses and the sweeper resends them
        log.warning("could not give back %d deliveries whose claim failed", len(delivery_ids), exc_info=True)


async def _take(
    session: AsyncSession, delivery_ids: Sequence[uuid.UUID], now: datetime, lease: timedelta
) -> Sequence[Row[Any]]:
    """The deliveries taken, each with the columns of its notification and recipient."""
    dialect = session.bind.dialect.name
    values = {"ids": list(delivery_ids), "now": now, "lease_until": now + lease}
    if dialect == "postgresql":
        return (await session.execute(_taking(dialect), values)).all()
    # SQLite has no UPDATE inside WITH: the same in two statements of the session's transaction.
    taken = (await session.execute(_taking(dialect), values)).scalars().all()
    return (await session.execute(_reading_taken(), {"taken": list(taken)})).all() if taken else []


@cache
def _taking(dialect: str) -> Executable:
    """The claim's UPDATE, built once per dialect: building it took more CPU than running it.
    On PostgreSQL it returns what `_sending` reads; elsewhere, the ids taken."""
    deliveries = Delivery.__table__
    # Core, not the ORM's bulk UPDATE: no session objects to synchronize.
    take = (
        deliveries.update()
        .where(among_param(dialect, deliveries.c.id, "ids"), claimable(bindparam("now")))
        .values(
            status=DeliveryStatus.SENDING,
            lease_expires_at=bindparam("lease_until"),
            attempt_count=deliveries.c.attempt_count + 1,
            updated_at=bindparam("now"),
        )
    )
    if dialect != "postgresql":
        return take.returning(deliveries.c.id)
    taken = take.returning(
        deliveries.c.id,
        deliveries.c.notification_id,
        deliveries.c.channel,
        deliveries.c.priority,
        deliveries.c.attempt_count,
        deliveries.c.not_before,
        _holds_fallbacks(),
    ).cte("taken")
    return _sending(taken, taken.c.holds_fallbacks)


@cache
def _reading_taken() -> Executable:
    deliveries = Delivery.__table__
    return _sending(deliveries, _holds_fallbacks()).where(
        deliveries.c.id.in_(bindparam("taken", expanding=True))
    )


def _sending(deliveries: FromClause, holds_fallbacks: Any) -> Select[Any]:
    """A claimed delivery's columns, its notification's and its recipient's: what a send reads."""
    nc, rc = Notification.__table__.c, Recipient.__table__.c
    return (
        select(
            deliveries.c.id.label("delivery_id"),
            deliveries.c.notification_id,
            deliveries.c.channel,
            deliveries.c.priority,
            deliveries.c.attempt_count.label("tries"),
            deliveries.c.not_before,
            holds_fallbacks.label("holds_fallbacks"),
            nc.recipient_id,
            nc.category,
            nc.template,
            nc.data,
            nc.variant,
            nc.campaign_id,
            rc.external_id,
            rc.email,
            rc.phone,
            rc.locale,
            rc.timezone,
            rc.attributes,
            rc.unsubscribed_all,
        )
        .join_from(deliveries, Notification.__table__, nc.id == deliveries.c.notification_id)
        .join(Recipient.__table__, rc.id == nc.recipient_id)
    )


@dataclass(frozen=True)
class _Surroundings:
    """What the claimed deliveries' sends depend on besides their own rows, each read once for
    the whole parcel, and only where a delivery of it needs it."""

    recipients: dict[uuid.UUID, RecipientView]  # without device tokens: those are per channel
    tokens: dict[uuid.UUID, tuple[str, ...]]
    suppressed: dict[suppression.Key, str]
    choices: dict[uuid.UUID, Choices]
    campaign_states: dict[uuid.UUID, str]

    @classmethod
    async def read(
        cls, session: AsyncSession, taken: Sequence[Row[Any]], heeds_choices: Callable[[str], bool]
    ) -> _Surroundings:
        recipients = {row.recipient_id: _recipient_view(row) for row in taken}
        pushed = {row.recipient_id for row in taken if row.channel == "push"}
        heeding = {row.recipient_id for row in taken if heeds_choices(row.category)}
        keys = [
            (row.channel, address)
            for row in taken
            if (address := _address(recipients[row.recipient_id], row.channel))
        ]
        return cls(
            recipients=recipients,
            tokens=await _device_tokens(session, pushed),
            suppressed=await suppression.reasons(session, keys),
            choices=await ledger.choices_for(session, [recipients[id_] for id_ in heeding]),
            campaign_states=await _campaign_states(
                session, {row.campaign_id for row in taken if row.campaign_id}
            ),
        )

    def claimed(self, row: Row[Any]) -> Claimed:
        recipient = self.recipients[row.recipient_id]
        channel = row.channel
        tokens = self.tokens.get(recipient.id, ()) if channel == "push" else ()
        address = _address(recipient, channel)
        reason = self.suppressed.get((channel, suppression.normalize(channel, address))) if address else None
        standing = Standing(
            has_email=bool(recipient.email),
            has_phone=bool(recipient.phone),
            device_count=len(tokens),
            suppressed={Channel(channel): reason} if reason else {},
            choices=self.choices.get(recipient.id, Choices(unsubscribed_all=recipient.unsubscribed_all)),
            timezone=recipient.timezone,
        )
        return Claimed(
            standing=standing,
            not_before=row.not_before,
            variant=row.variant,
            campaign_state=self.campaign_states.get(row.campaign_id) if row.campaign_id else None,
            campaign_id=row.campaign_id,
            delivery_id=row.delivery_id,
            notification_id=row.notification_id,
            channel=channel,
            priority=row.priority,
            tries=row.tries,
            category=row.category,
            template=row.template,
            data=row.data,
            recipient=replace(recipient, device_tokens=tokens) if tokens else recipient,
            holds_fallbacks=bool(row.holds_fallbacks),
        )


def _recipient_view(row: Row[Any]) -> RecipientView:
    return RecipientView(
        id=row.recipient_id,
        external_id=row.external_id,
        email=row.email,
        phone=row.phone,
        locale=row.locale,
        timezone=row.timezone,
        attributes=row.attributes or {},
        device_tokens=(),
        unsubscribed_all=bool(row.unsubscribed_all),
    )


def _address(recipient: RecipientView, channel: str) -> str | None:
    return suppression.addresses(recipient.email, recipient.phone).get(channel)


async def _device_tokens(
    session: AsyncSession, recipient_ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, ...]]:
    if not recipient_ids:
        return {}
    tokens: dict[uuid.UUID, list[str]] = {}
    rows = await session.execute(
        select(Device.recipient_id, Device.token).where(among(session, Device.recipient_id, recipient_ids))
    )
    for recipient_id, token in rows:
        tokens.setdefault(recipient_id, []).append(token)
    return {recipient_id: tuple(found) for recipient_id, found in tokens.items()}


async def _campaign_states(session: AsyncSession, campaign_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(Campaign.id, Campaign.state).where(among(session, Campaign.id, campaign_ids))
    )
    return {campaign_id: state for campaign_id, state in rows}
