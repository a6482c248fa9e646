"""A marketer, in a real browser, creates a two-variant campaign to a topic, schedules it a few
seconds ahead, and watches its page until every subscriber got one variant or the other."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.harness import VIEWPORTS, Server, shoot, sign_in, watch_console
from tests.conftest import AUTH

SUBSCRIBERS = 24


def import_subscribers(server: Server, topic: str) -> None:
    named = httpx.put(f"{server.url}/v1/topics/{topic}", json={"name": "Monthly newsletter"}, headers=AUTH)
    named.raise_for_status()
    rows = ["id,email,topics"] + [f"reader-{n},reader-{n}@example.com,{topic}" for n in range(SUBSCRIBERS)]
    answer = httpx.post(
        f"{server.url}/v1/recipients/import",
        content="\n".join(rows).encode(),
        headers={**AUTH, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 200 and answer.json()["imported"] == SUBSCRIBERS, answer.text


def stat(page: Page, name: str) -> int:
    return int(page.locator(f"[data-stat={name}] dd").inner_text().replace(",", ""))


def test_a_marketer_schedules_a_two_variant_campaign_and_watches_it_to_the_end(
    server: Server, browser: Browser
) -> None:
    import_subscribers(server, "newsletter")
    page = browser.new_page(viewport=VIEWPORTS["desktop"])
    errors = watch_console(page)
    sign_in(page, server)

    page.click("nav >> text=Campaigns")
    expect(page.locator("h2")).to_have_text("No campaigns yet")
    shoot(page, "desktop", "campaigns-empty")
    page.click("text=Create your first campaign")

    page.fill("#c-name", "December newsletter")
    page.select_option("#c-category", "marketing")
    page.select_option("#c-template", "newsletter")
    page.fill("#c-data", '{"headline": "December"}')
    page.check("input[name=audience][value=topic]")
    page.select_option("#c-topic", "newsletter")
    # The form shows only the chosen template's A/B weights.
    expect(page.locator("#w-newsletter-A")).to_be_visible()
    page.fill("#w-newsletter-A", "50")
    page.fill("#w-newsletter-B", "50")
    page.check("input[name=when][value=at]")
    start = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    page.fill("#c-send-at", start.strftime("%Y-%m-%dT%H:%M:%S"))
    shoot(page, "desktop", "campaign-new")
    page.click("text=Save campaign")

    expect(page.locator("#campaign-state")).to_have_text("scheduled")
    expect(page.locator("[role=status]").first).to_contain_text("Scheduled")
    shoot(page, "desktop", "campaign-scheduled")

    # The page reloads itself while the campaign goes out; wait for the fan-out and the sends.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        page.reload()
        if page.locator("#campaign-state").inner_text() == "sent" and stat(page, "waiting") == 0:
            break
    expect(page.locator("#campaign-state")).to_have_text("sent")
    assert stat(page, "waiting") == 0
    expect(page.locator("#planned")).to_have_text(str(SUBSCRIBERS))

    reached = {
        name: int(page.locator(f"tr[data-variant={name}] td[data-label=Recipients]").inner_text())
        for name in ("A", "B")
    }
    # Every subscriber is in exactly one variant, and both variants went out.
    assert sum(reached.values()) == SUBSCRIBERS and all(reached.values()), reached
    assert stat(page, "sent") >= SUBSCRIBERS  # an email each at least (in-app too, where it applies)
    shoot(page, "desktop", "campaign-sent")

    phone = browser.new_page(viewport=VIEWPORTS["phone"])
    sign_in(phone, server)
    phone.goto(page.url)
    shoot(phone, "phone", "campaign-sent")
    phone.goto(f"{server.url}/ui/campaigns")
    expect(phone.locator("text=December newsletter")).to_be_visible()
    shoot(phone, "phone", "campaigns")
    assert not errors, errors
