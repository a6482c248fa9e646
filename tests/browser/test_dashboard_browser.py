"""An operator, in a real browser, lands on the dashboard, watches its numbers move as
notifications go out, picks another time range, opens a category and downloads a table as CSV."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.harness import VIEWPORTS, Server, send, settled, shoot, sign_in, watch_console

pytestmark = pytest.mark.browser


def login_codes(server: Server, count: int) -> None:
    ids = [
        send(
            server,
            {
                "to": {
                    "id": f"member-{uuid.uuid4().hex[:6]}",
                    "email": "grace@example.com",
                    "phone": "+14155550100",
                },
                "category": "security",
                "template": "login_code",
                "data": {"code": "493817"},
            },
        )
        for _ in range(count)
    ]
    for notification_id in ids:
        settled(server, notification_id)


def tile(page: Page, key: str) -> str:
    return page.locator(f"[data-tile={key}] .tile__value").inner_text()


def test_an_operator_watches_the_dashboard_move_and_downloads_its_numbers(
    server: Server, browser: Browser, tmp_path: Path
) -> None:
    page = browser.new_page(viewport=VIEWPORTS["desktop"])
    errors = watch_console(page)
    sign_in(page, server)
    expect(page.get_by_role("heading", name="Nothing sent last 24 hours")).to_be_visible()
    expect(page.locator("#first-send")).to_contain_text("curl -X POST")
    shoot(page, "desktop", "dashboard-empty")

    login_codes(server, 2)
    page.reload()
    expect(page.locator("[data-tile=sent] .tile__value")).to_have_text("4")  # email and SMS, each
    login_codes(server, 1)
    page.reload()
    expect(page.locator("[data-tile=sent] .tile__value")).to_have_text("6")
    assert tile(page, "delivery") == "100.0%"
    expect(page.get_by_role("img", name="Messages by channel")).to_be_visible()
    shoot(page, "desktop", "dashboard")

    page.select_option("#range", "7d")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/ui/dashboard?range=7d")
    expect(page.locator("[data-tile=sent] .tile__value")).to_have_text("6")

    with page.expect_download() as download:
        page.locator("a[href^='/ui/dashboard/export/channels']").click()
    saved = tmp_path / "channels.csv"
    download.value.save_as(saved)
    rows = list(csv.reader(saved.open()))
    assert rows[0][:2] == ["Channel", "Sent"] and rows[1][:2] == ["Email", "3"]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Categories").click()
    expect(page.locator("[data-table=categories]")).to_contain_text("security")
    shoot(page, "desktop", "categories")
    page.get_by_role("link", name="security").click()
    expect(page.get_by_role("heading", name="security")).to_be_visible()
    shoot(page, "desktop", "category")

    phone = browser.new_page(viewport=VIEWPORTS["phone"], is_mobile=True, has_touch=True)
    phone_errors = watch_console(phone)
    sign_in(phone, server)
    expect(phone.locator("[data-tile=sent] .tile__value")).to_have_text("6")
    shoot(phone, "phone", "dashboard")
    assert errors == [] and phone_errors == [], errors + phone_errors
