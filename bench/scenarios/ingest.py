"""G1 and G2: how fast the API accepts notifications (validate, idempotency, persist, enqueue).

No worker runs: this is the API's share alone. Every request carries its own idempotency key,
so the idempotency lookup and row are part of the work, as they are for a careful caller.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence

from ..load import hammer
from ..services import AUTH
from . import requests


def single(
    base: str, *, connections: int, duration_s: float, cpu: Callable[[], float] | None = None
) -> dict[str, float]:
    """G1: one notification per POST /v1/notifications. `cpu`: the API's CPU seconds so far."""
    cpu_before = cpu() if cpu else 0.0
    tag = f"g1-{uuid.uuid4().hex[:6]}"
    load = asyncio.run(
        hammer(
            f"{base}/v1/notifications",
            lambda n: requests.notification(n, tag=tag),
            connections=connections,
            duration_s=duration_s,
            headers=AUTH,
            expect=202,
        )
    )
    _check(load.ok, load.errors, load.first_error)
    figures = {"req/s": load.rate, "p50 ms": load.p50_ms, "p99 ms": load.p99_ms}
    if cpu:
        figures["api cpu ms"] = (cpu() - cpu_before) * 1000 / max(load.ok, 1)
    return figures


def batched(
    bases: Sequence[str],
    *,
    size: int,
    connections: int,
    duration_s: float,
    cpu: Callable[[], float] | None = None,
) -> dict[str, float]:
    """G2: `size` notifications per POST /v1/notifications/batch, the connections spread over
    the API's replicas at `bases`. `cpu`: theirs, in seconds so far."""
    cpu_before = cpu() if cpu else 0.0
    tag = f"g2-{uuid.uuid4().hex[:6]}"
    load = asyncio.run(
        hammer(
            [f"{base}/v1/notifications/batch" for base in bases],
            lambda n: requests.batch(n, size=size, tag=tag),
            connections=connections,
            duration_s=duration_s,
            headers=AUTH,
            expect=200,
        )
    )
    _check(load.ok, load.errors, load.first_error)
    figures = {"notifications/s": load.rate * size, "p50 ms": load.p50_ms, "p99 ms": load.p99_ms}
    if cpu:
        figures["api cpu ms"] = (cpu() - cpu_before) * 1000 / max(load.ok * size, 1)
    return figures


def _check(ok: int, errors: int, first_error: str | None) -> None:
    # A benchmark of failing requests measures nothing: stop and say why.
    if errors > ok // 100:
        raise RuntimeError(f"{errors} of {ok + errors} requests failed; first: {first_error}")
