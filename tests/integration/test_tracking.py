"""Open and click tracking end to end, over both stacks: a newsletter carries the pixel and its
links through the redirect, a receipt carries neither; opening and clicking record events, a
mail proxy's are flagged, and a token that was altered is refused without a redirect."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

from appliance.tracking.automation import TOO_SOON
from tests.conftest import AUTH, Stack
from tests.integration.test_notifications_api import new_id, settled

BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15"
PROXY = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"


async def email_html(stack: Stack, body: dict[str, Any]) -> tuple[str, str]:
    """(notification id, the HTML of the email the sandbox captured)."""
    sent = await stack.client.post("/v1/notifications", json=body, headers=AUTH)
    notification_id = sent.json()["id"]
    await settled(stack.client, notification_id)
    captured = (await stack.client.get("/v1/sandbox/messages", headers=AUTH)).json()
    emails = [m for m in _messages(captured) if m["notification_id"] == notification_id and m.get("html")]
    assert emails, captured
    return notification_id, emails[0]["html"]


def _messages(captured: Any) -> list[dict[str, Any]]:
    return captured["messages"] if isinstance(captured, dict) else captured


def newsletter(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient, "email": f"{recipient}@example.com"},
        "category": "marketing",
        "template": "newsletter",
        "data": {"headline": "December", "read_more_url": "https://example.com/news/december?from=mail"},
    }


def local(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", html.unescape(url))


async def email_events(stack: Stack, notification_id: str) -> list[dict[str, Any]]:
    body = (await stack.client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
    return [e for d in body["deliveries"] if d["channel"] == "email" for e in d["events"]]


async def test_a_marketing_email_is_tracked_and_a_receipt_is_not(stack: Stack) -> None:
    _, tracked = await email_html(stack, newsletter(new_id()))
    assert re.search(r'<img src="[^"]+/t/o/[^"]+\.gif" width="1" height="1"', tracked)
    assert re.search(r'href="[^"]+/t/c/[^"]+"[^>]*>Read the full issue', tracked)
    assert 'href="https://example.com/news' not in tracked
    assert "/preferences/" in tracked and "/t/c/" not in tracked.split("/preferences/")[0][-200:]

    receipt = {
        "to": {"id": new_id(), "email": "buyer@example.com"},
        "category": "orders",
        "template": "order_shipped",
        "data": {"order_id": "A-1", "carrier": "DHL"},
    }
    _, plain = await email_html(stack, receipt)
    assert "/t/o/" not in plain and "/t/c/" not in plain


async def test_opening_and_clicking_record_events_and_a_mail_proxy_is_flagged(stack: Stack) -> None:
    notification_id, body = await email_html(stack, newsletter(new_id()))
    pixel = local(re.search(r'<img src="([^"]+/t/o/[^"]+)"', body).group(1))
    link = local(re.search(r'href="([^"]+/t/c/[^"]+)"', body).group(1))

    # A scanner follows the link the moment the message lands, before anyone could read it.
    scanned = await stack.client.get(link, headers={"User-Agent": BROWSER}, follow_redirects=False)
    seen = await stack.client.get(pixel, headers={"User-Agent": BROWSER})
    assert (seen.status_code, seen.headers["content-type"]) == (200, "image/gif")
    assert seen.content.startswith(b"GIF89a") and "no-store" in seen.headers["cache-control"]
    await stack.client.get(pixel, headers={"User-Agent": PROXY})
    await asyncio.sleep(TOO_SOON.total_seconds())  # a person reads before clicking; a scanner does not
    followed = await stack.client.get(link, headers={"User-Agent": BROWSER}, follow_redirects=False)
    for answer in (scanned, followed):
        assert answer.status_code == 302
        assert answer.headers["location"] == "https://example.com/news/december?from=mail"

    events = await email_events(stack, notification_id)
    assert [(e["kind"], e["provider"], e["automated"]) for e in events] == [
        ("clicked", "tracking", "within 2s of sending (a prefetch)"),
        ("opened", "tracking", None),
        ("opened", "tracking", "mail proxy"),
        ("clicked", "tracking", None),
    ]


async def test_an_altered_click_token_is_refused_with_a_page_and_no_redirect(stack: Stack) -> None:
    notification_id, body = await email_html(stack, newsletter(new_id()))
    link = local(re.search(r'href="([^"]+/t/c/[^"]+)"', body).group(1))
    payload, signature = link.rsplit(".", 1)
    for forged in (f"{payload}A.{signature}", "/t/c/" + "eyJ1IjoiaHR0cHM6Ly9ldmlsLmV4YW1wbGUifQ.x", "/t/c/x"):
        answer = await stack.client.get(forged, headers={"User-Agent": BROWSER}, follow_redirects=False)
        assert answer.status_code == 404, forged
        assert "location" not in answer.headers
        assert "This link does not work" in answer.text
    broken_pixel = await stack.client.get("/t/o/not-a-token.gif", headers={"User-Agent": BROWSER})
    assert broken_pixel.status_code == 200 and broken_pixel.headers["content-type"] == "image/gif"
    assert await email_events(stack, notification_id) == []
