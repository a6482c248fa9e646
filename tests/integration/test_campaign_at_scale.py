"""A campaign to 100,000 recipients (PostgreSQL + Redis): every recipient planned exactly once,
even when the process doing the fan-out is killed midway and another one carries on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from appliance.catalog import load_catalog
from appliance.db.bulk import insert_rows
from appliance.db.engine import Database
from appliance.db.models import Notification, Recipient
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT
from tests.live_server import CLARION, worker_env

pytestmark = pytest.mark.slow

CONFIG = ROOT / "tests" / "configs" / "campaign-scale.yaml"
AUDIENCE = 100_000


def fan_out_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A worker on the campaigns queue only: planning is what this test is about, not sending."""
    command = [str(CLARION), "worker", "--config", str(CONFIG), "--threads", "2", "-Q", "campaigns"]
    return subprocess.Popen(command, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT)


async def seed(database: Database) -> None:
    rows = [
        {"id": uuid.uuid4(), "external_id": f"s-{n}", "email": f"s{n}@example.com", "attributes": {}}
        for n in range(AUDIENCE)
    ]
    async with database.transaction() as session:
        await insert_rows(session, Recipient.__table__, rows)


async def planned(database: Database, campaign_id: uuid.UUID) -> tuple[int, int]:
    """(notifications, distinct recipients) of the campaign."""
    async with database.sessions() as session:
        row = (
            await session.execute(
                select(func.count(), func.count(func.distinct(Notification.recipient_id))).where(
                    Notification.campaign_id == campaign_id
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def wait_for(
    client: AsyncTestClient, campaign_id: uuid.UUID, *, planned_over: int, state: str | None = None
) -> dict:
    timeout_s = 240
    deadline = time.monotonic() + timeout_s
    while True:
        body = (await client.get(f"/v1/campaigns/{campaign_id}", headers=AUTH)).json()
        if body["progress"]["recipients"] > planned_over and (state is None or body["state"] == state):
            return dict(body)
        assert time.monotonic() < deadline, f"not there in {timeout_s}s: {body['state']} {body['progress']}"
        await asyncio.sleep(0.5)


async def test_a_fan_out_killed_midway_still_reaches_everyone_exactly_once(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    namespace = f"clarion-scale-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        config_path=str(CONFIG), database_url=pg_url, broker_url=redis_url, redis_namespace=namespace
    )
    env = worker_env(settings)
    log = tmp_path / "workers.log"
    database = Database(pg_url)
    try:
        async with AsyncTestClient(app=create_app(settings, load_catalog(CONFIG))) as client:
            started = time.monotonic()
            await seed(database)
            body = {"name": "At scale", "category": "news", "template": "digest", "data": {"n": 1}}
            campaign_id = uuid.UUID(
                (await client.post("/v1/campaigns", json=body, headers=AUTH)).json()["id"]
            )
            await client.post(f"/v1/campaigns/{campaign_id}/launch", json={}, headers=AUTH)

            first = fan_out_worker(env, log)
            try:
                await wait_for(client, campaign_id, planned_over=AUDIENCE // 4)
                os.kill(first.pid, signal.SIGKILL)  # mid-batch, its fan-out message unacknowledged
                first.wait(timeout=10)
            finally:
                if first.poll() is None:
                    first.kill()
            at_kill = await planned(database, campaign_id)

            second = fan_out_worker(env, log)
            try:
                await wait_for(client, campaign_id, planned_over=AUDIENCE - 1, state="sent")
            finally:
                second.send_signal(signal.SIGTERM)
                second.wait(timeout=30)
            notifications, recipients = await planned(database, campaign_id)
            print(
                f"\n{AUDIENCE} recipients: killed after {at_kill[0]} planned; all planned in "
                f"{time.monotonic() - started:.0f}s including seeding; {notifications} notifications"
            )
    finally:
        await database.dispose()
        redis.Redis.from_url(redis_url).delete(
            *redis.Redis.from_url(redis_url).keys(f"{namespace}:*") or ["-"]
        )
    assert notifications == recipients == AUDIENCE
