"""View models of the dashboard and category pages, built by pure functions from analytics figures."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ...analytics.charts import BarChart, Series, stacked_bars
from ...analytics.counting import Count
from ...analytics.funnel import Funnel
from ...analytics.overview import Overview
from ...analytics.providers import ProviderHealth
from ...analytics.queues import QueueLoad
from ...analytics.windows import DAY, HOUR, LABELS, TimeRange, Window
from ...db.models import DeliveryStatus
from .tables import Cell, Table, count, measure, rate, text
from .views import CHANNEL_LABELS, Layout

# Colours pass WCAG AA against white as bar fills next to each other (clarion.css tones).
CHANNEL_SERIES = [
    Series("email", "Email", "#3a55e0"),
    Series("sms", "SMS", "#0f8a7a"),
    Series("push", "Push", "#c26d00"),
    Series("in_app", "In-app", "#8b46d6"),
    Series("webhook", "Webhook", "#5a6476"),
]
STATUS_SERIES = [
    Series("sent", "Sent", "#1f9d55"),
    Series("bounced", "Bounced", "#dc2626"),
    Series("failed", "Failed", "#8a1c1c"),
    Series("waiting", "Waiting", "#5a7aa3"),
    Series("not_sent", "Not sent", "#9aa3b2"),
]
_STATUS_GROUP = {
    DeliveryStatus.SENT: "sent",
    DeliveryStatus.DELIVERED: "sent",
    DeliveryStatus.COMPLAINED: "sent",
    DeliveryStatus.BOUNCED: "bounced",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.DEAD: "failed",
    DeliveryStatus.QUEUED: "waiting",
    DeliveryStatus.SENDING: "waiting",
    DeliveryStatus.HELD: "waiting",
    DeliveryStatus.SKIPPED: "not_sent",
    DeliveryStatus.THROTTLED: "not_sent",
}
RATE_COLUMNS = ["Sent", "Delivered", "Bounced", "Opened", "Clicked", "Unsubscribed"]


@dataclass(frozen=True)
class RangeOption:
    value: str
    label: str
    current: bool


@dataclass(frozen=True)
class Tile:
    key: str  # data-tile, for tests and the browser
    label: str
    value: str
    detail: str


@dataclass(frozen=True)
class DashboardPage:
    layout: Layout
    title: str
    lead: str
    ranges: list[RangeOption]
    range: str
    range_label: str
    category: str  # "" on the dashboard, the category on its own page
    tiles: list[Tile]
    charts: list[BarChart]
    series: Table
    channels: Table
    providers: Table | None
    queues: Table | None
    empty: bool
    first_send: str  # a curl command for the empty state
    export_query: str  # "range=24h" (+ "&category=…"), for the CSV links


@dataclass(frozen=True)
class CategoriesPage:
    layout: Layout
    ranges: list[RangeOption]
    range: str
    range_label: str
    table: Table
    empty: bool


def range_options(current: TimeRange) -> list[RangeOption]:
    return [RangeOption(r.value, LABELS[r], r == current) for r in TimeRange]


def tiles(total: Funnel) -> list[Tile]:
    return [
        Tile("sent", "Sent", f"{total.sent:,}", f"of {total.deliveries:,} planned"),
        Tile("delivery", "Delivery rate", rate(total.delivery_rate).text, f"{total.delivered:,} delivered"),
        Tile("bounce", "Bounce rate", rate(total.bounce_rate).text, f"{total.bounced:,} bounced"),
        Tile("open", "Open rate", rate(total.open_rate).text, f"{total.opened:,} of delivered email"),
        Tile("click", "Click rate", rate(total.click_rate).text, f"{total.clicked:,} of delivered email"),
        Tile(
            "unsubscribe",
            "Unsubscribes",
            rate(total.unsubscribe_rate).text,
            f"{total.unsubscribed:,} opt-outs",
        ),
        Tile("read", "In-app read rate", rate(total.read_rate).text, f"{total.read:,} of delivered in-app"),
    ]


def bucket_label(start: datetime, bucket: timedelta) -> str:
    if bucket >= DAY:
        return start.strftime("%b %d")
    return start.strftime("%H:%M")


def _stacks(series: Sequence[Count], window: Window, key: Callable[[Count], str]) -> list[dict[str, int]]:
    by_bucket: defaultdict[datetime, defaultdict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in series:
        if row.bucket is not None:
            by_bucket[row.bucket][key(row)] += row.deliveries
    return [dict(by_bucket.get(start, {})) for start in window.starts()]


def charts(found: Overview, subject: str) -> tuple[list[BarChart], Table]:
    """Volume by channel and by status, one bar per bucket, and the same numbers as a table."""
    labels = [bucket_label(start, found.window.bucket) for start in found.window.starts()]
    by_channel = _stacks(found.series, found.window, lambda row: row.channel or "")
    by_status = _stacks(
        found.series, found.window, lambda row: _STATUS_GROUP.get(row.status or "", "waiting")
    )
    drawn = [
        stacked_bars("volume-channel", f"{subject} by channel", labels, by_channel, CHANNEL_SERIES),
        stacked_bars("volume-status", f"{subject} by status", labels, by_status, STATUS_SERIES),
    ]
    channel_keys, status_keys = drawn[0].legend, drawn[1].legend
    columns = ["Time (UTC)", *(s.label for s in channel_keys), *(s.label for s in status_keys), "Total"]
    rows = [
        [text(label)]
        + [count(channels.get(s.key, 0)) for s in channel_keys]
        + [count(statuses.get(s.key, 0)) for s in status_keys]
        + [count(sum(channels.values()))]
        for label, channels, statuses in zip(_stamps(found.window), by_channel, by_status, strict=True)
    ]
    return drawn, Table("series", f"{subject} per {_bucket_name(found.window.bucket)}", columns, rows)


def _stamps(window: Window) -> list[str]:
    return [start.strftime("%Y-%m-%d %H:%M") for start in window.starts()]


def _bucket_name(bucket: timedelta) -> str:
    return "day" if bucket >= DAY else "hour" if bucket >= HOUR else f"{bucket.seconds // 60} minutes"


def rates_table(
    key: str, caption: str, first: str, funnels: Mapping[str, Funnel], links: Sequence[str | None] = ()
) -> Table:
    rows = [[text(name), *_rates(f)] for name, f in funnels.items()]
    return Table(key, caption, [first, *RATE_COLUMNS], rows, list(links))


def _rates(f: Funnel) -> list[Cell]:
    return [
        count(f.sent),
        rate(f.delivery_rate),
        rate(f.bounce_rate),
        rate(f.open_rate),
        rate(f.click_rate),
        rate(f.unsubscribe_rate),
    ]


def channel_table(found: Overview) -> Table:
    named = {CHANNEL_LABELS.get(name, name): f for name, f in sorted(found.channels.items())}
    return rates_table("channels", "Rates per channel", "Channel", named)


def providers_table(found: Sequence[ProviderHealth], window_s: int) -> Table:
    rows = [
        [
            text(p.name),
            text(", ".join(CHANNEL_LABELS.get(c, c) for c in p.channels) or "—"),
            text(p.circuit.state.value.replace("_", " ")),
            count(p.recent.attempts),
            rate(p.recent.error_rate if p.recent.attempts else None),
            measure(p.recent.latency_p50_ms, "ms"),
            measure(p.recent.latency_p95_ms, "ms"),
        ]
        for p in found
    ]
    columns = ["Provider", "Channels", "Circuit", "Attempts", "Error rate", "p50", "p95"]
    return Table("providers", f"Provider health, last {window_s // 60} minutes", columns, rows)


def queues_table(found: Sequence[QueueLoad]) -> Table:
    rows = [[text(q.name), count(q.depth), measure(q.lag_s, "s")] for q in found]
    return Table("queues", "Queues", ["Queue", "Waiting", "Oldest waiting"], rows)
