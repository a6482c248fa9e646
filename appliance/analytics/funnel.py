"""From delivery counts to the rates a marketer reads: delivery, bounce, open, click, unsubscribe.

    sent       the provider took it (sent, delivered, bounced, complained)
    delivered  sent and not bounced: providers without delivery reports count as delivered
    opened     email delivered and opened at least once by a person; clicked likewise
    read       in-app messages delivered and read in the inbox at least once

Opens and clicks are tracked in email only, so their rates divide by delivered email; reads
divide by delivered in-app messages; the other rates divide by everything sent, or delivered,
on every channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..campaigns.engagement import REACHED
from ..db.models import DeliveryStatus
from .counting import Count

FAILED = (DeliveryStatus.FAILED, DeliveryStatus.DEAD)
TRACKED_CHANNEL = "email"
INBOX_CHANNEL = "in_app"


@dataclass(frozen=True)
class Funnel:
    deliveries: int = 0
    sent: int = 0
    bounced: int = 0
    failed: int = 0
    email_delivered: int = 0
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    in_app_delivered: int = 0
    read: int = 0

    @property
    def delivered(self) -> int:
        return self.sent - self.bounced

    @property
    def delivery_rate(self) -> float | None:
        return ratio(self.delivered, self.sent)

    @property
    def bounce_rate(self) -> float | None:
        return ratio(self.bounced, self.sent)

    @property
    def open_rate(self) -> float | None:
        return ratio(self.opened, self.email_delivered)

    @property
    def click_rate(self) -> float | None:
        return ratio(self.clicked, self.email_delivered)

    @property
    def unsubscribe_rate(self) -> float | None:
        return ratio(self.unsubscribed, self.delivered)

    @property
    def read_rate(self) -> float | None:
        return ratio(self.read, self.in_app_delivered)


def ratio(part: int, whole: int) -> float | None:
    """None when there is nothing to divide by: a rate of no messages is unknown, not 0%."""
    return part / whole if whole else None


def funnel(counts: Iterable[Count], *, unsubscribed: int = 0) -> Funnel:
    deliveries = sent = bounced = failed = email_delivered = opened = clicked = in_app_delivered = read = 0
    for count in counts:
        deliveries += count.deliveries
        if count.status in FAILED:
            failed += count.deliveries
        if count.status not in REACHED:
            continue
        sent += count.deliveries
        if count.status == DeliveryStatus.BOUNCED:
            bounced += count.deliveries
        elif count.channel == TRACKED_CHANNEL:
            email_delivered += count.deliveries
            opened += count.opened
            clicked += count.clicked
        elif count.channel == INBOX_CHANNEL:
            in_app_delivered += count.deliveries
            read += count.opened
    return Funnel(
        deliveries,
        sent,
        bounced,
        failed,
        email_delivered,
        opened,
        clicked,
        unsubscribed,
        in_app_delivered,
        read,
    )
