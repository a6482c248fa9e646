"""Campaigns over both stacks: fan-out to an audience once per recipient, steering, progress."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import func, insert, select

from appliance.campaigns import lanes, operations
from appliance.campaigns.assignment import in_share
from appliance.campaigns.fanout import Batch, fan_out_batch, open_lanes
from appliance.catalog import Catalog
from appliance.db.engine import Database
from appliance.db.models import Campaign, Delivery, Notification, Recipient, Topic, TopicSubscription
from appliance.db.types import utcnow
from tests.conftest import AUTH, Stack

PERSON = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"


async def add_recipients(database_url: str, count: int, topic: str | None = None) -> list[uuid.UUID]:
    """Recipients straight into the database (the API is not what these tests are about)."""
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        {
            "id": id_,
            "external_id": f"c-{id_.hex[:12]}",
            "email": f"{id_.hex[:12]}@example.com",
            "attributes": {},
        }
        for id_ in ids
    ]
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.execute(insert(Recipient), rows)
            if topic is not None:
                session.add(Topic(key=topic, name=topic))
                await session.flush()
                await session.execute(
                    insert(TopicSubscription), [{"topic_key": topic, "recipient_id": id_} for id_ in ids]
                )
    finally:
        await database.dispose()
    return ids


async def fan_out(database: Database, catalog: Catalog, campaign_id: uuid.UUID, now: datetime) -> list[Batch]:
    """Every lane's batches until each runs out, one after the other: what the workers do."""
    return [
        batch
        for lane in await open_lanes(database, campaign_id)
        for batch in await _lane(database, catalog, campaign_id, lane, now)
    ]


async def _lane(
    database: Database, catalog: Catalog, campaign_id: uuid.UUID, lane: int, now: datetime
) -> list[Batch]:
    batches = [await fan_out_batch(database, catalog, campaign_id, lane, now)]
    while batches[-1].more:
        batches.append(await fan_out_batch(database, catalog, campaign_id, lane, now))
    return batches


def newsletter(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Spring news",
        "category": "marketing",
        "template": "newsletter",
        "data": {"headline": "Spring"},
        **extra,
    }


async def create(client: AsyncTestClient, body: dict[str, Any]) -> str:
    response = await client.post("/v1/campaigns", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "draft"
    return str(response.json()["id"])


async def finished(client: AsyncTestClient, campaign_id: str, timeout_s: float = 30) -> dict[str, Any]:
    """Until the fan-out is done and no delivery is still on its way."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json()
        waiting = {
            s: n for s, n in body["progress"]["deliveries"].items() if s in ("queued", "sending", "held")
        }
        if body["state"] in ("sent", "cancelled") and not waiting:
            return dict(body)
        assert asyncio.get_running_loop().time() < deadline, f"not finished in {timeout_s}s: {body}"
        await asyncio.sleep(0.1)


async def test_a_campaign_reaches_a_topic_once_per_subscriber(stack: Stack) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    subscribers = await add_recipients(stack.settings.database_url, 120, topic=topic)
    await add_recipients(stack.settings.database_url, 30)  # not subscribed: not reached
    campaign_id = await create(stack.client, newsletter(audience={"topic": topic}))

    launched = await stack.client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)
    assert launched.status_code == 200, launched.text
    body = await finished(stack.client, campaign_id)

    assert body["state"] == "sent"
    assert body["progress"]["recipients"] == len(subscribers)
    progress = body["progress"]
    assert progress["deliveries"] == {
        "sent": 2 * len(subscribers),
        "skipped": len(subscribers),
    }  # email, in-app
    assert progress["skipped"] == {"no address": len(subscribers)}  # nobody registered a push device
    assert set(progress["variants"]) == {"A", "B"}  # the newsletter's subject test
    database = Database(stack.settings.database_url)
    try:
        async with database.sessions() as session:
            reached = await session.scalars(
                select(Notification.recipient_id).where(Notification.campaign_id == uuid.UUID(campaign_id))
            )
            assert sorted(reached) == sorted(subscribers)
    finally:
        await database.dispose()


async def test_two_fan_outs_of_one_campaign_at_once_still_plan_everyone_once(stack: Stack) -> None:
    """Duplicate fan-out messages (a redelivery, a resumed campaign) race on each lane's cursor."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 1_200, topic=topic)
    campaign_id = await create(stack.client, newsletter(audience={"topic": topic}))
    database = Database(stack.settings.database_url)
    try:
        async with database.transaction() as session:
            await operations.launch(session, uuid.UUID(campaign_id), None, now=utcnow())

        await asyncio.gather(
            *(fan_out(database, stack.catalog, uuid.UUID(campaign_id), utcnow()) for _ in "ab")
        )
        async with database.sessions() as session:
            planned = await session.scalar(
                select(func.count(func.distinct(Notification.recipient_id))).where(
                    Notification.campaign_id == uuid.UUID(campaign_id)
                )
            )
            total = await session.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.campaign_id == uuid.UUID(campaign_id))
            )
    finally:
        await database.dispose()
    assert planned == total == 1_200


