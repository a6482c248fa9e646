"""The time ranges a dashboard shows, and the buckets each is cut into."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class TimeRange(StrEnum):
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"
    MONTH = "30d"


# range -> (bucket, buckets): a chart of 12 to 30 bars, whatever the range
_CUTS: dict[TimeRange, tuple[timedelta, int]] = {
    TimeRange.HOUR: (timedelta(minutes=5), 12),
    TimeRange.DAY: (HOUR, 24),
    TimeRange.WEEK: (DAY, 7),
    TimeRange.MONTH: (DAY, 30),
}
LABELS = {
    TimeRange.HOUR: "Last hour",
    TimeRange.DAY: "Last 24 hours",
    TimeRange.WEEK: "Last 7 days",
    TimeRange.MONTH: "Last 30 days",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """[start, end) cut into equal buckets; the last one holds `now`."""

    start: datetime
    end: datetime
    bucket: timedelta

    @property
    def from_rollup(self) -> bool:
        """Whole hours can be read from the hourly rollup; finer buckets only from the deliveries."""
        return self.bucket % HOUR == timedelta(0)

    def starts(self) -> list[datetime]:
        count = (self.end - self.start) // self.bucket
        return [self.start + n * self.bucket for n in range(count)]


def window(time_range: TimeRange, now: datetime) -> Window:
    bucket, count = _CUTS[time_range]
    end = floor(now, bucket) + bucket
    return Window(start=end - count * bucket, end=end, bucket=bucket)


def floor(moment: datetime, bucket: timedelta) -> datetime:
    """The start of the UTC bucket holding `moment` (days start at midnight UTC)."""
    return moment - (moment - _EPOCH) % bucket
