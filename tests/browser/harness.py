"""What the browser tests share: a real `clarion serve` to drive, and helpers around it.

Uses Debian's Chromium (Playwright's own download needs the internet). Screenshots land in
./screenshots for a human to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page

from tests.conftest import AUTH, ROOT, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
SCREENSHOTS = ROOT / "screenshots"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
CLARION = Path(sys.executable).with_name("clarion")


@dataclass
class Server:
    url: str
    log: Path


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"`clarion serve` exited with {process.returncode}:\n{log.read_text()}", pytrace=False
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"`clarion serve` was not healthy within {timeout_s}s:\n{log.read_text()}", pytrace=False)


@contextmanager
def serving(tmp_path: Path, config: Path) -> Iterator[Server]:
    """A real `clarion serve` over `config`, embedded mode on its own SQLite file, on a free port."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {key: value for key, value in os.environ.items() if key != "CLARION_BROKER_URL"}
    env.update(CLARION_DATABASE_URL=f"sqlite:///{tmp_path / 'c.db'}", CLARION_PUBLIC_URL=url)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(CLARION), "serve", "--config", str(config), "--port", str(port)],
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


def send(server: Server, body: dict[str, Any]) -> str:
    response = httpx.post(f"{server.url}/v1/notifications", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def settled(server: Server, notification_id: str, timeout_s: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        body = httpx.get(f"{server.url}/v1/notifications/{notification_id}", headers=AUTH, timeout=5).json()
        if body["status"] not in ("queued", "sending", "held"):
            return dict(body)
        assert time.monotonic() < deadline, f"not settled in {timeout_s}s: {body}"
        time.sleep(0.1)


def sign_in(page: Page, server: Server, username: str = "admin") -> None:
    """From the sign-in page (the example config's operators share one password): lands on the dashboard."""
    page.goto(f"{server.url}/ui/login")
    page.fill("#username", username)
    page.fill("#password", "clarion-demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/dashboard")


def shoot(page: Page, viewport: str, name: str) -> None:
    """What fits the screen, and the whole page."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{viewport}-{name}.png")
    page.screenshot(path=SCREENSHOTS / f"{viewport}-{name}-full.png", full_page=True)


def watch_console(page: Page) -> list[str]:
    """Errors the page logs: CSP violations, failed assets, script errors."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors
