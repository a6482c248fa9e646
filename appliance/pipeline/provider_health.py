"""Provider health from the attempt log: error rate and latency percentiles over a recent window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ..db.engine import Database
from ..db.models import Attempt

WINDOW = timedelta(minutes=5)
SAMPLE = 2000  # most recent attempts per provider: enough for a p95, cheap on a busy day


@dataclass(frozen=True)
class RecentHealth:
    attempts: int
    failures: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.failures / self.attempts if self.attempts else 0.0


async def recent_health(database: Database, provider: str, *, now: datetime) -> RecentHealth:
    query = (
        select(Attempt.outcome, Attempt.latency_ms)
        .where(Attempt.provider == provider, Attempt.started_at >= now - WINDOW)
        .order_by(Attempt.started_at.desc())
        .limit(SAMPLE)
    )
    async with database.sessions() as session:
        rows = (await session.execute(query)).all()
    latencies = sorted(latency for _, latency in rows)
    failures = sum(1 for outcome, _ in rows if outcome in ("retryable", "permanent"))
    return RecentHealth(len(rows), failures, percentile(latencies, 50), percentile(latencies, 95))


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * p // 100))  # ceil without floats
    return round(ordered[int(rank) - 1], 2)
