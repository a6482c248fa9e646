"""Delivery through real SMTP and webhook peers: retries, dead letters, lost messages, killed workers."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from email.message import Message

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import Catalog, load_catalog
from appliance.config.schema import Channel, Priority
from appliance.db.engine import Database
from appliance.db.types import utcnow
from appliance.pipeline.intake import accept
from appliance.pipeline.requests import NotificationIn, RecipientIn
from appliance.pipeline.store import Occasion, store
from appliance.pipeline.sweeper import sweep_once
from appliance.queueing.runtime import WorkerRuntime
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT, free_port, serving
from tests.integration.fakes import HookReceiver, SmtpSink
from tests.integration.test_notifications_api import settled

CONFIG = ROOT / "tests" / "configs" / "local-providers.yaml"


@pytest.fixture
def hook() -> HookReceiver:
    return HookReceiver()


@pytest.fixture
def ports(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    chosen = {"smtp": free_port(), "hook": free_port()}
    monkeypatch.setenv("SMTP_PORT", str(chosen["smtp"]))
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{chosen['hook']}/hook")
    return chosen


@pytest.fixture
async def peers(ports: dict[str, int], hook: HookReceiver) -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    controller = sink.start(ports["smtp"])
    runner = await hook.start(ports["hook"])
    yield sink
    await runner.cleanup()
    controller.stop()


@pytest.fixture
def catalog(ports: dict[str, int]) -> Catalog:
    return load_catalog(CONFIG)


@pytest.fixture
async def client(
    stack_settings: Settings, catalog: Catalog, peers: SmtpSink
) -> AsyncIterator[AsyncTestClient]:
    async with serving(stack_settings, catalog, CONFIG, threads=4) as client:
        yield client


def occasion(catalog: Catalog, queue_lease: timedelta) -> Occasion:
    return Occasion(source="test", now=utcnow(), queue_lease=queue_lease, policy=catalog.config.policy)


def alert(n: int, recipient: str | None = None) -> dict:
    return {
        "to": {"id": recipient or f"svc-{uuid.uuid4().hex[:8]}", "attributes": {"name": "Ops"}},
        "category": "alerts",
        "template": "alert",
        "data": {"n": n},
    }


def receipt(category: str, n: int) -> dict:
    return {
        "to": {"id": f"r-{uuid.uuid4().hex[:8]}", "email": "ada@example.com", "attributes": {"name": "Ada"}},
        "category": category,
        "template": "receipt",
        "data": {"n": n},
    }


def mime_parts(message: Message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


async def test_email_is_received_by_a_real_smtp_server(client: AsyncTestClient, peers: SmtpSink) -> None:
    notification_id = (await client.post("/v1/notifications", json=receipt("mail", 42), headers=AUTH)).json()[
        "id"
    ]
    body = await settled(client, notification_id)
    assert body["status"] == "sent"
    [message] = peers.messages
    assert message["Subject"] == "Receipt 42"
    assert message["To"] == "ada@example.com"
    parts = mime_parts(message)
    assert parts["text/plain"].strip() == "Thanks, Ada. Receipt 42."
    assert "<b>Ada</b>" in parts["text/html"]
    assert body["deliveries"][0]["provider_message_id"] == message["Message-ID"]


async def test_an_optional_email_carries_one_click_unsubscribe_and_a_footer(
    client: AsyncTestClient, peers: SmtpSink
) -> None:
    notification_id = (await client.post("/v1/notifications", json=receipt("news", 7), headers=AUTH)).json()[
        "id"
    ]
    assert (await settled(client, notification_id))["status"] == "sent"
    [message] = peers.messages
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert re.fullmatch(r"<http://127\.0\.0\.1:8000/unsubscribe/[\w.-]+>", message["List-Unsubscribe"])
    parts = mime_parts(message)
    assert "http://127.0.0.1:8000/preferences/" in parts["text/plain"]
    assert 'href="http://127.0.0.1:8000/preferences/' in parts["text/html"]


async def test_a_failing_provider_is_retried_with_backoff_then_marked_dead(
    client: AsyncTestClient, hook: HookReceiver
) -> None:
    hook.status = 503
    notification_id = (await client.post("/v1/notifications", json=alert(1), headers=AUTH)).json()["id"]
    body = await settled(client, notification_id)
    [delivery] = body["deliveries"]
    assert delivery["status"] == "dead"
    assert delivery["tries"] == 3
    assert [a["outcome"] for a in delivery["attempts"]] == ["retryable"] * 3
    assert "gave up after 3 tries" in delivery["error"]
    assert "503" in delivery["attempts"][0]["error"]


async def test_a_provider_that_recovers_delivers_on_a_later_try(
    client: AsyncTestClient, hook: HookReceiver
) -> None:
    hook.status = 500
    notification_id = (await client.post("/v1/notifications", json=alert(2), headers=AUTH)).json()["id"]
    await asyncio.sleep(0.03)
    hook.status = 200
    body = await settled(client, notification_id)
    [delivery] = body["deliveries"]
    assert delivery["status"] == "sent"
    assert delivery["attempts"][-1]["outcome"] == "sent"


async def test_a_delivery_the_broker_never_got_is_sent_by_the_sweeper(
    stack_settings: Settings, catalog: Catalog, peers: SmtpSink, hook: HookReceiver
) -> None:
    """Committed but never enqueued (as if the broker lost it): the lease lapses and the sweeper sends it."""
    settings = replace(stack_settings, config_path=str(CONFIG))
    async with AsyncTestClient(app=create_app(settings, catalog)):  # migrates the database
        database = Database(settings.database_url)
        item = accept(
            NotificationIn(
                to=RecipientIn(id="lost-1", attributes={"a": 1}),
                category="alerts",
                template="alert",
                data={"n": 7},
            ),
            catalog,
            caller="test",
        )
        [stored] = await store(database, [item], occasion(catalog, catalog.config.delivery.queue_lease))
        await database.dispose()
        worker = None if settings.embedded else WorkerRuntime(settings, catalog).worker(threads=2)
        if worker:
            worker.start()
        try:
            for _ in range(100):
                if hook.received:
                    break
                await asyncio.sleep(0.1)
        finally:
            if worker:
                worker.stop()
    assert list(hook.received.values()) == [1]
    assert hook.bodies[0]["notification_id"] == str(stored.notification_id)


async def test_an_address_the_relay_calls_unknown_is_suppressed_and_skipped_next_time(
    client: AsyncTestClient, peers: SmtpSink, ports: dict[str, int]
) -> None:
    peers.reject_rcpt = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
    request = {
        "to": {"id": f"r-{uuid.uuid4().hex[:8]}", "email": "Gone@Example.com", "attributes": {"name": "G"}},
        "category": "mail",
        "template": "receipt",
        "data": {"n": 1},
    }
    first = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert first["deliveries"][0]["status"] == "failed"
    assert first["deliveries"][0]["attempts"][0]["outcome"] == "invalid_recipient"
    listed = (await client.get("/v1/suppressions?channel=email", headers=AUTH)).json()
    assert [(s["address"], s["reason"], s["source"]) for s in listed] == [
        ("gone@example.com", "invalid", "provider:relay")
    ]

    second = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert second["deliveries"][0]["status"] == "skipped"
    assert second["deliveries"][0]["error"] == "address is suppressed (invalid)"

    removed = await client.delete("/v1/suppressions/email/gone@example.com", headers=AUTH)
    assert removed.status_code == 204
    peers.reject_rcpt = None
    third = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert third["deliveries"][0]["status"] == "sent"


async def test_a_manual_suppression_stops_delivery_even_after_planning(
    client: AsyncTestClient, peers: SmtpSink
) -> None:
    added = await client.post(
        "/v1/suppressions",
        json={"channel": "email", "address": "ops@example.com", "detail": "asked by phone"},
        headers=AUTH,
    )
    assert added.status_code == 201 and added.json()["reason"] == "manual"
    request = {
        "to": {"id": f"r-{uuid.uuid4().hex[:8]}", "email": "ops@example.com"},
        "category": "mail",
        "template": "receipt",
        "data": {"n": 2},
    }
    body = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert body["deliveries"][0]["status"] == "skipped"
    assert peers.messages == []


async def test_a_backlog_outliving_the_queue_lease_is_not_enqueued_twice(
    pg_url: str, redis_url: str, catalog: Catalog, peers: SmtpSink, hook: HookReceiver
) -> None:
    """Deliveries still waiting behind others when their lease lapses keep their one message.

    Scaled mode only: there no in-process worker or sweeper runs beside the test's own.
    """
    settings = Settings(
        config_path=str(CONFIG),
        database_url=pg_url,
        broker_url=redis_url,
        redis_namespace=f"clarion-backlog-{uuid.uuid4().hex[:8]}",
    )
    runtime = WorkerRuntime(settings, catalog)
    async with AsyncTestClient(app=create_app(settings, catalog)) as client:
        database = Database(settings.database_url)
        items = [
            accept(
                NotificationIn(
                    to=RecipientIn(id=f"q-{n}", attributes={"n": n}),
                    category="alerts",
                    template="alert",
                    data={"n": n},
                ),
                catalog,
                caller="test",
            )
            for n in range(30)
        ]
        stored = await store(database, items, occasion(catalog, timedelta(0)))
        runtime.dispatcher.dispatch(d for s in stored for d in s.dispatches)  # enqueued, lease already lapsed
        assert runtime.dispatcher.waiting(Channel.WEBHOOK, Priority.HIGH) == 1  # one parcel of 30
        await sweep_once(
            database,
            runtime.dispatcher,
            frozenset({"webhook"}),
            now=utcnow(),
            queue_lease=timedelta(minutes=10),
        )
        await database.dispose()
        assert runtime.dispatcher.waiting(Channel.WEBHOOK, Priority.HIGH) == 1  # no second copy of any
        worker = runtime.worker(threads=2)
        worker.start()
        try:
            for _ in range(100):
                if len(hook.received) == 30:
                    break
                await asyncio.sleep(0.1)
        finally:
            worker.stop()
        assert len(hook.received) == 30 and sum(hook.received.values()) == 30
        assert client  # the app migrated the database
