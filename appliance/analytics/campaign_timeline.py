"""A campaign's funnel over time: when each variant's recipients first opened, and first clicked.

Each recipient counts once per step, in the bucket of their first open (or click) by a person,
so the bars add up to the unique counts of the campaign's funnel. The bucket is the smallest
that keeps the span since launch within `MAX_BARS`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Delivery, DeliveryEvent, Notification
from .counting import epoch_bucket

MAX_BARS = 48
_SIZES = [timedelta(minutes=m) for m in (1, 5, 15, 60, 180, 360, 720, 1440)]
STEPS = ("opened", "clicked")


@dataclass(frozen=True)
class Timeline:
    starts: list[datetime]  # each bucket's start, oldest first
    bucket: timedelta
    counts: dict[str, list[dict[str, int]]]  # step -> per bucket: variant -> first-time recipients


def bucket_for(span: timedelta) -> timedelta:
    return next((size for size in _SIZES if span <= size * MAX_BARS), _SIZES[-1])


async def timeline(session: AsyncSession, campaign_id: uuid.UUID, since: datetime, now: datetime) -> Timeline:
    bucket = bucket_for(now - since)
    first = (
        select(
            Notification.variant.label("variant"),
            DeliveryEvent.kind.label("kind"),
            func.min(DeliveryEvent.occurred_at).label("at"),
        )
        .join(Delivery, Delivery.notification_id == Notification.id)
        .join(DeliveryEvent, DeliveryEvent.delivery_id == Delivery.id)
        .where(
            Notification.campaign_id == campaign_id,
            DeliveryEvent.kind.in_(STEPS),
            DeliveryEvent.automated.is_(None),  # mail proxies and link scanners are not people
        )
        .group_by(Notification.id, Notification.variant, DeliveryEvent.kind)
        .subquery()
    )
    at = epoch_bucket(first.c.at, bucket, session.bind.dialect.name)
    rows = await session.execute(
        select(at, first.c.variant, first.c.kind, func.count()).group_by(at, first.c.variant, first.c.kind)
    )
    start = _floor(since, bucket)
    starts = [start + bucket * n for n in range(int((now - start) / bucket) + 1)]
    counts = {step: [dict[str, int]() for _ in starts] for step in STEPS}
    for epoch, variant, kind, recipients in rows:
        index = min(max(int((datetime.fromtimestamp(int(epoch), UTC) - start) / bucket), 0), len(starts) - 1)
        counts[kind][index][variant or ""] = recipients
    return Timeline(starts, bucket, counts)


def _floor(moment: datetime, bucket: timedelta) -> datetime:
    seconds = int(bucket.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)
