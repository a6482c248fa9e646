"""The bell widget in a real browser, on the operator's Inbox page: a message sent through the
API shows on the bell within a second; opening the bell lists it, and reading it is recorded as
an `in_app` `read` event of its notification."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.browser.harness import VIEWPORTS, Server, send, serving, settled, shoot, watch_console
from tests.browser.test_ui_browser import sign_in
from tests.conftest import AUTH, ROOT

INBOX_CONFIG = ROOT / "tests" / "configs" / "inbox.yaml"

pytestmark = pytest.mark.browser


def test_the_bell_shows_a_new_message_within_a_second_and_records_its_read(
    server: Server, browser: Browser
) -> None:
    recipient = f"bell-{uuid.uuid4().hex[:8]}"
    page = browser.new_context(viewport=VIEWPORTS["desktop"]).new_page()
    errors = watch_console(page)
    sign_in(page, server)
    page.get_by_role("link", name="Inbox").click()
    page.get_by_label("Recipient ID").fill(recipient)
    page.get_by_role("button", name="Show their bell").click()
    bell = page.get_by_role("button", name="Notifications")
    expect(bell).to_be_visible()
    page.wait_for_load_state("networkidle")  # the widget has listed the (empty) inbox and is listening

    started = time.monotonic()
    notification_id = send(
        server,
        {
            "to": {"id": recipient, "email": f"{recipient}@example.com"},
            "category": "marketing",
            "template": "newsletter",
            "data": {"headline": "Spring news"},
        },
    )
    expect(page.get_by_role("button", name="Notifications, 1 unread")).to_be_visible(timeout=1000)
    assert time.monotonic() - started < 1.5  # the POST itself included
    shoot(page, "desktop", "inbox-bell")

    page.get_by_role("button", name="Notifications, 1 unread").click()
    panel = page.get_by_role("region", name="Notifications")
    expect(panel.get_by_text("Spring news")).to_be_visible()
    expect(panel.get_by_text("Our monthly news is here.")).to_be_visible()
    shoot(page, "desktop", "inbox-open")
    panel.get_by_role("button", name="Mark read").click()
    expect(page.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    expect(panel.get_by_role("button", name="Mark unread")).to_be_visible()

    notification = settled(server, notification_id)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        body = httpx.get(f"{server.url}/v1/notifications/{notification_id}", headers=AUTH, timeout=5).json()
        [in_app] = [d for d in body["deliveries"] if d["channel"] == "in_app"]
        if in_app["events"]:
            break
        time.sleep(0.1)
    assert in_app["status"] == "sent" and notification["status"]
    assert [(e["kind"], e["provider"]) for e in in_app["events"]] == [("read", "in_app")]
    assert errors == []


@pytest.fixture
def inbox_server(tmp_path: Path) -> Iterator[Server]:
    """No frequency cap: enough messages for more than one page of the bell."""
    with serving(tmp_path, INBOX_CONFIG) as running:
        yield running


def test_on_a_phone_the_bell_pages_back_and_marks_everything_read(
    inbox_server: Server, browser: Browser
) -> None:
    recipient = f"phone-{uuid.uuid4().hex[:8]}"
    for n in range(1, 23):  # more than the bell's page of 20
        send(
            inbox_server,
            {
                "to": {"id": recipient, "attributes": {"plan": "pro"}},
                "category": "activity",
                "template": "comment",
                "data": {"who": "Ada", "text": f"Comment {n}", "n": n},
            },
        )
    context = browser.new_context(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True)
    page = context.new_page()
    errors = watch_console(page)
    sign_in(page, inbox_server)
    page.goto(f"{inbox_server.url}/ui/inbox?recipient={recipient}")
    bell = page.get_by_role("button", name="Notifications, 22 unread")
    expect(bell).to_be_visible(timeout=10_000)
    bell.click()
    panel = page.get_by_role("region", name="Notifications")
    expect(panel.get_by_role("listitem")).to_have_count(20)
    shoot(page, "phone", "inbox-open")
    panel.get_by_role("button", name="Show older").click()
    expect(panel.get_by_role("listitem")).to_have_count(22)
    for n in range(1, 23):  # in the order they were delivered, which 4 worker threads may shuffle
        expect(panel.get_by_text(f"Comment {n}", exact=True)).to_have_count(1)
    expect(panel.get_by_role("button", name="Show older")).to_be_hidden()
    panel.get_by_role("button", name="Mark all read").click()
    expect(page.get_by_role("button", name="Notifications", exact=True)).to_be_visible()
    expect(panel.get_by_role("button", name="Mark all read")).to_be_disabled()
    assert errors == []
