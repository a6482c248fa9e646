"""The load generator: `connections` aiohttp clients in a closed loop for `duration_s`.

Each connection sends a request, waits for the answer, sends the next: the rate is what the
server sustains at that concurrency, and every latency is a real round trip.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

#: Makes the JSON body of request number n (a unique n per request in the run).
Body = Callable[[int], Any]


@dataclass
class Load:
    """What one run got: requests answered with the expected status, errors, latencies (s)."""

    duration_s: float
    ok: int = 0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list)
    first_error: str | None = None
    cpu_ms: float | None = None  # the server's CPU per answered request, when the caller measured it

    @property
    def rate(self) -> float:
        return self.ok / self.duration_s

    def percentile_ms(self, p: float) -> float:
        if not self.latencies_s:
            return float("nan")
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_s) * 1000 if self.latencies_s else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)


async def hammer(
    url: str | Sequence[str],
    body: Body,
    *,
    connections: int,
    duration_s: float,
    headers: dict[str, str] | None = None,
    expect: int = 202,
    header_fn: Callable[[int], dict[str, str]] | None = None,
) -> Load:
    """POST `body(n)` to `url` from `connections` loops until `duration_s` has passed; given
    several URLs (replicas of one API), the loops take them in turn."""
    urls = [url] if isinstance(url, str) else list(url)
    if connections < len(urls):  # a replica without load would still count in its CPU figures
        raise ValueError(f"{connections} connections cannot reach {len(urls)} URLs")
    counter = iter(range(1 << 62))
    deadline = time.perf_counter() + duration_s
    load = Load(duration_s=duration_s)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def loop(url: str) -> None:
            while time.perf_counter() < deadline:
                n = next(counter)
                started = time.perf_counter()
                try:
                    async with session.post(
                        url, json=body(n), headers=header_fn(n) if header_fn else None
                    ) as response:
                        await response.read()
                        ok = response.status == expect
                        if not ok and load.first_error is None:
                            load.first_error = f"HTTP {response.status}: {(await response.text())[:300]}"
                except aiohttp.ClientError as exc:
                    ok = False
                    load.first_error = load.first_error or repr(exc)
                if ok:
                    load.ok += 1
                    load.latencies_s.append(time.perf_counter() - started)
                else:
                    load.errors += 1

        began = time.perf_counter()
        await asyncio.gather(*(loop(urls[n % len(urls)]) for n in range(connections)))
        load.duration_s = time.perf_counter() - began  # the last answers come after the deadline
    return load
