"""Scaled mode: SIGHUP makes a running `clarion worker` switch to the changed config; a broken
file changes nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import uuid
from pathlib import Path

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from appliance.catalog import load_catalog
from appliance.db.models import SandboxMessage
from appliance.settings import Settings
from appliance.web.app import create_app
from tests.conftest import AUTH, ROOT
from tests.live_server import CLARION, worker_env
from tests.web.test_operations_pages import example_copy

CODE_SMS = "Your code is {{ code }}. It expires in 10 minutes."


async def sms_text(client: AsyncTestClient, recipient: str) -> str:
    """Send a login code; the SMS text the worker rendered, as the sandbox captured it."""
    body = {
        "to": {"id": recipient, "phone": "+14155550100"},
        "category": "security",
        "template": "login_code",
        "data": {"code": "111222"},
    }
    notification_id = (await client.post("/v1/notifications", json=body, headers=AUTH)).json()["id"]
    database = client.app.state.services.database
    for _ in range(200):
        async with database.sessions() as session:
            text = await session.scalar(
                select(SandboxMessage.text).where(
                    SandboxMessage.notification_id == uuid.UUID(notification_id),
                    SandboxMessage.channel == "sms",
                )
            )
        if text is not None:
            return str(text)
        await asyncio.sleep(0.05)
    raise AssertionError("the worker did not send the SMS")


async def logged(log: Path, words: str) -> None:
    for _ in range(200):
        if words in log.read_text():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{words!r} not in {log.read_text()}")


async def test_sighup_reloads_a_worker_and_a_broken_file_changes_nothing(
    pg_url: str, fresh_redis: str, tmp_path: Path
) -> None:
    config = example_copy(tmp_path)
    namespace = f"clarion-reload-{uuid.uuid4().hex[:8]}"
    settings = Settings(
        config_path=str(config), database_url=pg_url, broker_url=fresh_redis, redis_namespace=namespace
    )
    env = {**worker_env(settings), "CLARION_LOG_LEVEL": "INFO"}  # the reload says so at INFO
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [str(CLARION), "worker", "--config", str(config), "--threads", "2"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        async with AsyncTestClient(app=create_app(settings, load_catalog(config))) as client:
            assert await sms_text(client, "r-1") == "Your code is 111222. It expires in 10 minutes."

            config.write_text(config.read_text().replace("strategy: fallback", "strategy: sideways"))
            worker.send_signal(signal.SIGHUP)
            await logged(log, "not reloading: 1 problem(s)")
            assert await sms_text(client, "r-2") == "Your code is 111222. It expires in 10 minutes."

            changed = (
                example_copy(tmp_path / "next")
                .read_text()
                .replace(CODE_SMS, "Code {{ code }}, from the new config.")
            )
            config.write_text(changed)
            worker.send_signal(signal.SIGHUP)
            await logged(log, "configuration reloaded")
            assert await sms_text(client, "r-3") == "Code 111222, from the new config."
    finally:
        worker.terminate()
        assert worker.wait(timeout=20) == 0, log.read_text()
