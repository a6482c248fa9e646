"""Delivery analytics over the API: the figures the dashboard and the category pages show."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import QueryParameter

from ...analytics.funnel import Funnel
from ...analytics.overview import Overview, by_category, overview
from ...analytics.queues import queue_loads
from ...analytics.windows import TimeRange, Window, window
from ...db.types import utcnow
from ...errors import NotFound
from ..services import Services, ServicesDep
from .operations import ProviderOut, providers_out

_RANGES = "1h (5-minute buckets), 24h (hours), 7d or 30d (days)"
RangeQuery = Annotated[TimeRange, QueryParameter(name="range", description=_RANGES)]
CategoryQuery = Annotated[str | None, QueryParameter(max_length=64, description="only this category")]


class FunnelOut(msgspec.Struct):
    deliveries: int  # planned, whatever became of them
    sent: int  # the provider took it
    delivered: int  # sent and not bounced
    bounced: int
    failed: int  # failed or dead: every try used
    email_delivered: int  # what open and click rates divide by
    opened: int  # email delivered and opened by a person
    clicked: int
    unsubscribed: int
    delivery_rate: float | None  # None: nothing to divide by
    bounce_rate: float | None
    open_rate: float | None
    click_rate: float | None
    unsubscribe_rate: float | None
    in_app_delivered: int  # what the read rate divides by
    read: int  # in-app messages read in the inbox
    read_rate: float | None


class WindowOut(msgspec.Struct):
    range: str
    start: datetime
    end: datetime
    bucket_s: int


class OverviewOut(msgspec.Struct):
    window: WindowOut
    total: FunnelOut
    channels: dict[str, FunnelOut]


class PointOut(msgspec.Struct):
    start: datetime
    channel: str
    status: str
    deliveries: int
    opened: int
    clicked: int


class SeriesOut(msgspec.Struct):
    window: WindowOut
    points: list[PointOut]


class CategoriesOut(msgspec.Struct):
    window: WindowOut
    categories: dict[str, FunnelOut]


class QueueOut(msgspec.Struct):
    name: str
    depth: int  # messages on the broker not yet taken by a worker, delayed ones included
    lag_s: float | None  # how long the oldest ready one has waited


class AnalyticsController(Controller):
    path = "/v1/analytics"
    tags = ["analytics"]

    @get("/overview", summary="Totals and rates, overall and per channel")
    async def overview(
        self, services: ServicesDep, time_range: RangeQuery = TimeRange.DAY, category: CategoryQuery = None
    ) -> OverviewOut:
        found = await _overview(services, time_range, category)
        channels = {name: funnel_out(f) for name, f in sorted(found.channels.items())}
        return OverviewOut(window_out(time_range, found.window), funnel_out(found.total), channels)

    @get("/series", summary="Deliveries per time bucket, channel and status")
    async def series(
        self, services: ServicesDep, time_range: RangeQuery = TimeRange.DAY, category: CategoryQuery = None
    ) -> SeriesOut:
        found = await _overview(services, time_range, category)
        points = [
            PointOut(c.bucket, c.channel or "", c.status or "", c.deliveries, c.opened, c.clicked)
            for c in sorted(found.series, key=lambda c: (c.bucket, c.channel or "", c.status or ""))
            if c.bucket is not None
        ]
        return SeriesOut(window_out(time_range, found.window), points)

    @get("/categories", summary="Totals and rates per category")
    async def categories(
        self, services: ServicesDep, time_range: RangeQuery = TimeRange.DAY
    ) -> CategoriesOut:
        now = utcnow()
        names = list(services.catalog.config.categories)
        found = await by_category(services.database, time_range, now=now, names=names)
        span = window_out(time_range, window(time_range, now))
        return CategoriesOut(span, {name: funnel_out(f) for name, f in found.items()})

    @get("/providers", summary="Each provider's circuit state, recent error rate and latency")
    async def providers(self, services: ServicesDep) -> list[ProviderOut]:
        return await providers_out(services)

    @get("/queues", summary="Depth and lag of each delivery queue")
    async def queues(self, services: ServicesDep) -> list[QueueOut]:
        names = services.runtime.actors.queue_names()
        loads = await asyncio.to_thread(queue_loads, services.runtime.broker, names, now=utcnow())
        return [QueueOut(load.name, load.depth, load.lag_s) for load in loads]


async def _overview(services: Services, time_range: TimeRange, category: str | None) -> Overview:
    if category and category not in services.catalog.config.categories:
        raise NotFound("category", category)
    return await overview(services.database, time_range, now=utcnow(), category=category)


def window_out(time_range: TimeRange, span: Window) -> WindowOut:
    return WindowOut(time_range.value, span.start, span.end, int(span.bucket.total_seconds()))


def funnel_out(f: Funnel) -> FunnelOut:
    return FunnelOut(
        deliveries=f.deliveries,
        sent=f.sent,
        delivered=f.delivered,
        bounced=f.bounced,
        failed=f.failed,
        email_delivered=f.email_delivered,
        opened=f.opened,
        clicked=f.clicked,
        unsubscribed=f.unsubscribed,
        delivery_rate=_rounded(f.delivery_rate),
        bounce_rate=_rounded(f.bounce_rate),
        open_rate=_rounded(f.open_rate),
        click_rate=_rounded(f.click_rate),
        unsubscribe_rate=_rounded(f.unsubscribe_rate),
        in_app_delivered=f.in_app_delivered,
        read=f.read,
        read_rate=_rounded(f.read_rate),
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
