"""G3 and G7: end-to-end deliveries per second, sustained.

A feeder posts batches through the API while workers deliver to the fake provider; it keeps
the backlog (accepted, not yet at the provider) under `backlog`, so the run measures what the
whole appliance sustains — accepting, delivering and recording — not a queue being filled.
The figure is deliveries whose status became `sent` in the database per second, counted over
the run after a warm-up.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import aiohttp

from ..services import AUTH
from . import requests

BATCH = 200


async def _provider_received(session: aiohttp.ClientSession, hook_base: str) -> int:
    async with session.get(f"{hook_base}/stats") as response:
        return int((await response.json())["received"])


async def sustain(
    base: str,
    hook_base: str,
    count_sent: Callable[[], int],
    *,
    duration_s: float,
    warmup_s: float,
    backlog: int,
    category: str = "updates",
    cpu: dict[str, Callable[[], float]] | None = None,
) -> dict[str, float]:
    """`cpu`: CPU seconds used so far, by process group, to report ms of CPU per delivery."""
    tag = f"e2e-{uuid.uuid4().hex[:6]}"
    accepted = 0
    stop = asyncio.Event()
    async with aiohttp.ClientSession(headers=AUTH) as session:
        at_provider = await _provider_received(session, hook_base)
        start_received = at_provider

        async def feed() -> None:
            nonlocal accepted, at_provider
            n = 0
            while not stop.is_set():
                at_provider = await _provider_received(session, hook_base)
                if accepted - (at_provider - start_received) >= backlog:
                    await asyncio.sleep(0.02)
                    continue
                body = requests.batch(n, size=BATCH, tag=tag, category=category)
                n += 1
                async with session.post(f"{base}/v1/notifications/batch", json=body) as response:
                    answer = await response.json()
                    if response.status != 200 or answer["rejected"]:
                        raise RuntimeError(
                            f"the feeder's batch failed: {response.status} {str(answer)[:300]}"
                        )
                    accepted += answer["accepted"]

        feeder = asyncio.create_task(feed())
        try:
            await asyncio.sleep(warmup_s)
            sent_before = await asyncio.to_thread(count_sent)
            cpu_before = {name: used() for name, used in (cpu or {}).items()}
            began = time.perf_counter()
            await asyncio.sleep(duration_s)
            sent_after = await asyncio.to_thread(count_sent)
            elapsed = time.perf_counter() - began
            cpu_after = {name: used() for name, used in (cpu or {}).items()}
        finally:
            stop.set()
            await feeder
    delivered = max(sent_after - sent_before, 1)
    figures = {"deliveries/s": (sent_after - sent_before) / elapsed}
    for name in cpu_before:
        figures[f"{name} cpu ms"] = (cpu_after[name] - cpu_before[name]) * 1000 / delivered
    return figures
