"""The figures of one time window: totals and rates, per channel, per category, and over time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from ..db.engine import Database
from .counting import Count
from .figures import EVERYTHING, counts, unsubscribes
from .funnel import Funnel, funnel
from .windows import TimeRange, Window, window


@dataclass(frozen=True)
class Overview:
    window: Window
    series: list[Count]  # by bucket, channel and status
    total: Funnel
    channels: dict[str, Funnel]


async def overview(
    database: Database, time_range: TimeRange, *, now: datetime, category: str | None = None
) -> Overview:
    """Everything, or one category's messages (`category`), over the range ending now."""
    span = window(time_range, now)
    series = await counts(database, span, ("bucket", "channel", "status"), now=now, category=category)
    unsubscribed = await unsubscribes(database, span)
    lost = unsubscribed[category] if category else sum(unsubscribed.values())
    return Overview(
        window=span,
        series=series,
        total=funnel(series, unsubscribed=lost),
        channels={name: funnel(rows) for name, rows in _by(series, "channel").items()},
    )


async def by_category(
    database: Database, time_range: TimeRange, *, now: datetime, names: Iterable[str]
) -> dict[str, Funnel]:
    """Each category's funnel, the configured ones first (with nothing sent yet, too)."""
    span = window(time_range, now)
    found = _by(await counts(database, span, ("category", "channel", "status"), now=now), "category")
    unsubscribed = await unsubscribes(database, span)
    unsubscribed.pop(EVERYTHING, None)  # not one category's: shown in the dashboard's total
    ordered = [*names, *sorted(set(found) - set(names))]  # categories since removed from the YAML too
    return {name: funnel(found.get(name, []), unsubscribed=unsubscribed[name]) for name in ordered}


def _by(rows: Iterable[Count], dimension: str) -> dict[str, list[Count]]:
    grouped: defaultdict[str, list[Count]] = defaultdict(list)
    for row in rows:
        grouped[getattr(row, dimension)].append(row)
    return dict(grouped)
