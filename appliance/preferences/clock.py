"""Where a time zone's clocks change: the edge cases of wall-clock rules (quiet hours, caps)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def clock_change(start: datetime, stop: datetime, zone: ZoneInfo) -> datetime | None:
    """The first instant in (start, stop] at which `zone` changes its offset from UTC, if any.

    Assumes at most one change in between: zones change their clocks months apart.
    Changes fall on whole seconds, so the search is over whole seconds since the epoch.
    """
    before = start.astimezone(zone).utcoffset()
    if stop.astimezone(zone).utcoffset() == before:
        return None
    low, high = math.floor(start.timestamp()), math.floor(stop.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)
