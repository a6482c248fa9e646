"""Failover, circuit breakers and dead letters, over both stacks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from appliance.catalog import load_catalog
from appliance.settings import Settings
from tests.conftest import AUTH, ROOT, free_port, serving
from tests.integration.fakes import HookReceiver
from tests.integration.test_notifications_api import settled

CONFIG = ROOT / "tests" / "configs" / "failover.yaml"


@pytest.fixture
async def hooks(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[HookReceiver, HookReceiver]]:
    primary, secondary = HookReceiver(status=503), HookReceiver()
    runners = []
    for name, hook in (("PRIMARY_URL", primary), ("SECONDARY_URL", secondary)):
        port = free_port()
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}/hook")
        runners.append(await hook.start(port))
    yield primary, secondary
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def client(stack_settings: Settings, hooks: tuple) -> AsyncIterator[AsyncTestClient]:
    catalog = load_catalog(CONFIG)
    async with serving(stack_settings, catalog, CONFIG, threads=2) as client:
        yield client


async def send(client: AsyncTestClient, n: int) -> dict:
    request = {
        "to": {"id": f"ops-{n}", "attributes": {"team": "ops"}},
        "category": "alerts",
        "template": "alert",
        "data": {"n": n},
    }
    response = await client.post("/v1/notifications", json=request, headers=AUTH)
    return await settled(client, response.json()["id"])


async def provider(client: AsyncTestClient, name: str) -> dict:
    providers = (await client.get("/v1/providers", headers=AUTH)).json()
    return next(p for p in providers if p["name"] == name)


async def test_a_failing_primary_opens_its_circuit_and_the_secondary_delivers_until_it_recovers(
    client: AsyncTestClient, hooks: tuple[HookReceiver, HookReceiver]
) -> None:
    primary, secondary = hooks
    first = [await send(client, n) for n in range(4)]
    assert all(body["status"] == "sent" for body in first)
    providers_tried = [[a["provider"] for a in body["deliveries"][0]["attempts"]] for body in first]
    assert providers_tried[:2] == [["primary", "secondary"]] * 2  # two failures open the circuit
    assert providers_tried[2:] == [["secondary"]] * 2  # then the primary is passed over
    health = await provider(client, "primary")
    assert health["circuit"]["state"] == "open"
    assert health["recent"]["failures"] == 2 and health["recent"]["error_rate"] == 1.0

    primary.status = 200
    await _sleep(3.1)  # reset_after: the next delivery probes the primary
    probe = await send(client, 10)
    assert [a["provider"] for a in probe["deliveries"][0]["attempts"]] == ["primary"]
    assert (await provider(client, "primary"))["circuit"]["state"] == "closed"
    after = await send(client, 11)
    assert [a["provider"] for a in after["deliveries"][0]["attempts"]] == ["primary"]
    assert len(primary.received) == 2 and len(secondary.received) == 4


async def test_a_dead_letter_can_be_listed_and_sent_again(
    client: AsyncTestClient, hooks: tuple[HookReceiver, HookReceiver]
) -> None:
    primary, secondary = hooks
    secondary.status = 500
    body = await send(client, 20)
    [delivery] = body["deliveries"]
    assert delivery["status"] == "dead"
    listed = (await client.get("/v1/dead-letters", headers=AUTH)).json()
    assert [d["delivery_id"] for d in listed] == [delivery["id"]]
    assert listed[0]["recipient"] == "ops-20" and listed[0]["tries"] == 2

    primary.status = secondary.status = 200
    await _sleep(3.1)  # let the primary's circuit reach half-open
    retried = await client.post(f"/v1/dead-letters/{delivery['id']}/retry", headers=AUTH)
    assert retried.status_code == 202
    again = await settled(client, body["id"])
    assert again["deliveries"][0]["status"] == "sent"
    assert (await client.get("/v1/dead-letters", headers=AUTH)).json() == []
    twice = await client.post(f"/v1/dead-letters/{delivery['id']}/retry", headers=AUTH)
    assert twice.status_code == 422 and "only dead deliveries" in twice.json()["detail"]


async def test_a_discarded_dead_letter_leaves_the_list_as_failed_and_says_who(
    client: AsyncTestClient, hooks: tuple[HookReceiver, HookReceiver]
) -> None:
    primary, secondary = hooks
    primary.status = secondary.status = 500
    body = await send(client, 30)
    [delivery] = body["deliveries"]
    assert delivery["status"] == "dead"

    discarded = await client.post(f"/v1/dead-letters/{delivery['id']}/discard", headers=AUTH)
    assert discarded.status_code == 201, discarded.text
    assert discarded.json() == {"delivery_id": delivery["id"], "status": "failed"}
    assert delivery["id"] not in {
        d["delivery_id"] for d in (await client.get("/v1/dead-letters", headers=AUTH)).json()
    }
    [after] = (await client.get(f"/v1/notifications/{body['id']}", headers=AUTH)).json()["deliveries"]
    assert after["status"] == "failed" and after["error"].startswith("discarded by test; ")
    again = await client.post(f"/v1/dead-letters/{delivery['id']}/retry", headers=AUTH)
    assert again.status_code == 422 and "this one is failed" in again.json()["detail"]
    primary.status = secondary.status = 200


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
