"""The operator's pages in a real browser: a viewer looks at providers, dead letters and the
configuration without a button to change anything; an admin retries the dead letter and
follows it to its message, sent. Screenshots of each page at desktop and phone sizes."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.harness import VIEWPORTS, Server, send, settled, shoot, sign_in, watch_console

pytestmark = pytest.mark.browser


def dead_email(server: Server, database: Path) -> str:
    """A real order whose email then used every try, as a provider that kept failing leaves it."""
    recipient = f"ops-{uuid.uuid4().hex[:6]}"
    body = {
        "to": {"id": recipient, "email": "ops@example.com"},
        "category": "orders",
        "template": "order_shipped",
        "data": {"order_id": "D-1", "carrier": "DHL"},
    }
    notification_id = send(server, body)
    settled(server, notification_id)
    with sqlite3.connect(database) as connection:
        connection.execute(
            "UPDATE deliveries SET status = 'dead', attempt_count = 5, last_error = ?"
            " WHERE notification_id = ? AND channel = 'email'",
            ("HTTP 503 from the provider", uuid.UUID(notification_id).hex),
        )
    return recipient


def test_a_viewer_looks_and_an_admin_retries_a_dead_letter(
    browser: Browser, server: Server, tmp_path: Path
) -> None:
    recipient = dead_email(server, tmp_path / "c.db")
    for viewport, size in VIEWPORTS.items():
        viewer = browser.new_page(viewport=size)
        errors = watch_console(viewer)
        sign_in(viewer, server, "viewer")
        viewer.get_by_role("link", name="Dead letters").click()
        row = viewer.locator("tr", has_text=recipient)
        expect(row).to_contain_text("HTTP 503 from the provider")
        expect(viewer.get_by_role("button", name="Retry")).to_have_count(0)
        shoot(viewer, viewport, "dead-letters")
        viewer.get_by_role("link", name="Providers").click()
        expect(viewer.locator("[data-provider=sandbox_email]")).to_contain_text("closed")
        shoot(viewer, viewport, "providers")
        viewer.get_by_role("link", name="Configuration").click()
        expect(viewer.get_by_text("The file on disk is the one in force.")).to_be_visible()
        expect(viewer.get_by_role("button", name="Reload the configuration")).to_have_count(0)
        assert "clarion-demo-key" not in viewer.content()
        shoot(viewer, viewport, "configuration")
        for name, heading in (
            ("segments", "Segments"),
            ("import", "Import recipients"),
            ("categories", "Categories"),
        ):
            viewer.get_by_role("link", name=heading.split()[0], exact=True).click()
            expect(viewer.get_by_role("heading", level=1)).to_have_text(heading)
            shoot(viewer, viewport, name)
        assert errors == []
        viewer.close()

    admin = browser.new_page(viewport=VIEWPORTS["desktop"])
    sign_in(admin, server)
    admin.goto(f"{server.url}/ui/dead-letters")
    admin.get_by_role("button", name=f"Retry the Email delivery to {recipient}").click()
    expect(admin.get_by_role("status")).to_contain_text("Sent again")
    expect(admin.get_by_text("No dead letters")).to_be_visible()
    admin.get_by_role("link", name="Messages").click()
    admin.locator("tr", has_text=recipient).get_by_role("link").first.click()
    expect(admin.locator(".delivery", has_text="Email")).to_contain_text("sent")
    admin.close()
