"""Scaled mode: SIGKILL a `clarion worker` while it holds deliveries; nothing is lost."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import load_catalog
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT, free_port
from tests.integration.fakes import HookReceiver
from tests.live_server import CLARION, worker_env

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "local-providers.yaml"
COUNT = 40


def start_worker(env: dict[str, str], log: Path, config: Path = CONFIG) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CLARION), "worker", "--config", str(config), "--threads", "4"],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )


@pytest.fixture
async def scaled(pg_url: str, fresh_redis: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple]:
    port = free_port()
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{port}/hook")
    hook = HookReceiver(delay_s=0.4)
    runner = await hook.start(port)
    namespace = f"clarion-crash-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        config_path=str(CONFIG), database_url=pg_url, broker_url=fresh_redis, redis_namespace=namespace
    )
    env = worker_env(settings)
    async with AsyncTestClient(app=create_app(settings, load_catalog(CONFIG))) as client:
        yield client, hook, env
    await runner.cleanup()


async def statuses(client: AsyncTestClient, ids: list[str]) -> list[str]:
    return [(await client.get(f"/v1/notifications/{i}", headers=AUTH)).json()["status"] for i in ids]


async def test_killing_a_worker_mid_delivery_loses_nothing(scaled: tuple, tmp_path: Path) -> None:
    client, hook, env = scaled
    items = [
        {
            "to": {"id": f"crash-{n}", "attributes": {"n": n}},
            "category": "alerts",
            "template": "alert",
            "data": {"n": n},
        }
        for n in range(COUNT)
    ]
    response = await client.post("/v1/notifications/batch", json={"notifications": items}, headers=AUTH)
    ids = [result["id"] for result in response.json()["results"]]
    assert len(ids) == COUNT

    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    try:
        # A parcel's sends go out side by side, so kill it as soon as they reach the provider:
        # each is held there 0.4 s, in flight, with its lease taken.
        for _ in range(300):
            if len(hook.arrivals) >= 4:
                break
            await asyncio.sleep(0.02)
        assert hook.arrivals, f"the first worker sent nothing; its log:\n{log.read_text()}"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        before_kill = sum(hook.received.values())
    finally:
        if first.poll() is None:
            first.kill()

    second = start_worker(env, log)
    try:
        for _ in range(600):
            final = await statuses(client, ids)
            if all(status == "sent" for status in final):
                break
            await asyncio.sleep(0.1)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=20)

    assert final == ["sent"] * COUNT, f"not all sent: {final}\n{log.read_text()[-3000:]}"
    delivered = sum(hook.received.values())
    duplicates = delivered - len(hook.received)
    assert len(hook.received) == COUNT  # every delivery reached the provider
    bodies = [(await client.get(f"/v1/notifications/{i}", headers=AUTH)).json() for i in ids]
    attempts = [a for body in bodies for d in body["deliveries"] for a in d["attempts"]]
    abandoned = [a for a in attempts if a["outcome"] == "abandoned"]
    assert abandoned, "the deliveries the killed worker held must show an abandoned attempt"
    assert duplicates <= len(abandoned)  # every duplicate send is explained by a lost attempt
    print(
        f"\nworker SIGKILLed after {before_kill} sends: {COUNT} notifications, {delivered} provider calls, "
        f"{duplicates} duplicate(s), {len(abandoned)} abandoned attempt(s) recorded"
    )
