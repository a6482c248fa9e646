"""Group commit: single sends that arrive together share one transaction and one parcel."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from appliance.catalog import load_catalog
from appliance.config.schema import Channel, Priority
from appliance.db.engine import Database
from appliance.db.migrate import upgrade
from appliance.errors import RequestRejected
from appliance.pipeline.group_commit import GroupCommit
from appliance.pipeline.intake import accept
from appliance.pipeline.requests import NotificationIn, RecipientIn
from appliance.pipeline.store import Stored
from appliance.queueing.runtime import WorkerRuntime
from appliance.settings import Settings
from tests.conftest import ROOT, free_port

CONFIG = ROOT / "tests" / "configs" / "local-providers.yaml"


async def test_sends_arriving_together_are_answered_each_on_its_own_from_one_commit(
    pg_url: str, fresh_redis: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    catalog = load_catalog(CONFIG)
    settings = Settings(
        config_path=str(CONFIG),
        database_url=pg_url,
        broker_url=fresh_redis,
        redis_namespace=f"clarion-group-{uuid.uuid4().hex[:8]}",
    )
    upgrade(pg_url)
    runtime = WorkerRuntime(settings, catalog)
    database = Database(pg_url)
    committer = GroupCommit(database, runtime.dispatcher, catalog)

    def item(recipient: RecipientIn, key: str | None = None) -> object:
        request = NotificationIn(to=recipient, category="alerts", template="alert", data={"n": 1})
        return accept(request, catalog, caller="test", idempotency_key=key)

    fresh = [item(RecipientIn(id=f"g-{n}", attributes={"n": n})) for n in range(30)]
    unknown = item(RecipientIn(id="nobody-knows-me"))  # no fields to create it from: rejected
    keyed = item(RecipientIn(id="g-keyed", attributes={}), key="same-key")
    calls = [*fresh, unknown, keyed, keyed]
    try:
        answers = await asyncio.gather(*(committer.store([each], "api:test") for each in calls))
    finally:
        await database.dispose()

    assert [len(answer) for answer in answers] == [1] * len(calls)
    stored = [answer[0] for answer in answers]
    assert all(isinstance(s, Stored) and not s.replayed for s in stored[:30])
    assert len({s.notification_id for s in stored[:30]}) == 30
    assert isinstance(stored[30], RequestRejected) and stored[30].field == "to.id"
    first, again = stored[31], stored[32]
    assert isinstance(first, Stored) and isinstance(again, Stored)
    assert again.replayed and again.notification_id == first.notification_id
    # The 31 deliveries went in one parcel: the calls were gathered into one commit.
    assert runtime.dispatcher.waiting(Channel.WEBHOOK, Priority.HIGH) == 1
