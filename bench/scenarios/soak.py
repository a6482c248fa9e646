"""G6: a long end-to-end run (G3's load) with the RSS of the API and the workers sampled as it goes.

Growth is the last sample against the one taken a tenth of the way in: by then imports, pools
and caches have settled, so what grows after it is what a long-running appliance would keep.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from .. import services
from . import delivery


def soak(
    base: str,
    hook_base: str,
    count_sent: Callable[[], int],
    *,
    pids: dict[str, list[int]],
    duration_s: float,
    backlog: int,
    samples: int = 40,
) -> dict[str, float]:
    seen: dict[str, list[float]] = {name: [] for name in pids}
    stop = threading.Event()

    def sample() -> None:
        while True:
            for name, group in pids.items():
                seen[name].append(max(services.rss_mb(pid) for pid in group))
            if stop.wait(duration_s / samples):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        figures = asyncio.run(
            delivery.sustain(base, hook_base, count_sent, duration_s=duration_s, warmup_s=0, backlog=backlog)
        )
    finally:
        stop.set()
        sampler.join()
    for name, values in seen.items():
        settled, last = values[len(values) // 10], values[-1]
        figures[f"{name} rss MB"] = last
        figures[f"{name} growth %"] = 100 * (last - settled) / settled
    return figures
