"""Real `clarion` processes — `clarion serve` on a free port, `clarion worker`, and a scaled
worker's environment — for tests that need them."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.settings import Settings
from tests.conftest import EXAMPLE_CONFIG, ROOT, free_port

CLARION = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "clarion"


def worker_env(settings: Settings) -> dict[str, str]:
    """The environment a `clarion worker` process needs to join the scaled stack of `settings`."""
    assert settings.broker_url is not None, "a worker process needs the scaled settings"
    return {
        **os.environ,
        "CLARION_DATABASE_URL": settings.database_url,
        "CLARION_BROKER_URL": settings.broker_url,
        "CLARION_REDIS_NAMESPACE": settings.redis_namespace,
        "CLARION_LOG_LEVEL": "WARNING",
    }


@contextmanager
def live_server(
    workdir: Path, config: Path = EXAMPLE_CONFIG, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Start `clarion serve` (embedded mode, SQLite under workdir, unless `env` says otherwise);
    yield its base URL."""
    with live_process(workdir, config, env) as (base, _):
        yield base


@contextmanager
def live_process(
    workdir: Path, config: Path = EXAMPLE_CONFIG, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`live_server`, with the process too (to signal it)."""
    port = free_port()
    log = workdir / "serve.log"
    process = subprocess.Popen(
        [str(CLARION), "serve", "--config", str(config), "--port", str(port)],
        env=_environment(workdir, env),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, process, log)
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def live_worker(workdir: Path, config: Path, env: dict[str, str]) -> Iterator[None]:
    """Start `clarion worker` (scaled mode: `env` names the broker and the database)."""
    log = workdir / "worker.log"
    process = subprocess.Popen(
        [str(CLARION), "worker", "--config", str(config)],
        env=_environment(workdir, env),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=20)


def _environment(workdir: Path, env: dict[str, str] | None) -> dict[str, str]:
    inherited = {key: value for key, value in os.environ.items() if key != "CLARION_BROKER_URL"}
    return {**inherited, "CLARION_DATABASE_URL": f"sqlite:///{workdir / 'clarion.db'}", **(env or {})}


def _wait_healthy(base: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"clarion serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"clarion serve did not become healthy in {timeout_s}s:\n{log.read_text()}")
