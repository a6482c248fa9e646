"""The three baselines, measured in the same run on the same services as the scenarios.

- A: a bare Dramatiq no-op actor on the same Redis (messages/s): the broker's ceiling.
- B: a bare Litestar endpoint doing one PostgreSQL insert (req/s): the API's ceiling.
- C: what the load generator gets from the fake provider (req/s): the provider's ceiling.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from . import services
from .load import Load, hammer


def noop_rate(messages: int, *, threads: int = 8) -> float:
    """Baseline A: enqueue `messages`, then time one worker process draining them (messages/s)."""
    with services.redis_namespace() as namespace:
        broker = RedisBroker(url=services.REDIS_URL, namespace=namespace)
        done = threading.Event()
        count = [0]
        lock = threading.Lock()

        def noop() -> None:
            with lock:
                count[0] += 1
                if count[0] >= messages:
                    done.set()

        actor = dramatiq.Actor(
            noop, broker=broker, actor_name="noop", queue_name="noop", priority=0, options={}
        )
        pipe_size = 1000
        for start in range(0, messages, pipe_size):
            for _ in range(min(pipe_size, messages - start)):
                broker.enqueue(actor.message())
        # The same poll interval as Clarion's workers (queueing/runtime.py).
        worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
        started = time.perf_counter()
        worker.start()
        try:
            if not done.wait(timeout=120):
                raise RuntimeError(f"baseline A drained only {count[0]} of {messages} in 120 s")
            elapsed = time.perf_counter() - started
        finally:
            worker.stop()
            broker.close()
    return messages / elapsed


def insert_endpoint(workdir: Path, database_url: str, *, connections: int, duration_s: float) -> Load:
    """Baseline B: the bare Litestar endpoint with one insert, as many connections as G1."""
    with services.processes() as running:
        port = services.free_port()
        env = {**services.clarion_env(services.psycopg_url(database_url), "", None)}
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        log = workdir / "baseline-b.log"
        process = running.start(command, env, log)
        base = f"http://127.0.0.1:{port}"
        _wait_port(base, process, log)
        cpu_before = services.cpu_s(process.pid)
        load = asyncio.run(
            hammer(f"{base}/items", _item, connections=connections, duration_s=duration_s, expect=202)
        )
        load.cpu_ms = (services.cpu_s(process.pid) - cpu_before) * 1000 / max(load.ok, 1)
        return load


def provider_rate(hook_url: str, *, connections: int, duration_s: float) -> Load:
    """Baseline C: raw requests/s from the fake provider, with a webhook-sized body."""
    return asyncio.run(hammer(hook_url, _item, connections=connections, duration_s=duration_s, expect=200))


def _item(n: int) -> dict[str, object]:
    return {"n": n, "to": f"u{n}", "text": "Ping"}


def _wait_port(base: str, process: object, log: Path) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{base}/items", timeout=1)
        except urllib.error.HTTPError:
            return  # it answers (405 to a GET): up
        except OSError:
            time.sleep(0.1)
            continue
        return
    raise RuntimeError(f"baseline B did not start:\n{log.read_text()[-3000:]}")
