"""Preferences and policy where they bite: planning and sending, over both stacks.

Fallback channels, frequency caps, quiet hours in the recipient's time zone, and a choice
made between planning and sending being honoured at send time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from appliance.catalog import load_catalog
from appliance.db.engine import Database
from appliance.db.models import Recipient
from appliance.db.types import utcnow
from appliance.preferences import ledger
from appliance.queueing.runtime import WorkerRuntime
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT, serving
from tests.integration.test_notifications_api import settled

POLICY = ROOT / "tests" / "configs" / "policy.yaml"
QUIET = ROOT / "tests" / "configs" / "quiet-hours.yaml"


@pytest.fixture
async def client(stack_settings: Settings) -> AsyncIterator[AsyncTestClient]:
    async with serving(stack_settings, load_catalog(POLICY, environ={}), POLICY, threads=4) as client:
        yield client


def new_recipient(**fields: Any) -> dict[str, Any]:
    return {"id": f"p-{uuid.uuid4().hex[:10]}", **fields}


async def send(client: AsyncTestClient, to: dict[str, Any], category: str, n: int = 1) -> str:
    request = {"to": to, "category": category, "template": "note", "data": {"n": n}}
    response = await client.post("/v1/notifications", json=request, headers=AUTH)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def by_channel(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {delivery["channel"]: delivery for delivery in body["deliveries"]}


async def opt_out(database_url: str, external_id: str, category: str, channel: str) -> None:
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            recipient = await session.scalar(select(Recipient).where(Recipient.external_id == external_id))
            assert recipient is not None
            change = ledger.PreferenceChange(channels={(category, channel): False})
            await ledger.change(session, recipient, change, source="test", now=utcnow())
    finally:
        await database.dispose()


async def test_fallback_moves_on_when_a_channel_fails_and_stands_the_rest_down(
    client: AsyncTestClient,
) -> None:
    body = await settled(
        client, await send(client, new_recipient(email="a@example.com", phone="+14155550100"), "nudges")
    )

    channels = by_channel(body)
    assert [d["channel"] for d in body["deliveries"]] == ["webhook", "push", "email", "sms"]
    assert channels["webhook"]["status"] == "dead"
    assert channels["push"]["status"] == "skipped"
    assert channels["push"]["error"] == "recipient has no registered push device"
    assert channels["email"]["status"] == "sent"
    assert channels["sms"] == {**channels["sms"], "status": "skipped", "error": "not needed: sent on email"}
    assert body["status"] == "partial"


async def test_fallback_passes_over_a_channel_the_recipient_opted_out_of(
    client: AsyncTestClient, stack_settings: Settings
) -> None:
    to = new_recipient(email="b@example.com", phone="+14155550101")
    assert (await client.post("/v1/recipients", json=to, headers=AUTH)).status_code == 201
    await opt_out(stack_settings.database_url, to["id"], "nudges", "email")

    channels = by_channel(await settled(client, await send(client, {"id": to["id"]}, "nudges")))

    assert channels["email"]["status"] == "skipped"
    assert channels["email"]["error"] == "recipient opted out of nudges on email"
    assert channels["sms"]["status"] == "sent"


async def test_a_frequency_cap_throttles_what_exceeds_it(client: AsyncTestClient) -> None:
    to = new_recipient(email="c@example.com", timezone="America/New_York")
    statuses = []
    for n in range(3):
        body = await settled(client, await send(client, to, "digest", n))
        statuses.append(body["deliveries"][0]["status"])
    assert statuses == ["sent", "sent", "throttled"]
    assert body["deliveries"][0]["error"] == "frequency cap 2/day reached"
    assert body["status"] == "throttled"


async def test_a_burst_sent_at_once_takes_no_more_slots_than_the_cap(client: AsyncTestClient) -> None:
    """All planned before any was sent, so the cap is enforced by the slots taken at send time."""
    to = new_recipient(email="d@example.com")
    batch = {
        "notifications": [
            {"to": to, "category": "digest", "template": "note", "data": {"n": n}} for n in range(6)
        ]
    }
    response = await client.post("/v1/notifications/batch", json=batch, headers=AUTH)
    assert response.status_code == 200, response.text
    ids = [item["id"] for item in response.json()["results"]]

    statuses = sorted([(await settled(client, i))["deliveries"][0]["status"] for i in ids])

    assert statuses == ["sent", "sent", "throttled", "throttled", "throttled", "throttled"]


async def test_an_opt_out_between_planning_and_sending_is_honoured(pg_url: str, fresh_redis: str) -> None:
    """Accepted while the recipient was opted in; no worker ran until they opted out."""
    settings = Settings(
        config_path=str(POLICY),
        database_url=pg_url,
        broker_url=fresh_redis,
        redis_namespace=f"clarion-test-{uuid.uuid4().hex[:8]}",
    )
    catalog = load_catalog(POLICY, environ={})
    to = new_recipient(email="e@example.com")
    async with AsyncTestClient(app=create_app(settings, catalog)) as client:
        notification_id = await send(client, to, "digest")
        await opt_out(pg_url, to["id"], "digest", "email")
        worker = WorkerRuntime(settings, catalog).worker(threads=2)
        worker.start()
        try:
            body = await settled(client, notification_id)
        finally:
            worker.stop()
    [delivery] = body["deliveries"]
    assert (delivery["status"], delivery["error"]) == ("skipped", "recipient opted out of digest on email")
    assert delivery["attempts"] == []


def window_around_now(zone: str) -> tuple[str, datetime]:
    """A quiet-hours window that holds now in `zone`, ending about two hours from now."""
    local = datetime.now(UTC).astimezone(ZoneInfo(zone)).replace(second=0, microsecond=0)
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    return f"{start:%H:%M}-{end:%H:%M}", end


@pytest.fixture
async def quiet_client(stack_settings: Settings) -> AsyncIterator[tuple[AsyncTestClient, datetime]]:
    global_window, _ = window_around_now("Asia/Kolkata")
    evening_window, evening_end = window_around_now("America/Los_Angeles")
    environ = {"QUIET_HOURS": global_window, "EVENING_QUIET_HOURS": evening_window}
    async with serving(stack_settings, load_catalog(QUIET, environ=environ), QUIET) as client:
        yield client, evening_end


async def deferred(client: AsyncTestClient, notification_id: str) -> dict[str, Any]:
    for _ in range(200):
        body = (await client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
        delivery = body["deliveries"][0]
        if delivery["not_before"] is not None:
            return delivery
        await asyncio.sleep(0.05)
    raise AssertionError(f"not deferred: {body}")


async def test_quiet_hours_defer_to_the_end_of_the_recipients_window(
    quiet_client: tuple[AsyncTestClient, datetime],
) -> None:
    client, evening_end = quiet_client
    to = new_recipient(email="f@example.com", timezone="America/Los_Angeles")

    delivery = await deferred(client, await send(client, to, "evening"))

    assert delivery["status"] == "queued"
    assert datetime.fromisoformat(delivery["not_before"]) == evening_end.astimezone(UTC)
    assert delivery["attempts"] == []


async def test_the_global_window_applies_in_the_default_time_zone_and_high_priority_bypasses_it(
    quiet_client: tuple[AsyncTestClient, datetime],
) -> None:
    client, _ = quiet_client
    to = new_recipient(email="g@example.com")  # no time zone: the policy's Asia/Kolkata

    calm = await deferred(client, await send(client, to, "calm"))
    urgent = await settled(client, await send(client, to, "urgent"))

    assert calm["status"] == "queued"
    assert urgent["deliveries"][0]["status"] == "sent"
