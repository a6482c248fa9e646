"""An operator, in a real browser, previews a template, sends a test from it, lands on the
message and reads its timeline, then finds the recipient; every page shot at desktop and phone sizes."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.harness import SCREENSHOTS, VIEWPORTS, Server, shoot, watch_console
from tests.browser.test_ui_browser import sign_in

pytestmark = pytest.mark.browser


def send_a_test(page: Page, server: Server, recipient: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    expect(page).to_have_url(f"{server.url}/ui/templates")
    page.get_by_role("link", name="order_shipped").click()
    frame = page.locator('iframe.mail__frame[title="Email: Order A-1001 is on its way"]')
    expect(frame.content_frame.get_by_role("heading", name="Order A-1001 is on its way")).to_be_visible()

    page.get_by_label("Channel").select_option("push")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".push__title")).to_have_text("Order A-1001 shipped")
    expect(page.locator(".mail__frame")).to_have_count(0)

    page.get_by_label("Recipient ID").fill(recipient)
    page.get_by_label("Email").fill(f"{recipient}@example.com")
    page.get_by_label("Category").select_option("orders")
    page.get_by_role("button", name="Send test").click()
    expect(page).to_have_url(re.compile(rf"{server.url}/ui/messages/[0-9a-f-]{{36}}$"))


def test_an_operator_sends_a_test_from_a_template_and_follows_it(server: Server, browser: Browser) -> None:
    for viewport, size in VIEWPORTS.items():
        context = browser.new_context(
            viewport=size, is_mobile=viewport == "phone", has_touch=viewport == "phone"
        )
        page = context.new_page()
        errors = watch_console(page)
        sign_in(page, server)
        recipient = f"tester-{uuid.uuid4().hex[:6]}"

        page.goto(f"{server.url}/ui/templates")
        shoot(page, viewport, "templates")
        page.goto(f"{server.url}/ui/templates/order_shipped")
        frame = page.locator("iframe.mail__frame")
        expect(frame.content_frame.get_by_role("heading", name="Order A-1001 is on its way")).to_be_visible()
        shoot(page, viewport, "template")
        page.goto(f"{server.url}/ui/templates/login_code?sample=%7B%7D")
        expect(page.get_by_text("'code' is undefined").first).to_be_visible()
        shoot(page, viewport, "template-error")

        send_a_test(page, server, recipient)
        expect(page.get_by_text("ui:admin")).to_be_visible()
        # The timeline fills in as the embedded workers deliver; reload until the email's attempt shows.
        for _ in range(50):
            if page.locator(".timeline").count() >= 2:
                break
            page.wait_for_timeout(200)
            page.reload()
        email = page.get_by_role("list", name="Attempts for Email")
        expect(email.get_by_text("Attempt 1")).to_be_visible()
        expect(email.get_by_text("sandbox_email")).to_be_visible()
        shoot(page, viewport, "template-test-sent")

        page.get_by_role("link", name=recipient).first.click()
        expect(page).to_have_url(f"{server.url}/ui/recipients/{recipient}")
        expect(page.get_by_role("cell", name="order_shipped")).to_be_visible()
        shoot(page, viewport, "recipient")
        page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Recipients").click()
        page.get_by_label("ID, email or phone").fill(recipient[:9])
        page.get_by_role("button", name="Search").click()
        expect(page.get_by_role("link", name=recipient)).to_be_visible()
        shoot(page, viewport, "recipients")

        assert errors == [], f"{viewport}: the browser reported {errors}"
        context.close()
    assert (SCREENSHOTS / "phone-recipient.png").exists()