async def test_every_lane_at_once_plans_everyone_once_and_finishes_the_campaign(stack: Stack) -> None:
    """What several workers do: all the lanes' batches side by side, on one campaign row."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 1_200, topic=topic)
    campaign_id = uuid.UUID(await create(stack.client, newsletter(audience={"topic": topic})))
    database = Database(stack.settings.database_url)
    try:
        async with database.transaction() as session:
            await operations.launch(session, campaign_id, None, now=utcnow())
        open_now = await open_lanes(database, campaign_id)
        now = utcnow()
        await asyncio.gather(*(_lane(database, stack.catalog, campaign_id, lane, now) for lane in open_now))
        async with database.sessions() as session:
            campaign = await session.get(Campaign, campaign_id)
            reached = await session.scalar(
                select(func.count(func.distinct(Notification.recipient_id))).where(
                    Notification.campaign_id == campaign_id
                )
            )
    finally:
        await database.dispose()
    assert len(open_now) == lanes.LANES
    assert campaign is not None and campaign.state == "sent" and campaign.planned == reached == 1_200


async def planned(client: AsyncTestClient, campaign_id: str, more_than: int, timeout_s: float = 15) -> int:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json()
        if body["progress"]["recipients"] > more_than:
            return int(body["progress"]["recipients"])
        assert asyncio.get_running_loop().time() < deadline, f"no more than {more_than} planned: {body}"
        await asyncio.sleep(0.05)


async def test_pause_resume_and_cancel(stack: Stack) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 100, topic=topic)
    campaign_id = await create(stack.client, newsletter(audience={"topic": topic}, rate="20/s"))
    await stack.client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)
    await planned(stack.client, campaign_id, 0)  # the first batch of 20

    paused = await stack.client.post(f"/v1/campaigns/{campaign_id}/pause", headers=AUTH)
    assert paused.json()["state"] == "paused"
    before = await planned(stack.client, campaign_id, 0)
    await asyncio.sleep(1.5)
    assert await planned(stack.client, campaign_id, 0) == before  # the fan-out stopped with the pause

    resumed = await stack.client.post(f"/v1/campaigns/{campaign_id}/resume", headers=AUTH)
    assert resumed.json()["state"] == "sending"
    await planned(stack.client, campaign_id, before)
    cancelled = await stack.client.post(f"/v1/campaigns/{campaign_id}/cancel", headers=AUTH)
    assert cancelled.json()["state"] == "cancelled"
    body = await finished(stack.client, campaign_id)

    deliveries, reached = body["progress"]["deliveries"], body["progress"]["recipients"]
    assert reached < 100
    assert deliveries.get("sent", 0) + deliveries.get("skipped", 0) == 3 * reached  # email, push, in-app
    assert body["progress"]["skipped"].get("cancelled", 0) > 0  # the paced ones still waiting stood down
    assert (await stack.client.post(f"/v1/campaigns/{campaign_id}/resume", headers=AUTH)).status_code == 422


async def test_a_campaign_names_what_the_config_cannot_serve(stack: Stack) -> None:
    cases = {
        "category": newsletter(category="nope"),
        "template": newsletter(template="nope"),
        "audience.topic": newsletter(audience={"topic": "no-such-topic"}),
        "variants.Z": newsletter(variants={"Z": {"weight": 1}}),
    }
    for field, body in cases.items():
        response = await stack.client.post("/v1/campaigns", json=body, headers=AUTH)
        assert response.status_code == 422, (field, response.text)
        assert response.json()["field"] == field


async def test_local_time_sends_at_nine_on_each_recipients_own_clock(stack: Stack) -> None:
    """A frozen clock: launched at 06:00 UTC, Tokyo's 09:00 is tomorrow, Paris's and New York's today."""
    zones = {"Asia/Tokyo": "2026-11-24T00:00:00+00:00", "Europe/Paris": "2026-11-23T08:00:00+00:00",
             "America/New_York": "2026-11-23T14:00:00+00:00"}  # fmt: skip
    topic = f"t-{uuid.uuid4().hex[:8]}"
    database = Database(stack.settings.database_url)
    try:
        async with database.transaction() as session:
            session.add(Topic(key=topic, name=topic))
            for zone in zones:
                recipient = Recipient(
                    id=uuid.uuid4(), external_id=f"tz-{uuid.uuid4().hex[:8]}", email="z@example.com",
                    timezone=zone, attributes={},
                )  # fmt: skip
                session.add(recipient)
                await session.flush()
                session.add(TopicSubscription(topic_key=topic, recipient_id=recipient.id))
        campaign_id = uuid.UUID(
            await create(stack.client, newsletter(audience={"topic": topic}, local_time="09:00"))
        )
        frozen = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
        async with database.transaction() as session:
            await operations.launch(session, campaign_id, None, now=frozen)

        batches = await fan_out(database, stack.catalog, campaign_id, frozen)

        async with database.sessions() as session:
            rows = await session.execute(
                select(Recipient.timezone, Delivery.not_before, Delivery.status)
                .join(Notification, Notification.recipient_id == Recipient.id)
                .join(Delivery, Delivery.notification_id == Notification.id)
                .where(Notification.campaign_id == campaign_id, Delivery.channel == "email")
            )
            found = {zone: (at, status) for zone, at, status in rows}
    finally:
        await database.dispose()
    assert {zone: at.isoformat() for zone, (at, _) in found.items()} == zones
    assert {status for _, status in found.values()} == {"queued"}
    assert {d.not_before for batch in batches for d in batch.dispatches if d.channel == "email"} == {
        datetime.fromisoformat(at) for at in zones.values()
    }  # enqueued with the delay, not at once


