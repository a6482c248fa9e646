"""A campaign's live progress: deliveries by status, why some were skipped, and per variant."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Delivery, DeliveryStatus, Notification

# Skip reasons, as the policy words them (preferences/verdict.py, choices.py), grouped for people.
_REASONS = (
    ("opted out", "preference"),
    ("unsubscribed", "preference"),
    ("opt-in", "preference"),
    ("suppressed", "suppression"),
    ("not needed", "fallback"),
    ("campaign cancelled", "cancelled"),
    ("has no", "no address"),
)


@dataclass(frozen=True)
class Progress:
    recipients: int
    statuses: dict[str, int]
    skipped: dict[str, int]  # reason group -> deliveries
    variants: dict[str, dict[str, int]] = field(default_factory=dict)  # variant -> status -> deliveries
    reached: dict[str, int] = field(default_factory=dict)  # variant -> recipients planned


async def progress(session: AsyncSession, campaign_id: uuid.UUID) -> Progress:
    ours = Notification.campaign_id == campaign_id
    per_variant = dict(
        (variant or "", count)
        for variant, count in await session.execute(
            select(Notification.variant, func.count()).where(ours).group_by(Notification.variant)
        )
    )
    reason = case((Delivery.status == DeliveryStatus.SKIPPED, Delivery.last_error), else_=None)
    rows = await session.execute(
        select(Notification.variant, Delivery.status, reason, func.count())
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(ours)
        .group_by(Notification.variant, Delivery.status, reason)
    )
    statuses: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    variants: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for variant, status, why, count in rows:
        statuses[status] += count
        if variant:
            variants[variant][status] += count
        if why is not None:
            skipped[_group(why)] += count
    return Progress(
        recipients=sum(per_variant.values()),
        statuses=dict(statuses),
        skipped=dict(skipped),
        variants={name: dict(c) for name, c in variants.items()},
        reached={name: count for name, count in per_variant.items() if name},
    )


def _group(reason: str) -> str:
    return next((group for words, group in _REASONS if words in reason), "other")
