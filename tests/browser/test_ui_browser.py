"""The operator UI in a real browser: `clarion serve` in a subprocess, driven by headless Chromium.

Screenshots of every page at desktop and phone sizes land in ./screenshots for a human to look at.
"""

from __future__ import annotations

import json
import subprocess
import uuid

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.harness import SCREENSHOTS, VIEWPORTS, Server, send, settled, shoot, watch_console
from tests.conftest import AUTH

pytestmark = pytest.mark.browser


def sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/ui/messages")
    expect(page).to_have_url(f"{server.url}/ui/login?next=%2Fui%2Fmessages")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("clarion-demo")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{server.url}/ui/messages")


def seed(server: Server) -> tuple[str, str, str]:
    """An order to a recipient with a push device, a welcome, a sign-in code, and one that fails."""
    shopper, member = f"shopper-{uuid.uuid4().hex[:6]}", f"member-{uuid.uuid4().hex[:6]}"
    profile = {"id": shopper, "email": "ada@example.com", "attributes": {"name": "Ada"}}
    assert httpx.post(f"{server.url}/v1/recipients", json=profile, headers=AUTH).status_code in (200, 201)
    device = {"platform": "fcm", "token": "fcm-token-0123456789"}
    assert httpx.post(f"{server.url}/v1/recipients/{shopper}/devices", json=device, headers=AUTH).is_success
    order = send(
        server,
        {
            "to": {"id": shopper},
            "category": "orders",
            "template": "order_shipped",
            "data": {"order_id": "A-1001", "carrier": "DHL", "eta": "Thursday"},
        },
    )
    code = send(
        server,
        {
            "to": {"id": member, "email": "grace@example.com", "phone": "+14155550100"},
            "category": "security",
            "template": "login_code",
            "data": {"code": "493817"},
        },
    )
    welcome = send(server, {"to": {"id": shopper}, "category": "marketing", "template": "welcome"})
    # no `code`: both channels fail to render, so the list shows a failure too
    broken = send(
        server,
        {"to": {"id": member, "phone": "+14155550100"}, "category": "security", "template": "login_code"},
    )
    for notification_id in (order, code, welcome, broken):
        settled(server, notification_id)
    return shopper, order, broken


def test_an_operator_signs_in_and_follows_a_notification_to_the_sandbox(
    server: Server, browser: Browser
) -> None:
    shopper, order_id, broken_id = seed(server)
    for viewport, size in VIEWPORTS.items():
        context = browser.new_context(
            viewport=size, is_mobile=viewport == "phone", has_touch=viewport == "phone"
        )
        page = context.new_page()
        errors = watch_console(page)

        page.goto(f"{server.url}/ui/login")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        shoot(page, viewport, "login")
        sign_in(page, server)

        row = page.locator(f'a[href="/ui/messages/{order_id}"]')
        expect(row).to_be_visible()
        expect(page.get_by_role("cell", name=shopper, exact=True).first).to_be_visible()
        shoot(page, viewport, "messages")

        row.click()
        expect(page).to_have_url(f"{server.url}/ui/messages/{order_id}")
        expect(page.get_by_text("Attempt 1").first).to_be_visible()
        expect(page.get_by_text("sandbox_email").first).to_be_visible()
        shoot(page, viewport, "detail")

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sandbox").click()
        expect(page).to_have_url(f"{server.url}/ui/sandbox")
        expect(page.get_by_text("Order A-1001 is on its way").first).to_be_visible()
        frame = page.locator('iframe.mail__frame[title="Email: Order A-1001 is on its way"]')
        expect(frame.content_frame.get_by_role("heading", name="Order A-1001 is on its way")).to_be_visible()
        frame.scroll_into_view_if_needed()  # off-screen frames are not painted in full-page shots
        page.locator("article", has=frame).screenshot(path=SCREENSHOTS / f"{viewport}-sandbox-email.png")
        expect(page.locator(".sms-bubble", has_text="Your code is 493817.")).to_be_visible()
        shoot(page, viewport, "sandbox")

        page.goto(f"{server.url}/ui/messages/{broken_id}")
        expect(page.get_by_text("'code' is undefined").first).to_be_visible()
        shoot(page, viewport, "detail-failed")

        assert errors == [], f"{viewport}: the browser reported {errors}"
        context.close()


def test_a_new_operator_sees_how_to_send_the_first_notification(server: Server, browser: Browser) -> None:
    command = ""
    for viewport, size in VIEWPORTS.items():
        context = browser.new_context(viewport=size)
        page = context.new_page()
        errors = watch_console(page)
        page.goto(f"{server.url}/ui/login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("wrong")
        page.get_by_label("Password").press("Enter")
        expect(page.get_by_role("alert")).to_contain_text("do not match")
        shoot(page, viewport, "login-error")
        assert errors == ["Failed to load resource: the server responded with a status of 401 (Unauthorized)"]
        errors.clear()  # the refused sign-in is answered 401 on purpose

        sign_in(page, server)
        expect(page.get_by_text("No notifications yet")).to_be_visible()
        expect(page.locator("#first-send")).to_contain_text("Authorization: Bearer <your API key>")
        expect(page.locator("#first-send")).to_contain_text(f"curl -X POST {server.url}/v1/notifications")
        command = page.locator("#first-send").inner_text()
        shoot(page, viewport, "messages-empty")
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Sandbox").click()
        expect(page.get_by_text("Nothing captured yet")).to_be_visible()
        shoot(page, viewport, "sandbox-empty")

        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{server.url}/ui/login")
        assert errors == [], f"{viewport}: the browser reported {errors}"
        context.close()

    # The command works as shown once an API key is put in, and its notification is listed.
    runnable = command.replace("<your API key>", "clarion-demo-key")
    sent = subprocess.run(["bash", "-c", runnable], capture_output=True, text=True, timeout=30, check=True)
    settled(server, json.loads(sent.stdout)["id"])
    context = browser.new_context(viewport=VIEWPORTS["desktop"])
    page = context.new_page()
    sign_in(page, server)
    expect(page.get_by_role("cell", name="user-1", exact=True)).to_be_visible()
    context.close()