async def test_a_scheduled_campaign_starts_at_its_time(stack: Stack) -> None:
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 10, topic=topic)
    campaign_id = await create(stack.client, newsletter(audience={"topic": topic}))
    send_at = datetime.now(UTC) + timedelta(seconds=2)

    launched = await stack.client.post(
        f"/v1/campaigns/{campaign_id}/launch", json={"send_at": send_at.isoformat()}, headers=AUTH
    )

    assert launched.json()["state"] == "scheduled"
    body = await finished(stack.client, campaign_id)
    assert body["progress"]["recipients"] == 10
    assert datetime.fromisoformat(body["started_at"]) >= send_at


async def test_a_variant_can_test_a_send_time_of_its_own(stack: Stack) -> None:
    """A at the campaign's 09:00, B at its own 18:00, both on the recipient's clock (frozen at 06:00 UTC)."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 40, topic=topic)
    variants = {"A": {"weight": 50}, "B": {"weight": 50, "local_time": "18:00"}}
    body = newsletter(audience={"topic": topic}, local_time="09:00", variants=variants)
    campaign_id = uuid.UUID(await create(stack.client, body))
    frozen = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # recipients have no zone: the policy's, UTC
    database = Database(stack.settings.database_url)
    try:
        async with database.transaction() as session:
            await operations.launch(session, campaign_id, None, now=frozen)
        await fan_out(database, stack.catalog, campaign_id, frozen)
        async with database.sessions() as session:
            rows = await session.execute(
                select(Notification.variant, Delivery.not_before)
                .join(Delivery, Delivery.notification_id == Notification.id)
                .where(Notification.campaign_id == campaign_id, Delivery.channel == "email")
            )
            times = {(variant, at.isoformat()) for variant, at in rows}
    finally:
        await database.dispose()
    assert times == {("A", "2026-11-23T09:00:00+00:00"), ("B", "2026-11-23T18:00:00+00:00")}


async def test_test_then_send_the_winner_sends_the_better_variant_to_everyone_else(stack: Stack) -> None:
    """Variant B's recipients open their email; after the wait B wins and all the others get B."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    ids = await add_recipients(stack.settings.database_url, 120, topic=topic)
    body = newsletter(
        audience={"topic": topic},
        variants={"A": {"weight": 50}, "B": {"weight": 50}},
        winner={"test_share": 30, "wait": "2s", "metric": "opens"},
    )
    campaign_id = await create(stack.client, body)
    await stack.client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)

    tested = await in_state(stack.client, campaign_id, "testing")
    test_group = {
        f"c-{id_.hex[:12]}" for id_ in ids if in_share(f"{campaign_id}:test", f"c-{id_.hex[:12]}", 30)
    }
    assert tested["progress"]["recipients"] == len(test_group)
    opened = await open_emails_of_variant(stack, campaign_id, "B")
    assert opened > 5

    done = await finished(stack.client, campaign_id, timeout_s=40)
    assert done["winner"] == "B"
    assert done["progress"]["recipients"] == len(ids)
    async with stack.client.app.state.services.database.sessions() as session:
        rows = await session.execute(
            select(Recipient.external_id, Notification.variant)
            .join(Notification, Notification.recipient_id == Recipient.id)
            .where(Notification.campaign_id == uuid.UUID(campaign_id))
        )
        variants = dict(rows.all())
    assert {variants[key] for key in variants.keys() - test_group} == {"B"}
    assert {variants[key] for key in test_group} == {"A", "B"}


