"""The services a run uses, made for it and removed after: a PostgreSQL database, a Redis
namespace, the fake provider, and `clarion serve` / `clarion worker` processes.

Only 127.0.0.1 is ever targeted.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "bench" / "config.yaml"
CLARION = Path(sys.executable).parent / "clarion"
PG_ADMIN_URL = os.environ.get("CLARION_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
# db 13: the tests use 15; a namespace per run keeps even a shared db clean.
REDIS_URL = os.environ.get("CLARION_BENCH_REDIS", "redis://127.0.0.1:6379/13")
API_KEY = "clarion-bench-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def database() -> Iterator[str]:
    """A throwaway PostgreSQL database; yields its postgresql:// URL, dropped afterwards."""
    name = f"clarion_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def redis_namespace() -> Iterator[str]:
    namespace = f"clarion-bench-{uuid.uuid4().hex[:8]}"
    try:
        yield namespace
    finally:
        clear_namespace(namespace)


def clear_namespace(namespace: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{namespace}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def redis_used_bytes() -> int:
    return int(redis.Redis.from_url(REDIS_URL).info("memory")["used_memory"])


def rss_mb(pid: int) -> float:
    """Resident memory of a process, from /proc (no psutil needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(*pids: int) -> float:
    """CPU seconds (user + system) the processes have used: a cost per request that holds even
    when other work on the machine slows the wall clock down."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime (fields 14 and 15)
    return total


def seed_recipients(url: str, count: int) -> None:
    """Recipients u1..u<count>, written server-side (no rows cross the wire)."""
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            """INSERT INTO recipients (id, external_id, email, attributes, unsubscribed_all, created_at,
                                       updated_at)
               SELECT md5('r' || i)::uuid, 'u' || i, 'u' || i || '@example.com', '{}', false, now(), now()
               FROM generate_series(1, %(count)s) i""",
            {"count": count},
        )
        connection.execute("ANALYZE recipients")


def count_sent(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()
    return int(row[0]) if row else 0


@dataclass
class Processes:
    """Child processes of a run, stopped together."""

    children: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT
        )
        self.children.append(process)
        self.logs.append(log)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self.children:
            self.children.remove(process)

    def stop_all(self) -> None:
        for process in reversed(list(self.children)):
            self.stop(process)


@contextmanager
def processes() -> Iterator[Processes]:
    running = Processes()
    try:
        yield running
    finally:
        running.stop_all()


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s}s:\n{log.read_text()[-3000:]}")


def fake_provider(running: Processes, workdir: Path, *, delay_ms: float = 0) -> str:
    """Start the fake provider; return its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "bench.fake_provider", "--port", str(port), "--delay-ms", str(delay_ms)]
    process = running.start(command, dict(os.environ), workdir / f"fake-{port}.log")
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/stats", process, workdir / f"fake-{port}.log")
    return base


def clarion_env(database_url: str, hook_url: str, namespace: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "CLARION_DATABASE_URL": database_url,
        "CLARION_LOG_LEVEL": "WARNING",
        "HOOK_URL": hook_url,
    }
    env.pop("CLARION_BROKER_URL", None)
    if namespace is not None:  # scaled; without it, embedded (in-process broker and workers)
        env.update(CLARION_BROKER_URL=REDIS_URL, CLARION_REDIS_NAMESPACE=namespace)
    return env


def serve(running: Processes, workdir: Path, env: dict[str, str]) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    log = workdir / f"serve-{port}.log"
    command = [str(CLARION), "serve", "--config", str(CONFIG), "--port", str(port), "--no-migrate"]
    process = running.start(command, env, log)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/healthz", process, log)
    return base, process


def worker(
    running: Processes,
    workdir: Path,
    env: dict[str, str],
    *,
    queues: list[str] | None = None,
    threads: int = 8,
) -> subprocess.Popen[bytes]:
    command = [str(CLARION), "worker", "--config", str(CONFIG), "--threads", str(threads)]
    for queue in queues or []:
        command += ["-Q", queue]
    return running.start(command, env, workdir / f"worker-{len(running.children)}.log")


def psycopg_url(url: str) -> str:
    """The SQLAlchemy spelling Clarion reads, of a plain postgresql:// URL."""
    return url.replace("postgresql://", "postgresql+psycopg://", 1)
