"""Chaos, scaled mode: 3,000 notifications through workers that keep being SIGKILLed, to a
provider that fails a fifth of its calls. Every notification reaches a final state; none is lost.

What it proves about the at-least-once design (docs/architecture.md):
- commit before enqueue, leases and the sweeper recover every delivery a dead worker held,
  whether it was mid-send, prefetched from Redis, or waiting in the delay queue for a retry;
- the retry policy absorbs random 500/503s: every delivery ends `sent` (max_attempts 10 at a
  20% failure rate leaves ~0.2^10 per delivery to exhaust its tries);
- duplicates happen only when a worker dies at the worst moment, and each one is visible:
  the delivery has an `abandoned` attempt, or more tries than attempt rows.

The provider is a webhook receiver on its own thread and event loop (so the API's batch work
in this process never slows its answers into timeouts); a seeded random decides which calls
fail and which kills hit which worker, so the pattern of chaos repeats, though which delivery
meets which failure depends on arrival order. The counts are printed on one line
(`pytest -s`, or `-rA`).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from aiohttp import web
from litestar.testing import AsyncTestClient
from sqlalchemy import Engine, create_engine, func, select

from appliance.catalog import load_catalog
from appliance.db.engine import sync_url
from appliance.db.models import Attempt, Delivery, DeliveryStatus
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT, free_port
from tests.integration.fakes import HookReceiver
from tests.integration.test_worker_crash import start_worker
from tests.live_server import worker_env

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "chaos.yaml"
COUNT = 3000  # three full batches; the four kills land while they drain
BATCH = 1000  # the batch endpoint's limit
REFILL_AT = 250  # submit the next batch once this few are still queued or sending (see chaos.yaml)
WORKERS = 2
KILLS = 4
BOOT_S = 3.0  # a replacement worker is spared this long, so kills do not just hit workers booting
SEED = 20240611
FAILURE_RATE = 0.2
SLOW_RATE, SLOW_S = 0.01, 0.5  # the odd slow answer, well inside the provider's 2s timeout
DEADLINE_S = 240.0  # the whole test, submission to last assertion; ~45 s on a quiet 2-core machine
IN_FLIGHT = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


@dataclass
class FlakyHook(HookReceiver):
    """Fails FAILURE_RATE of calls with 500 or 503, answers SLOW_RATE slowly, accepts the rest.

    `received` counts accepted calls per X-Clarion-Delivery id; a call counts as accepted when
    the answer is decided, so a sender killed while waiting for it still leaves a receipt.
    """

    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    failures: int = 0
    receipts: int = 0  # sum(received.values()), readable from other threads while serving

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        roll = self.rng.random()
        if roll < FAILURE_RATE:
            self.failures += 1
            return web.Response(status=self.rng.choice((500, 503)), text="failing on purpose")
        self.received[request.headers["X-Clarion-Delivery"]] += 1
        self.receipts += 1
        if roll < FAILURE_RATE + SLOW_RATE:
            await asyncio.sleep(SLOW_S)
        return web.Response(text="ok")


class ServedOnThread:
    """Runs a receiver on its own event loop in a daemon thread."""

    def __init__(self, hook: HookReceiver, port: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="flaky-hook", daemon=True)
        self.thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(hook.start(port), self.loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class Kill:
    at_s: float  # seconds since submission began
    receipts: int  # provider receipts when it happened


async def kill_workers(
    workers: list[subprocess.Popen[bytes]],
    spawn: Callable[[], subprocess.Popen[bytes]],
    hook: FlakyHook,
    started: float,
) -> list[Kill]:
    """Once sends flow, SIGKILL a random worker KILLS times, 1-2 s apart; replace each at once.

    Only a worker that has had BOOT_S to boot is a victim, so each kill hits one that works.
    """
    rng = random.Random(SEED + 1)
    born = {worker.pid: time.monotonic() for worker in workers}
    while hook.receipts < 50 and time.monotonic() - started < 60:
        await asyncio.sleep(0.05)
    kills = []
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(1.0, 2.0))
        while not (grown := [i for i, w in enumerate(workers) if time.monotonic() - born[w.pid] >= BOOT_S]):
            await asyncio.sleep(0.1)
        index = rng.choice(grown)
        os.kill(workers[index].pid, signal.SIGKILL)
        workers[index].wait(timeout=10)
        workers[index] = spawn()
        born[workers[index].pid] = time.monotonic()
        kills.append(Kill(time.monotonic() - started, hook.receipts))
    return kills


class Watch:
    """Polls delivery statuses until a condition holds; fails on a dead worker or the deadline."""

    def __init__(self, engine: Engine, workers: list[subprocess.Popen[bytes]], log: Path, started: float):
        self.engine, self.workers, self.log, self.started = engine, workers, log, started

    async def until(self, done: Callable[[Counter[str]], bool], what: str) -> None:
        while not done(counts := statuses(self.engine)):
            exited = [worker.returncode for worker in self.workers if worker.poll() is not None]
            assert not exited, f"a worker exited by itself ({exited}); {log_excerpt(self.log)}"
            assert time.monotonic() - self.started < DEADLINE_S, (
                f"waited {DEADLINE_S:.0f}s for {what}: deliveries by status {dict(counts)}; "
                f"sweeper re-enqueued {sweeper_requeues(self.log)}\n{log_excerpt(self.log)}"
            )
            await asyncio.sleep(0.5)


def in_flight(counts: Counter[str]) -> int:
    return sum(counts[status] for status in IN_FLIGHT)


def statuses(engine: Engine) -> Counter[str]:
    with engine.connect() as connection:
        rows = connection.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return Counter({status: count for status, count in rows})


def delivery_ledger(engine: Engine) -> dict[str, tuple[str, int, int, int]]:
    """delivery id -> (status, tries, provider attempt rows, abandoned attempt rows)."""
    abandoned = func.count().filter(Attempt.outcome == "abandoned")
    calls = func.count(Attempt.id).filter(Attempt.outcome != "abandoned")
    query = (
        select(Delivery.id, Delivery.status, Delivery.attempt_count, calls, abandoned)
        .outerjoin(Attempt, Attempt.delivery_id == Delivery.id)
        .group_by(Delivery.id)
    )
    with engine.connect() as connection:
        return {str(row[0]): tuple(row[1:]) for row in connection.execute(query)}


def sweeper_requeues(log: Path) -> int:
    """How many deliveries the sweepers re-enqueued, from their warnings."""
    return sum(
        int(line.split("re-enqueuing ")[1].split()[0])
        for line in log.read_text().splitlines()
        if "sweeper: re-enqueuing" in line
    )


def log_excerpt(log: Path, chars: int = 4000) -> str:
    """The workers' log without the sweeper's routine warnings, last `chars` characters."""
    lines = [line for line in log.read_text().splitlines() if "sweeper: re-enqueuing" not in line]
    return "workers' log (sweeper warnings left out):\n" + "\n".join(lines)[-chars:]


def stop_all(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


async def test_killed_workers_and_a_flaky_provider_lose_no_notification(
    pg_url: str, redis_url: str, tmp_path: Path, monkeypatch
) -> None:
    port, namespace = free_port(), f"clarion-chaos-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{port}/hook")
    settings = Settings(
        config_path=str(CONFIG), database_url=pg_url, broker_url=redis_url, redis_namespace=namespace
    )
    env = worker_env(settings)
    log = tmp_path / "workers.log"
    hook = FlakyHook()
    server = ServedOnThread(hook, port)
    engine = create_engine(sync_url(pg_url))
    workers: list[subprocess.Popen[bytes]] = []
    chaos: asyncio.Task[list[Kill]] | None = None
    try:
        async with AsyncTestClient(app=create_app(settings, load_catalog(CONFIG))) as client:
            workers.extend(start_worker(env, log, CONFIG) for _ in range(WORKERS))
            started = time.monotonic()
            chaos = asyncio.create_task(
                kill_workers(workers, lambda: start_worker(env, log, CONFIG), hook, started)
            )
            watch = Watch(engine, workers, log, started)
            ids = []
            for first in range(0, COUNT, BATCH):
                if first:  # keep the broker's backlog short enough to drain within queue_lease
                    await watch.until(
                        lambda counts: in_flight(counts) <= REFILL_AT, f"the backlog to fall to {REFILL_AT}"
                    )
                items = [
                    {
                        "to": {"id": f"chaos-{n}", "attributes": {"n": n}},
                        "category": "alerts",
                        "template": "alert",
                        "data": {"n": n},
                    }
                    for n in range(first, first + BATCH)
                ]
                response = await client.post(
                    "/v1/notifications/batch", json={"notifications": items}, headers=AUTH, timeout=60
                )
                assert response.status_code == 200, response.text[:1000]
                assert response.json()["accepted"] == BATCH, response.text[:1000]
                ids += [result["id"] for result in response.json()["results"]]
            submitted_s = time.monotonic() - started
            await watch.until(
                lambda counts: chaos.done() and sum(counts.values()) == COUNT and not in_flight(counts),
                "every delivery to be final and every kill done",
            )
            kills = chaos.result()
            elapsed = time.monotonic() - started
    finally:
        if chaos is not None and not chaos.done():
            chaos.cancel()
        stop_all(workers)
        server.stop()
        engine.dispose()
        broker = redis.Redis.from_url(redis_url)
        for key in broker.scan_iter(match=f"{namespace}*"):
            broker.delete(key)
        broker.close()

    ledger = delivery_ledger(engine)
    engine.dispose()
    assert len(set(ids)) == COUNT and len(ledger) == COUNT  # one webhook delivery per notification
    not_sent = {d: row for d, row in ledger.items() if row[0] != DeliveryStatus.SENT}
    lost = sorted(set(ledger) - set(hook.received))
    deliveries_twice = {d: n for d, n in hook.received.items() if n > 1}
    duplicates = sum(hook.received.values()) - len(hook.received)
    abandoned = sum(row[3] for row in ledger.values())
    # A duplicate is visible when the delivery shows an abandoned attempt or more tries than calls.
    unexplained = {
        d: ledger[d] for d in deliveries_twice if ledger[d][3] == 0 and ledger[d][1] <= ledger[d][2]
    }
    enqueued_again = sweeper_requeues(log)
    print(
        f"\nchaos: {COUNT} notifications, {len(kills)} worker kills, {hook.failures} provider failures "
        f"injected, {COUNT - len(lost)} delivered, {duplicates} duplicates, {abandoned} abandoned attempts, "
        f"{elapsed:.1f} s"
    )
    print(
        f"chaos detail: submitted in {submitted_s:.1f} s; kills at "
        f"{', '.join(f'{k.at_s:.1f}s/{k.receipts} receipts' for k in kills)}; "
        f"sweeper re-enqueued {enqueued_again} deliveries; "
        f"statuses {dict(Counter(row[0] for row in ledger.values()))}"
    )
    assert len(kills) == KILLS
    assert kills[-1].receipts < COUNT, "the last kill came after the work was done; nothing was tested"
    assert not lost, (
        f"{len(lost)} never reached the provider, e.g. {lost[:5]}: {[ledger[d] for d in lost[:5]]}"
    )
    assert not not_sent, (
        f"{len(not_sent)} not sent (status, tries, calls, abandoned): {list(not_sent.items())[:10]}"
    )
    assert not unexplained, (
        f"{len(unexplained)} duplicates left no trace (status, tries, calls, abandoned): "
        f"{list(unexplained.items())[:10]}; receipts {[deliveries_twice[d] for d in list(unexplained)[:10]]}"
    )
