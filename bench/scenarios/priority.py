"""G4: high-priority sends while a bulk backlog drains.

A dedicated `clarion worker -Q webhook.high` serves the probes; the bulk workers take
`webhook.bulk` only. Four phases on the same stack: probes alone (idle latency), bulk alone
(its rate), bulk with probes (latency under load, and how much the bulk rate drops), bulk alone
again. The bulk rate drifts down as the run fills the tables (3-9 % lower in the phase after
than in the one before, measured), so the drop is taken against the mean of the two.
A probe's latency runs from the API's 202 to its arrival at the fake provider (wall clock,
same machine).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import aiohttp

from ..load import Load
from ..services import AUTH
from . import delivery

PROBE_EVERY_S = 0.05


async def probes(base: str, hook_base: str, *, duration_s: float) -> Load:
    """High-priority notifications, one every PROBE_EVERY_S; their accept -> provider latencies."""
    accepted: dict[str, float] = {}
    tag = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession(headers=AUTH) as session:
        deadline = time.perf_counter() + duration_s
        n = 0
        while time.perf_counter() < deadline:
            body = {
                "to": {"id": f"u{n % 1000 + 1}"},
                "category": "alerts",
                "template": "ping",
                "data": {"n": n, "probe": True},
                "idempotency_key": f"probe-{tag}-{n}",
            }
            n += 1
            async with session.post(f"{base}/v1/notifications", json=body) as response:
                if response.status == 202:
                    accepted[(await response.json())["id"]] = time.time()
            await asyncio.sleep(PROBE_EVERY_S)
        await asyncio.sleep(2)  # the last probes' way through
        async with session.get(f"{hook_base}/arrivals") as response:
            arrivals = await response.json()
    load = Load(duration_s=duration_s)
    for notification_id, at in accepted.items():
        if notification_id in arrivals:
            load.ok += 1
            load.latencies_s.append(max(arrivals[notification_id] - at, 0.0))
        else:
            load.errors += 1  # not there 2 s after the run: counted, not hidden
    return load


async def contended(
    base: str,
    hook_base: str,
    count_sent: Callable[[], int],
    *,
    duration_s: float,
    warmup_s: float,
    backlog: int,
) -> dict[str, float]:
    idle = await probes(base, hook_base, duration_s=duration_s)

    async def bulk() -> float:
        figures = await delivery.sustain(
            base, hook_base, count_sent, duration_s=duration_s, warmup_s=warmup_s, backlog=backlog,
            category="news",
        )  # fmt: skip
        return figures["deliveries/s"]

    before = await bulk()
    during, busy = await asyncio.gather(bulk(), probes(base, hook_base, duration_s=duration_s + warmup_s))
    alone = (before + await bulk()) / 2
    return {
        "idle p50 ms": idle.p50_ms,
        "idle p99 ms": idle.p99_ms,
        "busy p50 ms": busy.p50_ms,
        "busy p99 ms": busy.p99_ms,
        "late probes": float(idle.errors + busy.errors),
        "bulk alone/s": alone,
        "bulk with probes/s": during,
        "bulk drop": 1 - during / alone if alone else float("nan"),
    }
