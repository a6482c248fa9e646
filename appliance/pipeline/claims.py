"""Claiming a delivery: the lease that makes one worker its owner until it settles or expires."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel
from ..db.among import among
from ..db.engine import Database
from ..db.models import Campaign, Delivery, DeliveryStatus, Device, Notification, Recipient
from ..preferences import ledger
from ..preferences.choices import Choices
from ..preferences.verdict import Standing
from . import suppression


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
    """Everything a worker needs to send one delivery, read in the claiming transaction."""

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


def claimable(now: datetime) -> Any:
    """Queued, or held by a worker whose lease ran out (it died or lost its way)."""
    return or_(
        Delivery.status == DeliveryStatus.QUEUED,
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_expires_at < now),
    )


def _holds_fallbacks() -> Any:
    """Whether a delivery's notification has channels held back for it (strategy `fallback`):
    only then does its outcome change other rows (record.py). Read with the claim, as data, so
    a config reloaded since planning cannot strand a held channel."""
    deliveries = Delivery.__table__
    sibling = deliveries.alias("sibling")
    return (
        exists()
        .where(sibling.c.notification_id == deliveries.c.notification_id)
        .where(sibling.c.status == DeliveryStatus.HELD)
        .label("holds_fallbacks")
    )


#: Built once: an alias costs more to set up than the claim's own statement.
HOLDS_FALLBACKS = _holds_fallbacks()


async def claim(
    database: Database,
    delivery_ids: Sequence[uuid.UUID],
    *,
    now: datetime,
    lease: timedelta,
    heeds_choices: Callable[[str], bool] = lambda category: True,
) -> list[Claimed]:
    """Take the deliveries for `lease`, in one transaction; those settled already or held by
    another worker's live lease are left out (a duplicate message, or a sweep's resend).

    A parcel of ids costs the same half-dozen statements as a single one: that, not the provider
    call, is what a delivery costs (docs/benchmarks.md). `heeds_choices(category)` False: the
    recipient's per-category choices cannot change the verdict (a category they may not opt out
    of), so they are not read.
    """
    deliveries = Delivery.__table__
    async with database.transaction() as session:
        taken = (
            await session.execute(
                # Core, not the ORM's bulk UPDATE: no session objects to synchronize, and its
                # per-statement bookkeeping was a fifth of a single delivery's claim.
                deliveries.update()
                .where(among(session, deliveries.c.id, delivery_ids), claimable(now))
                .values(
                    status=DeliveryStatus.SENDING,
                    lease_expires_at=now + lease,
                    attempt_count=deliveries.c.attempt_count + 1,
                    updated_at=now,
                )
                .returning(
                    deliveries.c.id,
                    deliveries.c.notification_id,
                    deliveries.c.channel,
                    deliveries.c.priority,
                    deliveries.c.attempt_count,
                    deliveries.c.not_before,
                    HOLDS_FALLBACKS,
                )
            )
        ).all()
        if not taken:
            return []
        found = await _Surroundings.read(session, taken, heeds_choices)
    return [found.claimed(*row) for row in taken]


@dataclass(frozen=True)
class _Surroundings:
    """What the claimed deliveries' sends depend on, each read once for the whole parcel."""

    notifications: dict[uuid.UUID, Row[Any]]
    recipients: dict[uuid.UUID, RecipientView]  # without device tokens: those are per channel
    tokens: dict[uuid.UUID, tuple[str, ...]]
    suppressed: dict[suppression.Key, str]
    choices: dict[uuid.UUID, Choices]
    campaign_states: dict[uuid.UUID, str]

    @classmethod
    async def read(
        cls, session: AsyncSession, taken: Sequence[Row[Any]], heeds_choices: Callable[[str], bool]
    ) -> _Surroundings:
        # Plain rows of the columns a send reads: ORM instances cost more to build than to fetch.
        nc, rc = Notification.__table__.c, Recipient.__table__.c
        rows = (
            await session.execute(
                select(
                    nc.id,
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
                .join_from(Notification.__table__, Recipient.__table__, nc.recipient_id == rc.id)
                .where(among(session, nc.id, {row.notification_id for row in taken}))
            )
        ).all()
        notifications = {row.id: row for row in rows}
        recipients = {row.recipient_id: _recipient_view(row) for row in rows}
        pushed = {notifications[row.notification_id].recipient_id for row in taken if row.channel == "push"}
        heeding = {n.recipient_id for n in notifications.values() if heeds_choices(n.category)}
        keys = [
            (row.channel, address)
            for row in taken
            if (address := _address(recipients[notifications[row.notification_id].recipient_id], row.channel))
        ]
        return cls(
            notifications=notifications,
            recipients=recipients,
            tokens=await _device_tokens(session, pushed),
            suppressed=await suppression.reasons(session, keys),
            choices=await ledger.choices_for(session, [recipients[id_] for id_ in heeding]),
            campaign_states=await _campaign_states(
                session, {n.campaign_id for n in notifications.values() if n.campaign_id}
            ),
        )

    def claimed(
        self,
        delivery_id: uuid.UUID,
        notification_id: uuid.UUID,
        channel: str,
        priority: str,
        tries: int,
        not_before: datetime | None,
        holds_fallbacks: bool,
    ) -> Claimed:
        notification = self.notifications[notification_id]
        recipient = self.recipients[notification.recipient_id]
        tokens = self.tokens.get(recipient.id, ()) if channel == "push" else ()
        address = _address(recipient, channel)
        reason = self.suppressed.get((channel, suppression.normalize(channel, address))) if address else None
        standing = Standing(
            has_email=bool(recipient.email),
            has_phone=bool(recipient.phone),
            device_count=len(tokens),
            suppressed={Channel(channel): reason} if reason else {},
            choices=self.choices.get(
                recipient.id, Choices(unsubscribed_all=bool(recipient.unsubscribed_all))
            ),
            timezone=recipient.timezone,
        )
        return Claimed(
            standing=standing,
            not_before=not_before,
            variant=notification.variant,
            campaign_state=self.campaign_states.get(notification.campaign_id)
            if notification.campaign_id
            else None,
            campaign_id=notification.campaign_id,
            delivery_id=delivery_id,
            notification_id=notification_id,
            channel=channel,
            priority=priority,
            tries=tries,
            category=notification.category,
            template=notification.template,
            data=notification.data,
            recipient=replace(recipient, device_tokens=tokens) if tokens else recipient,
            holds_fallbacks=holds_fallbacks,
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
