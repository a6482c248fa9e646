"""A push provider that calls a token dead makes Clarion forget that device, on both stacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import load_catalog
from appliance.providers.base import Message, Outcome, OutcomeKind, Provider, ProviderOptions, PushMessage
from appliance.providers.registry import ProviderRegistry
from appliance.settings import Settings
from tests.conftest import AUTH, ROOT, serving
from tests.integration.test_notifications_api import settled

CONFIG = ROOT / "tests" / "configs" / "push-pruning.yaml"


class DeadTokenPush(Provider):
    """Stands in for FCM/APNs: tokens starting with "dead-" are unregistered."""

    type_name: ClassVar[str] = "dead_token_push"
    channels: ClassVar[frozenset[str]] = frozenset({"push"})
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions

    async def send(self, message: Message) -> Outcome:
        assert isinstance(message, PushMessage)
        dead = tuple(token for token in message.tokens if token.startswith("dead-"))
        if len(dead) == len(message.tokens):
            return Outcome(OutcomeKind.INVALID_RECIPIENT, error="Unregistered", invalid_tokens=dead)
        return Outcome(OutcomeKind.SENT, provider_message_id="push-1", invalid_tokens=dead)


@pytest.fixture
async def client(stack_settings: Settings) -> AsyncIterator[AsyncTestClient]:
    catalog = load_catalog(CONFIG, registry=ProviderRegistry([DeadTokenPush]))
    async with serving(stack_settings, catalog, CONFIG, threads=2) as client:
        yield client


async def test_dead_tokens_are_removed_and_live_ones_kept(client: AsyncTestClient) -> None:
    await client.post("/v1/recipients", json={"id": "phone-owner", "attributes": {"a": 1}}, headers=AUTH)
    for token in ("dead-aaaaaaaaaa", "live-bbbbbbbbbb"):
        await client.post(
            "/v1/recipients/phone-owner/devices", json={"platform": "fcm", "token": token}, headers=AUTH
        )
    request = {"to": {"id": "phone-owner"}, "category": "news", "template": "hello"}
    body = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert body["deliveries"][0]["status"] == "sent"
    devices = (await client.get("/v1/recipients/phone-owner", headers=AUTH)).json()["devices"]
    assert [d["token"] for d in devices] == ["live-bbbbbbbbbb"]


async def test_when_every_token_is_dead_the_push_is_skipped_next_time(client: AsyncTestClient) -> None:
    await client.post("/v1/recipients", json={"id": "old-phone", "attributes": {"a": 1}}, headers=AUTH)
    await client.post(
        "/v1/recipients/old-phone/devices",
        json={"platform": "apns", "token": "dead-cccccccccc"},
        headers=AUTH,
    )
    request = {"to": {"id": "old-phone"}, "category": "news", "template": "hello"}
    first = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert first["deliveries"][0]["status"] == "failed"
    assert (await client.get("/v1/recipients/old-phone", headers=AUTH)).json()["devices"] == []
    second = await settled(
        client, (await client.post("/v1/notifications", json=request, headers=AUTH)).json()["id"]
    )
    assert second["deliveries"][0]["error"] == "recipient has no registered push device"
