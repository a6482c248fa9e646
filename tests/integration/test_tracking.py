"""Open and click tracking end to end, over both stacks: a newsletter carries the pixel and its
links through the redirect, a receipt carries neither; opening and clicking record events, a
mail proxy's are flagged, and a token that was altered is refused without a redirect."""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from typing import Any

from sqlalchemy import select

from appliance.campaigns.engagement import engagement
from appliance.db.models import Notification
from appliance.tracking.automation import TOO_SOON
from tests.conftest import AUTH, Stack
from tests.integration.test_campaigns import add_recipients, create, finished
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
    # Opens and clicks are events, not steps of the delivery: its status stays where it was.
    notification = (await stack.client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
    assert [d["status"] for d in notification["deliveries"] if d["channel"] == "email"] == ["sent"]


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


async def test_campaign_engagement_counts_people_once_and_leaves_machines_out(stack: Stack) -> None:
    """Per variant: recipients reached, and of them who opened and clicked — each person once,
    however often they opened, and never for a mail proxy's open or a link checker's click."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 9, topic=topic)
    campaign_id = await create(
        stack.client,
        {
            "name": "Tracked news",
            "category": "marketing",
            "template": "newsletter",
            "data": {"headline": "Winter"},
            "audience": {"topic": topic},
            "variants": {"A": {"weight": 50}, "B": {"weight": 50}},
        },
    )
    await stack.client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)
    await finished(stack.client, campaign_id)
    async with stack.client.app.state.services.database.sessions() as session:
        rows = await session.execute(
            select(Notification.id, Notification.variant).where(
                Notification.campaign_id == uuid.UUID(campaign_id)
            )
        )
        variant_of = {str(id_): variant for id_, variant in rows}
    captured = await stack.client.get("/v1/sandbox/messages?channel=email&limit=500", headers=AUTH)
    emails = sorted(
        (m["notification_id"], m["html"])
        for m in _messages(captured.json())
        if m["notification_id"] in variant_of
    )
    assert len(emails) == 9

    await asyncio.sleep(TOO_SOON.total_seconds())  # past the instant clicks of scanners
    expected = {v: {"reached": 0, "opened": 0, "clicked": 0} for v in set(variant_of.values())}
    for index, (notification_id, body) in enumerate(emails):
        pixel = local(re.search(r'<img src="([^"]+/t/o/[^"]+)"', body).group(1))
        link = local(re.search(r'href="([^"]+/t/c/[^"]+)"', body).group(1))
        variant = variant_of[notification_id]
        expected[variant]["reached"] += 1
        if index % 3 == 0:  # a person: opens twice, clicks twice
            for _ in range(2):
                await stack.client.get(pixel, headers={"User-Agent": BROWSER})
                await stack.client.get(link, headers={"User-Agent": BROWSER}, follow_redirects=False)
            expected[variant]["opened"] += 1
            expected[variant]["clicked"] += 1
        elif index % 3 == 1:  # machines only: a mail proxy's fetch, a link checker's HEAD
            await stack.client.get(pixel, headers={"User-Agent": PROXY})
            await stack.client.head(link, headers={"User-Agent": BROWSER})

    async with stack.client.app.state.services.database.sessions() as session:
        assert await engagement(session, uuid.UUID(campaign_id)) == expected
