"""The preference center in a real browser, reached the way a recipient reaches it: from the link
in an email the sandbox captured. Screenshots at desktop and phone sizes land in ./screenshots.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.harness import SCREENSHOTS, VIEWPORTS, Server, send, settled, shoot, watch_console
from tests.conftest import AUTH

PREFERENCES_LINK = re.compile(r'href="(https?://[^"]+/preferences/[^"]+)"')
UNSUBSCRIBE_LINK = re.compile(r"<(https?://[^>]+/unsubscribe/[^>]+)>")

pytestmark = pytest.mark.browser


def newsletter(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient, "email": f"{recipient}@example.com"},
        "category": "marketing",
        "template": "newsletter",
        "data": {"headline": "Spring news"},
    }


def login_code(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient, "email": f"{recipient}@example.com"},
        "category": "security",
        "template": "login_code",
        "data": {"code": "123456"},
    }


def captured_email(server: Server, recipient: str) -> dict[str, Any]:
    """The newest email the sandbox captured for the recipient, as the API returns it."""
    messages = httpx.get(
        f"{server.url}/v1/sandbox/messages", params={"channel": "email"}, headers=AUTH, timeout=5
    ).json()["messages"]
    return next(m for m in messages if m["to"] == f"{recipient}@example.com")


def email_of(notification: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in notification["deliveries"] if d["channel"] == "email")


def open_page(browser: Browser, viewport: str) -> Page:
    phone = viewport == "phone"
    context = browser.new_context(viewport=VIEWPORTS[viewport], is_mobile=phone, has_touch=phone)
    return context.new_page()


def test_a_recipient_turns_off_marketing_email_from_the_link_in_a_newsletter(
    server: Server, browser: Browser
) -> None:
    recipient = f"reader-{uuid.uuid4().hex[:8]}"
    assert email_of(settled(server, send(server, newsletter(recipient))))["status"] == "sent"
    link = PREFERENCES_LINK.search(captured_email(server, recipient)["html"])
    assert link, "the newsletter has no link to the preference center"

    page = open_page(browser, "desktop")
    errors = watch_console(page)
    page.goto(link.group(1))
    expect(page.get_by_role("heading", name="Notification preferences")).to_be_visible()
    marketing = page.get_by_role("group", name="News and offers")
    expect(marketing.get_by_role("switch", name="Email")).to_be_checked()
    expect(page.get_by_text("Always sent")).to_be_visible()
    marketing.get_by_role("switch", name="Email").uncheck()
    page.get_by_role("button", name="Save preferences").click()

    expect(page).to_have_url(re.compile(r"/preferences/[^?]+\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Your preferences are saved.")
    expect(marketing.get_by_role("switch", name="Email")).not_to_be_checked()
    expect(marketing.get_by_role("switch", name="In the app")).to_be_checked()
    assert errors == [], f"the browser reported {errors}"
    page.context.close()

    held_back = email_of(settled(server, send(server, newsletter(recipient))))
    assert held_back["status"] == "skipped"
    assert "opted out of marketing on email" in held_back["error"]
    assert email_of(settled(server, send(server, login_code(recipient))))["status"] == "sent"


def test_every_end_user_page_looks_right_on_a_desktop_and_a_phone(server: Server, browser: Browser) -> None:
    for viewport in VIEWPORTS:
        recipient = f"reader-{uuid.uuid4().hex[:8]}"
        settled(server, send(server, newsletter(recipient)))
        email = captured_email(server, recipient)
        preferences = PREFERENCES_LINK.search(email["html"])
        unsubscribe = UNSUBSCRIBE_LINK.search(email["payload"]["headers"]["List-Unsubscribe"])
        assert preferences and unsubscribe
        page = open_page(browser, viewport)
        errors = watch_console(page)

        page.goto(preferences.group(1))
        expect(page.get_by_role("button", name="Save preferences")).to_be_visible()
        shoot(page, viewport, "center-preferences")
        page.get_by_label("Unsubscribe from everything optional").check()
        page.get_by_role("button", name="Save preferences").click()
        expect(page.locator("#all-off")).to_be_visible()
        shoot(page, viewport, "center-preferences-all-off")

        page.goto(unsubscribe.group(1))
        expect(page.get_by_role("heading", name="Unsubscribe from News and offers?")).to_be_visible()
        shoot(page, viewport, "center-unsubscribe")
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
        shoot(page, viewport, "center-unsubscribed")
        page.get_by_role("link", name="Manage all your preferences").click()
        expect(
            page.get_by_role("group", name="News and offers").get_by_role("switch", name="Email")
        ).not_to_be_checked()

        # A broken link is answered 400 on purpose; the browser logs that status.
        page.goto(preferences.group(1)[:-4] + "abcd")
        expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
        shoot(page, viewport, "center-invalid-link")
        assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
        page.context.close()
    assert (SCREENSHOTS / "phone-center-preferences-full.png").exists()
