"""G5: fan-out of a big campaign — planned, stored, enqueued — and what it leaves in Redis.

Two `clarion worker` processes on the campaigns queue only (no delivery workers: the messages it enqueues
stay in Redis, so their memory is measured, not drained). The run is bounded: it stops at
`limit_s` and reports how many recipients were planned by then, and the bytes per recipient
the delivery queues hold (MEMORY USAGE of the run's own keys: other users of the same Redis
do not count).
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import psycopg
import redis

from .. import services
from ..services import AUTH


def _post(url: str, body: bytes) -> dict[str, object]:
    request = urllib.request.Request(url, data=body, headers={**AUTH, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return dict(json.loads(response.read()))


def namespace_bytes(namespace: str) -> int:
    client = redis.Redis.from_url(services.REDIS_URL)
    return sum(int(client.memory_usage(key) or 0) for key in client.scan_iter(f"{namespace}:*", count=1000))


def planned(url: str, campaign_id: str) -> int:
    """The campaign's own count, moved in each batch's transaction. (A count(*) of the
    notifications took ~100 ms of PostgreSQL's CPU at a million rows, every second of the run.)"""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("SELECT planned FROM campaigns WHERE id = %s", (campaign_id,)).fetchone()
    return int(row[0]) if row else 0


def fan_out(
    *,
    running: services.Processes,
    workdir: Path,
    url: str,
    namespace: str,
    base: str,
    env: dict[str, str],
    audience: int,
    limit_s: float,
) -> dict[str, float]:
    before = namespace_bytes(namespace)
    body = json.dumps({"name": "G5", "category": "news", "template": "ping", "data": {"n": 1}}).encode()
    campaign = _post(f"{base}/v1/campaigns", body)
    # Two processes, as in G3: the campaign's lanes plan side by side on both cores.
    workers = [services.worker(running, workdir, env, queues=["campaigns"], threads=2) for _ in range(2)]
    try:
        started = time.perf_counter()
        _post(f"{base}/v1/campaigns/{campaign['id']}/launch", b"{}")
        done = 0
        while time.perf_counter() - started < limit_s:
            time.sleep(1)
            done = planned(url, str(campaign["id"]))
            if done >= audience:
                break
        elapsed = time.perf_counter() - started
        rss = max(services.rss_mb(worker.pid) for worker in workers)
    finally:
        for worker in workers:
            running.stop(worker)
    grown = namespace_bytes(namespace) - before
    return {
        "planned": float(done),
        "seconds": elapsed,
        "recipients/s": done / elapsed,
        "redis bytes/recipient": grown / max(done, 1),
        "redis MB": grown / 1e6,
        "worker rss MB": rss,
    }
