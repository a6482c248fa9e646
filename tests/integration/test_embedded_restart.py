"""Embedded mode: what was accepted before a restart is sent right after it, not a lease later."""

from __future__ import annotations

import asyncio
from pathlib import Path

from litestar.testing import AsyncTestClient

from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, EXAMPLE_CONFIG
from tests.integration.test_notifications_api import login_code, settled


async def test_deliveries_queued_when_the_process_stopped_go_out_after_it_starts(
    tmp_path: Path, example_catalog
) -> None:
    settings = Settings(config_path=str(EXAMPLE_CONFIG), database_url=f"sqlite:///{tmp_path / 'c.db'}")
    first = create_app(settings, example_catalog)
    async with AsyncTestClient(app=first) as client:
        first.state.services.worker.stop()  # the process "dies" with work in its in-memory queue
        first.state.services.worker = None
        notification_id = (
            await client.post("/v1/notifications", json=login_code("restart"), headers=AUTH)
        ).json()["id"]
        await asyncio.sleep(0.3)
        body = (await client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
        assert body["status"] == "queued"
    async with AsyncTestClient(
        app=create_app(settings, example_catalog)
    ) as client:  # the lease is 10 minutes
        assert (await settled(client, notification_id, timeout_s=5))["status"] == "sent"
