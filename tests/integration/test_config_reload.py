"""A running `clarion serve` switches to a changed config: from the configuration page, or on
SIGHUP. Requests arriving meanwhile wait instead of failing, and nothing accepted is lost."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import AUTH
from tests.live_server import live_process
from tests.web.test_operations_pages import example_copy
from tests.web.test_ui_pages import CSRF_FIELD


def signed_in_admin(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=10)
    token = CSRF_FIELD.search(client.get("/ui/login").text).group(1)  # type: ignore[union-attr]
    form = {"username": "admin", "password": "clarion-demo", "next": "", "_csrf_token": token}
    assert client.post("/ui/login", data=form).status_code == 303
    return client


def product_name(client: httpx.Client) -> str:
    title = client.get("/ui/login", follow_redirects=True).text.split("<title>", 1)[1].split("</title>", 1)[0]
    return title.rsplit("·", 1)[1].strip()


def wait_for(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    """Until `condition` holds. A keep-alive connection the old app closed as it stopped may be
    reset under a request; browsers retry those, and so does this."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_the_configuration_page_reloads_a_changed_file_and_keeps_what_was_accepted(tmp_path: Path) -> None:
    config = example_copy(tmp_path)
    with live_process(tmp_path, config) as (base, _):
        ui = signed_in_admin(base)
        accepted = ui.post(
            "/v1/notifications",
            headers=AUTH,
            json={
                "to": {"id": "reload-1", "email": "reload@example.com"},
                "category": "orders",
                "template": "order_shipped",
                "data": {"order_id": "R-1", "carrier": "DHL"},
            },
        )
        assert accepted.status_code == 202
        config.write_text(config.read_text().replace("Clarion Demo", "Acme Alerts"))
        page = ui.get("/ui/config")
        assert "changed on disk" in page.text
        token = CSRF_FIELD.search(page.text).group(1)  # type: ignore[union-attr]

        reloading = ui.post("/ui/config/reload", data={"_csrf_token": token})
        assert reloading.status_code == 202 and 'content="2;url=/ui/config?done=reloaded"' in reloading.text
        wait_for(
            lambda: "Reloaded: the file on disk is in force now." in ui.get("/ui/config?done=reloaded").text
        )
        assert product_name(ui) == "Acme Alerts"
        wait_for(
            lambda: (
                ui.get(f"/v1/notifications/{accepted.json()['id']}", headers=AUTH).json()["status"] == "sent"
            )
        )


def test_sighup_reloads_a_valid_file_and_keeps_running_on_a_broken_one(tmp_path: Path) -> None:
    config = example_copy(tmp_path)
    original = config.read_text()
    with live_process(tmp_path, config) as (base, process), httpx.Client(base_url=base, timeout=10) as client:
        config.write_text(
            original.replace("Clarion Demo", "Broken", 1).replace("strategy: fallback", "strategy: sideways")
        )
        process.send_signal(signal.SIGHUP)
        time.sleep(1.5)
        assert process.poll() is None and product_name(client) == "Clarion Demo"

        config.write_text(original.replace("Clarion Demo", "Acme Alerts"))
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: product_name(client) == "Acme Alerts")
        assert client.get("/healthz").status_code == 200
    log = (tmp_path / "serve.log").read_text()
    assert "not reloading: 1 problem(s)" in log and "categories.reminders.strategy" in log
