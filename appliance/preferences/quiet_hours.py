"""Quiet hours ("21:00-08:00" on the recipient's wall clock): when a delivery may not go out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .clock import clock_change

_WINDOW_RE = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-3]):([0-5]\d)\s*$")


@dataclass(frozen=True)
class QuietHours:
    """A daily window of wall-clock time; `end` before `start` means it spans midnight."""

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, wall: time) -> bool:
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def ends_after(self, now: datetime, zone: ZoneInfo) -> datetime | None:
        """The first instant after `now` at which the wall clock is out of the window, in UTC;
        None when `now` is outside it.

        The wall clock runs on until it shows `end`, unless the clocks change first: going
        forward they may jump past `end` (the window ends at the jump), going back they may land
        before `start` (it ends there too) or inside the window again (it runs on from there).
        """
        at = now
        while self.contains(shown := at.astimezone(zone).time()):
            reach = at + (_since_midnight(self.end) - _since_midnight(shown)) % timedelta(days=1)
            at = clock_change(at, reach, zone) or reach
        return None if at == now else at.astimezone(UTC)


def _since_midnight(wall: time) -> timedelta:
    return datetime.combine(date.min, wall) - datetime.min


def parse_quiet_hours(value: Any) -> QuietHours:
    if isinstance(value, QuietHours):
        return value
    match = _WINDOW_RE.match(str(value))
    if not match:
        raise ValueError(f'expected a daily window "HH:MM-HH:MM" such as "21:00-08:00", got "{value}"')
    start = time(int(match.group(1)), int(match.group(2)))
    end = time(int(match.group(3)), int(match.group(4)))
    if start == end:
        raise ValueError("quiet hours must not start and end at the same time")
    return QuietHours(start, end)
