"""Group commit: single sends that arrive together share one transaction and one parcel."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from appliance.catalog import load_catalog
from appliance.config.schema import Channel, Priority
from appliance.db.bulk import COPY_FROM
from appliance.db.engine import Database
from appliance.db.migrate import upgrade
from appliance.db.models import Notification, Recipient
from appliance.errors import RequestRejected
from appliance.pipeline.group_commit import GroupCommit
from appliance.pipeline.intake import Accepted, accept
from appliance.pipeline.requests import NotificationIn, RecipientIn
from appliance.pipeline.store import Occasion, Stored, store
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


async def test_two_api_processes_storing_one_key_at_once_store_it_once(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes (two pools) race with the same keys: each key is stored once, and the
    loser of each race answers with the winner's notification (its insert fails on the key and
    its second pass finds it)."""
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    catalog = load_catalog(CONFIG)
    upgrade(pg_url)
    first, second = Database(pg_url), Database(pg_url)
    async with first.transaction() as session:
        session.add(Recipient(external_id="racer", attributes={}))
    now = datetime.now(UTC)
    occasion = Occasion(
        source="api:test", now=now, queue_lease=timedelta(minutes=5), policy=catalog.config.policy
    )

    def keyed(n: int) -> Accepted:
        request = NotificationIn(
            to=RecipientIn(id="racer"), category="alerts", template="alert", data={"n": n}
        )
        return accept(request, catalog, caller="test", idempotency_key=f"race-{n}")

    try:
        for n in range(20):
            a, b = await asyncio.gather(
                store(first, [keyed(n)], occasion), store(second, [keyed(n)], occasion)
            )
            assert isinstance(a[0], Stored) and isinstance(b[0], Stored)
            assert a[0].notification_id == b[0].notification_id
            assert sorted([a[0].replayed, b[0].replayed]) == [False, True]
        async with first.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Notification)) == 20
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.parametrize("count", [1, COPY_FROM], ids=["few", "many"])
async def test_a_sender_longer_than_its_column_is_cut_not_refused(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """An API key's name may be 63 characters: with `api:` before it, its sends still go in."""
    monkeypatch.setenv("SMTP_PORT", str(free_port()))
    monkeypatch.setenv("HOOK_URL", f"http://127.0.0.1:{free_port()}/hook")
    catalog = load_catalog(CONFIG)
    upgrade(pg_url)
    database = Database(pg_url)
    sender = f"api:{'k' * 63}"
    occasion = Occasion(
        source=sender, now=datetime.now(UTC), queue_lease=timedelta(minutes=5), policy=catalog.config.policy
    )
    request = NotificationIn(
        to=RecipientIn(id="long-named", attributes={}), category="alerts", template="alert"
    )
    try:
        stored = await store(database, [accept(request, catalog, caller="k" * 63)] * count, occasion)
        assert all(isinstance(each, Stored) for each in stored)
        async with database.sessions() as session:
            assert set(await session.scalars(select(Notification.source))) == {sender[:64]}
    finally:
        await database.dispose()
