"""Browser-test fixtures: a real `clarion serve` on the example config, and headless Chromium."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, CLARION, Server, wait_until_healthy
from tests.conftest import EXAMPLE_CONFIG, ROOT, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `clarion serve`, embedded mode on its own SQLite file, on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if key != "CLARION_BROKER_URL"}
    env.update(CLARION_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", CLARION_PUBLIC_URL=url)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CLARION), "serve", "--config", str(EXAMPLE_CONFIG), "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    try:
        wait_until_healthy(url, process, log)
        yield Server(url=url, log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. Install Debian's build with "
            "`apt-get update && apt-get install -y chromium` (scripts/ensure-services does this as root).",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
