"""Frequency caps ("2/day", "5/week"): how many notifications of a category a recipient may get
per calendar period of their own time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from .clock import clock_change

_CAP_RE = re.compile(r"^\s*(\d+)\s*/\s*(hour|day|week|month)\s*$")


class Period(StrEnum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class FrequencyCap:
    count: int
    period: Period

    def __str__(self) -> str:
        return f"{self.count}/{self.period.value}"

    def window_start(self, now: datetime, zone: ZoneInfo) -> datetime:
        """When the current period began on the recipient's calendar, in UTC.

        A day is midnight to midnight of the local date, whatever its length across a
        DST change (23 or 25 hours); a week starts on Monday; a month on its first day.
        """
        # Keyed by the instant in UTC: aware datetimes of one zone compare by their wall time,
        # so both readings of a repeated hour would share a key.
        return _window_start(self.period, now.astimezone(UTC), zone)


# A batch asks it for each of its items at the same instant, mostly in a few zones: working it
# out took 10 % of the embedded API's time in a flood to a capped category (py-spy, G7's batch).
@lru_cache(maxsize=256)
def _window_start(period: Period, now: datetime, zone: ZoneInfo) -> datetime:
    local = now.astimezone(zone)
    if period is Period.HOUR:
        return _first_shown(local.replace(minute=0, second=0, microsecond=0), zone)
    day = local.date()
    if period is Period.WEEK:
        day -= timedelta(days=day.weekday())
    elif period is Period.MONTH:
        day = day.replace(day=1)
    return _first_shown(datetime.combine(day, time(), tzinfo=zone), zone)


def _first_shown(reading: datetime, zone: ZoneInfo) -> datetime:
    """The instant, in UTC, the clock in `zone` shows `reading` (by its fold when shown twice).

    When the clocks skip it (Chatham goes from 02:45 to 03:45, so never shows 03:00), the
    period began as they jumped past it.
    """
    instant = reading.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == reading.replace(tzinfo=None):
        return instant
    skipped = sorted(reading.replace(fold=fold).astimezone(UTC) for fold in (0, 1))
    return clock_change(skipped[0], skipped[1], zone) or instant


def parse_cap(value: Any) -> FrequencyCap:
    if isinstance(value, FrequencyCap):
        return value
    match = _CAP_RE.match(str(value))
    if not match or int(match.group(1)) == 0:
        raise ValueError(f'expected "<n>/<hour|day|week|month>" with n > 0, such as "2/day", got "{value}"')
    return FrequencyCap(int(match.group(1)), Period(match.group(2)))


def parse_caps(value: Any) -> tuple[FrequencyCap, ...]:
    """One cap, or a list of them ("2/day" and "5/week" both apply)."""
    if value is None:
        return ()
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(parse_cap(item) for item in items)
