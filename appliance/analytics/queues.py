"""Queue depth and lag: how many messages wait on each Dramatiq queue, and for how long the oldest has."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import dramatiq

from ..queueing.broker import oldest_waiting, queue_depth


@dataclass(frozen=True)
class QueueLoad:
    name: str
    depth: int  # waiting, delayed included
    lag_s: float | None  # age of the oldest message ready to run; None when none is


def queue_loads(broker: dramatiq.Broker, names: Iterable[str], *, now: datetime) -> list[QueueLoad]:
    """Blocking (Redis round trips in scaled mode): call it from a thread."""
    loads = []
    for name in names:
        oldest = oldest_waiting(broker, name)
        lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
        loads.append(QueueLoad(name, queue_depth(broker, name), lag))
    return loads
