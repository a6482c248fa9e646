"""Claiming a delivery: the lease that makes one worker its owner until it settles or expires."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import lazyload

from ..config.schema import Channel
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


async def claim(
    database: Database,
    delivery_id: uuid.UUID,
    *,
    now: datetime,
    lease: timedelta,
    heeds_choices: Callable[[str], bool] = lambda category: True,
) -> Claimed | None:
    """Take the delivery for `lease`; None when it is settled or another worker holds it.

    `heeds_choices(category)` False: the recipient's per-category choices cannot change the
    verdict (a category they may not opt out of), so they are not read — a query per send saved.
    """
    async with database.transaction() as session:
        taken = await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, claimable(now))
            .values(
                status=DeliveryStatus.SENDING,
                lease_expires_at=now + lease,
                attempt_count=Delivery.attempt_count + 1,
                updated_at=now,
            )
            .returning(
                Delivery.notification_id,
                Delivery.channel,
                Delivery.priority,
                Delivery.attempt_count,
                Delivery.not_before,
            )
        )
        row = taken.one_or_none()
        if row is None:
            return None
        notification_id, channel, priority, tries, not_before = row
        notification, recipient = (
            await session.execute(
                select(Notification, Recipient)
                .join(Recipient, Notification.recipient_id == Recipient.id)
                .where(Notification.id == notification_id)
                # Only these two rows: the models' eager relationships (every delivery of the
                # notification with its attempts and events, the devices) cost five more queries
                # per send, and the devices are read below only for push.
                .options(lazyload("*"))
            )
        ).one()
        tokens = (
            tuple(await session.scalars(select(Device.token).where(Device.recipient_id == recipient.id)))
            if channel == "push"
            else ()
        )
        address = suppression.addresses(recipient.email, recipient.phone).get(channel)
        found = await suppression.reasons(session, [(channel, address)] if address else [])
        standing = Standing(
            has_email=bool(recipient.email),
            has_phone=bool(recipient.phone),
            device_count=len(tokens),
            suppressed={Channel(channel): reason for reason in found.values()},
            choices=(
                (await ledger.choices_for(session, [recipient]))[recipient.id]
                if heeds_choices(notification.category)
                else Choices(unsubscribed_all=bool(recipient.unsubscribed_all))
            ),
            timezone=recipient.timezone,
        )
        return Claimed(
            standing=standing,
            not_before=not_before,
            variant=notification.variant,
            campaign_state=(
                await session.scalar(select(Campaign.state).where(Campaign.id == notification.campaign_id))
                if notification.campaign_id
                else None
            ),
            campaign_id=notification.campaign_id,
            delivery_id=delivery_id,
            notification_id=notification_id,
            channel=channel,
            priority=priority,
            tries=tries,
            category=notification.category,
            template=notification.template,
            data=notification.data,
            recipient=RecipientView(
                id=recipient.id,
                external_id=recipient.external_id,
                email=recipient.email,
                phone=recipient.phone,
                locale=recipient.locale,
                timezone=recipient.timezone,
                attributes=recipient.attributes or {},
                device_tokens=tokens,
            ),
        )