async def test_the_wait_of_a_test_starts_only_once_its_deliveries_are_out(stack: Stack) -> None:
    """Test deliveries held for a send time later today: the wait has not begun, nobody has won."""
    topic = f"t-{uuid.uuid4().hex[:8]}"
    await add_recipients(stack.settings.database_url, 40, topic=topic)
    later = (datetime.now(UTC) + timedelta(hours=3)).strftime("%H:%M")
    body = newsletter(
        audience={"topic": topic},
        variants={"A": {"weight": 50}, "B": {"weight": 50}},
        winner={"test_share": 50, "wait": "1s", "metric": "opens"},
        local_time=later,
    )
    campaign_id = await create(stack.client, body)
    await stack.client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)

    tested = await in_state(stack.client, campaign_id, "testing")
    await asyncio.sleep(3)  # several campaign-watch passes, and longer than the wait
    still = (await stack.client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json()
    assert tested["progress"]["deliveries"].get("queued")
    assert (still["state"], still["tested_at"], still["winner"]) == ("testing", None, None)


async def open_emails_of_variant(stack: Stack, campaign_id: str, variant: str) -> int:
    """Open, as a person's mail client would, every email of `variant` the sandbox captured."""
    await finished_sending(stack.client, campaign_id)
    async with stack.client.app.state.services.database.sessions() as session:
        ours = set(
            await session.scalars(
                select(Notification.id).where(
                    Notification.campaign_id == uuid.UUID(campaign_id), Notification.variant == variant
                )
            )
        )
    captured = await stack.client.get("/v1/sandbox/messages?channel=email&limit=500", headers=AUTH)
    pixels = [
        re.search(r'<img src="https?://[^/]+(/t/o/[^"]+)"', message["html"]).group(1)
        for message in captured.json()["messages"]
        if uuid.UUID(message["notification_id"]) in ours
    ]
    for pixel in pixels:
        seen = await stack.client.get(
            pixel, headers={"User-Agent": "Mozilla/5.0 (Macintosh) Safari/605.1.15"}
        )
        assert seen.status_code == 200
    return len(pixels)


async def finished_sending(client: AsyncTestClient, campaign_id: str, timeout_s: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        body = (await client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json()
        if not any(body["progress"]["deliveries"].get(s) for s in ("queued", "sending", "held")):
            return
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)


async def in_state(
    client: AsyncTestClient, campaign_id: str, state: str, timeout_s: float = 20
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (body := (await client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json())["state"] != state:
        assert asyncio.get_running_loop().time() < deadline, body
        await asyncio.sleep(0.1)
    return dict(body)
