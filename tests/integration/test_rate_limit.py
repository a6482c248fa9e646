"""Scaled mode: a provider's `20/s` holds across two worker processes, and every message arrives."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

from litestar.testing import AsyncTestClient

from appliance.catalog import load_catalog
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT, free_port
from tests.integration.fakes import HookReceiver
from tests.integration.test_worker_crash import start_worker
from tests.live_server import worker_env

CONFIG = ROOT / "tests" / "configs" / "rate-limited.yaml"
COUNT = 100
LIMIT = 20
# The limiter admits calls on Redis' clock; they reach the fake a little later, by a delay that
# varies with machine load (two pytest workers on two cores). Counting arrivals over a window this
# much shorter than a second keeps that delay out of the figure; letting 2x through across a
# bucket boundary, the failure this guards against, still shows.
ARRIVAL_JITTER_S = 0.15


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals inside any sliding window of one second, less the arrival jitter."""
    ordered = sorted(arrivals)
    width = 1.0 - ARRIVAL_JITTER_S
    return max(sum(1 for t in ordered if start <= t < start + width) for start in ordered)


async def test_the_provider_never_sees_more_than_its_limit_in_any_second(
    pg_url: str, redis_url: str, tmp_path: Path, monkeypatch
) -> None:
    port, namespace = free_port(), f"clarion-rate-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{port}/hook")
    hook = HookReceiver()
    runner = await hook.start(port)
    settings = Settings(
        config_path=str(CONFIG), database_url=pg_url, broker_url=redis_url, redis_namespace=namespace
    )
    env = worker_env(settings)
    log = tmp_path / "workers.log"
    async with AsyncTestClient(app=create_app(settings, load_catalog(CONFIG))) as client:
        workers = [start_worker(env, log, CONFIG) for _ in range(2)]
        try:
            items = [
                {
                    "to": {"id": f"r-{n}", "attributes": {"n": n}},
                    "category": "alerts",
                    "template": "alert",
                    "data": {"n": n},
                }
                for n in range(COUNT)
            ]
            response = await client.post(
                "/v1/notifications/batch", json={"notifications": items}, headers=AUTH
            )
            assert response.json()["accepted"] == COUNT
            for _ in range(900):  # 5 s of sending at the limit; generous for a loaded machine
                if len(hook.received) == COUNT:
                    break
                await asyncio.sleep(0.1)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=20)
            await runner.cleanup()
    assert len(hook.received) == COUNT, f"{len(hook.received)} of {COUNT} arrived\n{log.read_text()[-2000:]}"
    peak = busiest_second(hook.arrivals)
    spread = max(hook.arrivals) - min(hook.arrivals)
    print(f"\n{COUNT} deliveries by 2 workers at 20/s: busiest second {peak}, spread over {spread:.1f}s")
    assert peak <= LIMIT
