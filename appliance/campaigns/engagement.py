"""Who a campaign's variants reached, and who of them opened and clicked: unique recipients.

One notification per (campaign, recipient), so counting distinct notifications counts people.
Opens and clicks flagged as bots or prefetchers are left out: a mail proxy that fetches every
pixel would otherwise crown whichever variant it happened to scan most.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Delivery, DeliveryEvent, DeliveryStatus, Notification
from .winner import Score

#: Delivery statuses that mean the provider took the message.
REACHED = (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED, DeliveryStatus.COMPLAINED)
KINDS = ("opened", "clicked")


async def engagement(session: AsyncSession, campaign_id: uuid.UUID) -> dict[str, dict[str, int]]:
    """variant -> {"reached": n, "opened": n, "clicked": n}, in unique recipients."""
    ours = Notification.campaign_id == campaign_id
    counts: defaultdict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(("reached", *KINDS), 0))
    reached = await session.execute(
        select(Notification.variant, func.count(func.distinct(Notification.id)))
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(ours, Notification.variant.is_not(None), Delivery.status.in_(REACHED))
        .group_by(Notification.variant)
    )
    for variant, count in reached:
        counts[variant]["reached"] = count
    events = await session.execute(
        select(Notification.variant, DeliveryEvent.kind, func.count(func.distinct(Notification.id)))
        .join(Delivery, Delivery.notification_id == Notification.id)
        .join(DeliveryEvent, DeliveryEvent.delivery_id == Delivery.id)
        .where(ours, Notification.variant.is_not(None), DeliveryEvent.kind.in_(KINDS))
        .where(DeliveryEvent.automated.is_(None))
        .group_by(Notification.variant, DeliveryEvent.kind)
    )
    for variant, kind, count in events:
        counts[variant][kind] = count
    return dict(counts)


def scores(found: dict[str, dict[str, int]], variants: list[str], metric: str) -> dict[str, Score]:
    """Each variant's successes by `metric` ("opens" or "clicks") out of the recipients it reached."""
    kind = "opened" if metric == "opens" else "clicked"
    return {
        name: Score(found.get(name, {}).get(kind, 0), found.get(name, {}).get("reached", 0))
        for name in variants
    }
