"""Deliveries counted by time bucket, category, channel and status: live from the tables, or from the rollup.

Both sources are selects of the same columns (at, category, channel, status, deliveries, opened,
clicked), so one grouping serves the rollup refresh, the last-hour view (finer than an hour, so
live) and everything read from the rollup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

from sqlalchemy import BigInteger, ColumnElement, Integer, Select, case, cast, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.models import Delivery, DeliveryEvent, DeliveryRollup, Notification

Dimension = Literal["bucket", "category", "channel", "status"]
ALL_DIMENSIONS: tuple[Dimension, ...] = ("bucket", "category", "channel", "status")


class Count(NamedTuple):
    """One group; a dimension it was not grouped by is None."""

    bucket: datetime | None
    category: str | None
    channel: str | None
    status: str | None
    deliveries: int
    opened: int
    clicked: int


def epoch_bucket(moment: ColumnElement[datetime], size: timedelta, dialect: str) -> ColumnElement[int]:
    """The bucket's start in whole seconds since 1970, in SQL: both databases, no time zone surprises."""
    seconds = int(size.total_seconds())
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", moment) / seconds), BigInteger) * seconds
    return cast(func.strftime("%s", moment), Integer) // seconds * seconds


def _engaged(*kinds: str) -> ColumnElement[int]:
    # Machine-made opens and clicks (mail proxies, link scanners) are left out, as on campaign pages.
    found = exists().where(
        DeliveryEvent.delivery_id == Delivery.id,
        DeliveryEvent.kind.in_(kinds),
        DeliveryEvent.automated.is_(None),
    )
    return case((found, 1), else_=0)


def live(start: datetime, end: datetime, category: str | None = None) -> Select[tuple[object, ...]]:
    """One row per delivery created in [start, end)."""
    query = (
        select(
            Delivery.created_at.label("at"),
            Notification.category.label("category"),
            Delivery.channel.label("channel"),
            Delivery.status.label("status"),
            literal(1).label("deliveries"),
            _engaged("opened", "read").label("opened"),  # an in-app message is opened by being read
            _engaged("clicked").label("clicked"),
        )
        .join(Notification, Notification.id == Delivery.notification_id)
        .where(Delivery.created_at >= start, Delivery.created_at < end)
    )
    return query.where(Notification.category == category) if category else query


def rolled_up(start: datetime, end: datetime, category: str | None = None) -> Select[tuple[object, ...]]:
    """The rollup's rows for the hours in [start, end)."""
    query = select(
        DeliveryRollup.hour.label("at"),
        DeliveryRollup.category,
        DeliveryRollup.channel,
        DeliveryRollup.status,
        DeliveryRollup.deliveries,
        DeliveryRollup.opened,
        DeliveryRollup.clicked,
    ).where(DeliveryRollup.hour >= start, DeliveryRollup.hour < end)
    return query.where(DeliveryRollup.category == category) if category else query


async def grouped(
    session: AsyncSession,
    source: Select[tuple[object, ...]],
    dimensions: Sequence[Dimension],
    bucket: timedelta,
) -> list[Count]:
    rows = source.subquery()
    dialect = session.bind.dialect.name
    columns: dict[Dimension, ColumnElement[object]] = {
        "bucket": epoch_bucket(rows.c.at, bucket, dialect),
        "category": rows.c.category,
        "channel": rows.c.channel,
        "status": rows.c.status,
    }
    keys = [columns[name] for name in dimensions]
    sums = [func.sum(rows.c[name]) for name in ("deliveries", "opened", "clicked")]
    result = await session.execute(select(*keys, *sums).group_by(*keys))
    return [_count(dict(zip(dimensions, row[: len(keys)], strict=True)), row[len(keys) :]) for row in result]


def _count(keys: dict[Dimension, Any], sums: Sequence[Any]) -> Count:
    epoch = keys.get("bucket")
    return Count(
        bucket=datetime.fromtimestamp(int(epoch), UTC) if epoch is not None else None,
        category=keys.get("category"),
        channel=keys.get("channel"),
        status=keys.get("status"),
        deliveries=int(sums[0] or 0),
        opened=int(sums[1] or 0),
        clicked=int(sums[2] or 0),
    )
