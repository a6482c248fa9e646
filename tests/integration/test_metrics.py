"""GET /metrics after real deliveries, over both stacks; the queue gauge; the optional token;
and a scaled `clarion worker` exposing its own counters on --metrics-port.

Counters are process-wide (prometheus_client's registry), so tests compare before and after.
"""

from __future__ import annotations

import asyncio
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

from appliance.catalog import Catalog
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, EXAMPLE_CONFIG, Stack, free_port
from tests.live_server import CLARION, worker_env
from tests.web.test_ui_pages import login_code, new_id, send, settled

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(client: AsyncTestClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_the_deliveries_provider_calls_and_requests_of_a_send(stack: Stack) -> None:
    before = await scrape(stack.client)
    recipient = new_id()
    notification_id = await send(stack.client, login_code(recipient))
    assert (await settled(stack.client, notification_id))["status"] == "sent"

    response = await stack.client.get("/metrics")
    after = samples(response.text)
    for channel, provider in (("sms", "sandbox_sms"), ("email", "sandbox_email")):
        delivered = ("clarion_deliveries_total", {"channel": channel, "provider": provider, "status": "sent"})
        assert value(after, delivered[0], **delivered[1]) - value(before, delivered[0], **delivered[1]) == 1
        calls = ("clarion_provider_call_seconds_count", {"provider": provider, "outcome": "sent"})
        assert value(after, calls[0], **calls[1]) - value(before, calls[0], **calls[1]) == 1
    accepted = {"app_name": "clarion", "method": "POST", "path": "/v1/notifications", "status_code": "202"}
    assert (
        value(after, "clarion_http_requests_total", **accepted)
        - value(before, "clarion_http_requests_total", **accepted)
        == 1
    )
    polled = {**accepted, "method": "GET", "path": "/v1/notifications/{notification_id}"}
    polled["status_code"] = "200"
    assert value(after, "clarion_http_request_duration_seconds_count", **polled) >= 1
    queues = {dict(labels)["queue"] for name, labels in after if name == "clarion_queue_depth"}
    assert {"sms.high", "email.bulk", "campaigns"} <= queues
    # Labels say what and where, never who: no recipient, address, key or id.
    for secret in (recipient, notification_id, "@example.com", "+14155550100", AUTH["Authorization"][7:]):
        assert secret not in response.text


async def test_the_queue_gauge_counts_messages_no_worker_has_taken(
    pg_url: str, fresh_redis: str, example_catalog: Catalog
) -> None:
    settings = Settings(
        config_path=str(EXAMPLE_CONFIG),
        database_url=pg_url,
        broker_url=fresh_redis,
        redis_namespace=f"clarion-test-{uuid.uuid4().hex[:8]}",
    )
    async with AsyncTestClient(app=create_app(settings, example_catalog)) as client:  # no worker
        for _ in range(3):
            await send(client, login_code(new_id()))
        found = await scrape(client)
    assert value(found, "clarion_queue_depth", queue="sms.high") == 3
    assert value(found, "clarion_queue_depth", queue="email.high") == 3
    assert value(found, "clarion_queue_depth", queue="push.bulk") == 0


async def test_a_metrics_token_closes_the_endpoint_to_anyone_without_it(
    sqlite_url: str, example_catalog: Catalog
) -> None:
    settings = Settings(config_path=str(EXAMPLE_CONFIG), database_url=sqlite_url, metrics_token="scrape-me")
    async with AsyncTestClient(app=create_app(settings, example_catalog)) as client:
        refused = await client.get("/metrics")
        assert refused.status_code == 401
        assert "CLARION_METRICS_TOKEN" in refused.text
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
        assert (await client.get("/metrics", headers=AUTH)).status_code == 401  # an API key is not it
        allowed = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
        assert allowed.status_code == 200
        assert "clarion_queue_depth" in allowed.text


@pytest.mark.slow
async def test_a_scaled_worker_serves_its_own_delivery_counters(
    pg_url: str, fresh_redis: str, example_catalog: Catalog, tmp_path: Path
) -> None:
    namespace = f"clarion-test-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        config_path=str(EXAMPLE_CONFIG),
        database_url=pg_url,
        broker_url=fresh_redis,
        redis_namespace=namespace,
    )
    port = free_port()
    env = worker_env(settings)
    log = tmp_path / "worker.log"
    async with AsyncTestClient(app=create_app(settings, example_catalog)) as client:
        notification_id = await send(client, login_code(new_id()))  # committed before the worker starts
        worker = subprocess.Popen(
            [str(CLARION), "worker", "--config", str(EXAMPLE_CONFIG), "--metrics-port", str(port)],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        try:
            assert (await settled(client, notification_id, timeout_s=30))["status"] == "sent"
            text = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/metrics")
        finally:
            worker.terminate()
            worker.wait(timeout=20)
    found = samples(text)
    sent = {"channel": "sms", "provider": "sandbox_sms", "status": "sent"}
    assert value(found, "clarion_deliveries_total", **sent) == 1, log.read_text()
    assert value(found, "clarion_provider_call_seconds_count", provider="sandbox_email", outcome="sent") == 1


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())
