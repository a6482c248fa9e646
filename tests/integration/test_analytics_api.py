"""/v1/analytics over both stacks: the same figures as the dashboard, as JSON, behind an API key.

Given notifications sent and an unsubscribe, the overview, the series, the categories and the
queues say what happened; an empty range has rates of None (unknown), not 0.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import AUTH, Stack
from tests.web.test_ui_pages import login_code, new_id, order_shipped, send, settled


async def get(stack: Stack, path: str) -> Any:
    response = await stack.client.get(path, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def welcome(recipient: str) -> dict[str, Any]:
    return {
        "to": {"id": recipient, "email": f"{recipient}@example.com"},
        "category": "marketing",
        "template": "welcome",
    }


async def test_an_empty_range_has_no_rates_and_says_its_buckets(stack: Stack) -> None:
    body = await get(stack, "/v1/analytics/overview?range=7d")
    assert body["total"]["deliveries"] == 0
    assert body["total"]["delivery_rate"] is None and body["total"]["open_rate"] is None
    assert body["window"]["range"] == "7d" and body["window"]["bucket_s"] == 86400
    hour = await get(stack, "/v1/analytics/series?range=1h")
    assert hour["window"]["bucket_s"] == 300 and hour["points"] == []


async def test_the_figures_count_what_was_sent_and_who_unsubscribed(stack: Stack) -> None:
    reader = new_id()
    ids = [
        await send(stack.client, body)
        for body in (login_code(new_id()), order_shipped(new_id()), welcome(reader))
    ]
    for notification_id in ids:
        await settled(stack.client, notification_id)
    opted_out = {"categories": {"marketing": {"email": False}}}
    changed = await stack.client.put(f"/v1/recipients/{reader}/preferences", json=opted_out, headers=AUTH)
    assert changed.status_code == 200, changed.text

    overview = await get(stack, "/v1/analytics/overview")
    total = overview["total"]
    assert total["sent"] == 6  # sms+email, email+webhook, email+in_app (both pushes skipped: no device)
    assert total["delivered"] == 6 and total["delivery_rate"] == 1.0 and total["bounce_rate"] == 0.0
    assert total["email_delivered"] == 3 and total["open_rate"] == 0.0
    assert total["unsubscribed"] == 1 and total["unsubscribe_rate"] == round(1 / 6, 4)
    assert overview["channels"]["email"]["sent"] == 3 and overview["channels"]["push"]["sent"] == 0

    series = await get(stack, "/v1/analytics/series")
    assert sum(p["deliveries"] for p in series["points"]) == total["deliveries"] == 8
    assert {p["status"] for p in series["points"]} == {"sent", "skipped"}
    live = await get(stack, "/v1/analytics/overview?range=1h")  # counted from the deliveries, not the rollup
    assert live["total"] == total

    categories = (await get(stack, "/v1/analytics/categories"))["categories"]
    assert list(categories)[:4] == ["security", "orders", "reminders", "marketing"]
    assert categories["security"]["sent"] == 2 and categories["reminders"]["deliveries"] == 0
    assert categories["marketing"]["unsubscribed"] == 1
    one = await get(stack, "/v1/analytics/overview?category=orders")
    assert one["total"]["sent"] == 2 and one["total"]["unsubscribed"] == 0


async def test_queues_and_providers_are_listed(stack: Stack) -> None:
    queues = {q["name"]: q for q in await get(stack, "/v1/analytics/queues")}
    assert {"campaigns", "email.high", "sms.bulk"} <= set(queues)
    assert queues["email.high"]["depth"] == 0 and queues["email.high"]["lag_s"] is None
    providers = {p["name"]: p for p in await get(stack, "/v1/analytics/providers")}
    assert providers["sandbox_email"]["circuit"]["state"] == "closed"


async def test_it_needs_an_api_key_and_a_known_range_and_category(stack: Stack) -> None:
    assert (await stack.client.get("/v1/analytics/overview")).status_code == 401
    unknown = await stack.client.get("/v1/analytics/overview?category=nope", headers=AUTH)
    assert unknown.status_code == 404
    assert (await stack.client.get("/v1/analytics/series?range=1y", headers=AUTH)).status_code == 422
