"""Browser-test fixtures: a real `clarion serve` on the example config, and headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, Server, serving
from tests.conftest import EXAMPLE_CONFIG


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `clarion serve` on the example config, embedded mode on its own SQLite file."""
    with serving(tmp_path, EXAMPLE_CONFIG) as running:
        yield running


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
