"""Scheduling: `send_at` holds a notification until its time; jobs survive restarts; exactly one
replica runs the scheduler, and the one taking over runs what came due meanwhile."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from appliance.catalog import Catalog
from appliance.db.engine import Database, sync_url
from appliance.db.migrate import upgrade
from appliance.db.models import apscheduler_jobs
from appliance.db.types import utcnow
from appliance.queueing.runtime import WorkerRuntime
from appliance.scheduling.context import JobContext, job_context
from appliance.scheduling.jobs import release_job_id
from appliance.scheduling.scheduler import Scheduler
from appliance.settings import Settings
from tests.conftest import AUTH, EXAMPLE_CONFIG, ROOT, Stack
from tests.integration.test_notifications_api import login_code, new_id, settled
from tests.live_server import live_server

FAST = {"poll": timedelta(seconds=0.2), "retry": timedelta(seconds=0.5)}
RECORD = "tests.integration.test_scheduling:record_run"

#: (mark, the context it ran with, when): what `record_run` saw, in this process.
RUNS: list[tuple[str, JobContext, datetime]] = []


async def record_run(mark: str) -> None:
    """A job for these tests: notes that it ran, where (which scheduler's context) and when."""
    RUNS.append((mark, job_context(), utcnow()))


def runs_of(mark: str) -> list[tuple[str, JobContext, datetime]]:
    return [run for run in RUNS if run[0] == mark]


async def ran(mark: str, timeout_s: float) -> tuple[str, JobContext, datetime]:
    deadline = time.monotonic() + timeout_s
    while not runs_of(mark):
        assert time.monotonic() < deadline, f"job {mark!r} did not run within {timeout_s}s"
        await asyncio.sleep(0.05)
    [run] = runs_of(mark)
    return run


def stored_job_ids(database_url: str) -> set[str]:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(apscheduler_jobs.c.id)))
    finally:
        engine.dispose()


def context_for(database_url: str, catalog: Catalog) -> JobContext:
    runtime = WorkerRuntime(Settings(config_path=str(EXAMPLE_CONFIG), database_url=database_url), catalog)
    return JobContext(Database(database_url), runtime.dispatcher, catalog)


def iso(moment: datetime) -> str:
    return moment.isoformat()


# --- send_at through the API, on both stacks -------------------------------------------------


async def test_a_notification_with_send_at_stays_queued_until_then_and_is_sent_after(stack: Stack) -> None:
    send_at = utcnow() + timedelta(seconds=2)
    response = await stack.client.post(
        "/v1/notifications", json=login_code(new_id(), send_at=iso(send_at)), headers=AUTH
    )
    assert response.status_code == 202, response.text
    notification_id = response.json()["id"]

    body = (await stack.client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
    assert body["status"] == "queued"
    assert {d["status"] for d in body["deliveries"]} == {"queued"}
    assert {datetime.fromisoformat(d["not_before"]) for d in body["deliveries"]} == {send_at}
    assert release_job_id(notification_id) in stored_job_ids(stack.settings.database_url)

    await asyncio.sleep(max(0.0, (send_at - utcnow()).total_seconds() - 0.5))
    body = (await stack.client.get(f"/v1/notifications/{notification_id}", headers=AUTH)).json()
    assert {d["status"] for d in body["deliveries"]} == {"queued"}, "sent before its send_at"

    body = await settled(stack.client, notification_id, timeout_s=10)
    assert body["status"] == "sent"
    assert all(datetime.fromisoformat(d["sent_at"]) >= send_at for d in body["deliveries"])
    assert release_job_id(notification_id) not in stored_job_ids(stack.settings.database_url)


async def test_a_batch_sends_its_unscheduled_items_now_and_holds_the_scheduled_ones(stack: Stack) -> None:
    send_at = utcnow() + timedelta(seconds=2)
    response = await stack.client.post(
        "/v1/notifications/batch",
        json={
            "notifications": [
                login_code(new_id()),
                login_code(new_id(), send_at=iso(send_at)),
                login_code(new_id(), send_at=iso(send_at)),
            ]
        },
        headers=AUTH,
    )
    now_id, *later_ids = (item["id"] for item in response.json()["results"])
    # Those due together are released together: one job, named after the first.
    assert stored_job_ids(stack.settings.database_url) == {release_job_id(later_ids[0])}

    assert (await settled(stack.client, now_id, timeout_s=5))["status"] == "sent"
    for later_id in later_ids:
        held = (await stack.client.get(f"/v1/notifications/{later_id}", headers=AUTH)).json()
        assert held["status"] == "queued"

    for later_id in later_ids:
        body = await settled(stack.client, later_id, timeout_s=10)
        assert body["status"] == "sent"
        assert all(datetime.fromisoformat(d["sent_at"]) >= send_at for d in body["deliveries"])


# --- jobs survive a restart (a real `clarion serve`, SQLite) ----------------------------------


def test_a_notification_due_while_the_server_was_down_is_sent_when_it_starts_again(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'clarion.db'}"
    with live_server(tmp_path) as base, httpx.Client(base_url=base, headers=AUTH, timeout=5) as client:
        send_at = utcnow() + timedelta(seconds=5)  # from now: starting the server takes a while
        response = client.post("/v1/notifications", json=login_code(new_id(), send_at=iso(send_at)))
        assert response.status_code == 202, response.text
        notification_id = response.json()["id"]
        assert client.get(f"/v1/notifications/{notification_id}").json()["status"] == "queued"
    assert release_job_id(notification_id) in stored_job_ids(database_url)  # the job outlived the process

    time.sleep(max(0.0, (send_at - utcnow()).total_seconds() + 0.3))  # it comes due while nobody runs

    with live_server(tmp_path) as base, httpx.Client(base_url=base, headers=AUTH, timeout=5) as client:
        deadline = time.monotonic() + 10
        while (body := client.get(f"/v1/notifications/{notification_id}").json())["status"] != "sent":
            assert time.monotonic() < deadline, f"not sent after the restart: {body}"
            time.sleep(0.1)
    assert all(datetime.fromisoformat(d["sent_at"]) >= send_at for d in body["deliveries"])
    assert release_job_id(notification_id) not in stored_job_ids(database_url)
    # The second run's log: its scheduler ran the stored job. (Embedded mode also re-sweeps all
    # unsettled deliveries at start, so it may find them taken already: "released 0".)
    log = (tmp_path / "serve.log").read_text()
    assert re.search(rf"released \d deliveries of notification {notification_id}", log), log


def test_a_campaign_scheduled_before_a_restart_starts_at_its_time_in_the_new_process(tmp_path: Path) -> None:
    readers = "id,email,topics\n" + "".join(f"early-{n},early-{n}@example.com,early\n" for n in range(3))
    with live_server(tmp_path) as base, httpx.Client(base_url=base, headers=AUTH, timeout=5) as client:
        imported = client.post("/v1/recipients/import", content=readers, headers={"Content-Type": "text/csv"})
        assert imported.json()["imported"] == 3, imported.text
        body = {"name": "Early bird", "category": "marketing", "template": "newsletter",
                "data": {"headline": "Soon"}, "audience": {"topic": "early"}}  # fmt: skip
        campaign_id = client.post("/v1/campaigns", json=body).json()["id"]
        send_at = utcnow() + timedelta(seconds=8)  # the restart below takes a few seconds
        launched = client.post(f"/v1/campaigns/{campaign_id}/launch", json={"send_at": iso(send_at)})
        assert launched.json()["state"] == "scheduled", launched.text

    with live_server(tmp_path) as base, httpx.Client(base_url=base, headers=AUTH, timeout=5) as client:
        assert utcnow() < send_at, "the restart took longer than the test allows"
        assert client.get(f"/v1/campaigns/{campaign_id}").json()["state"] == "scheduled"
        deadline = time.monotonic() + 20
        while (found := client.get(f"/v1/campaigns/{campaign_id}").json())["state"] != "sent":
            assert time.monotonic() < deadline, f"not sent after the restart: {found}"
            time.sleep(0.2)
    assert datetime.fromisoformat(found["started_at"]) >= send_at
    assert found["progress"]["recipients"] == 3


# --- leader election ---------------------------------------------------------------------------


async def test_of_two_schedulers_on_postgresql_one_leads_and_the_other_takes_over_when_it_stops(
    pg_url: str, example_catalog: Catalog
) -> None:
    upgrade(pg_url)
    first, second = Scheduler(pg_url, **FAST), Scheduler(pg_url, **FAST)
    first_context, second_context = context_for(pg_url, example_catalog), context_for(pg_url, example_catalog)
    await first.start(first_context)
    await second.start(second_context)
    try:
        assert (first.is_leader, second.is_leader) == (True, False)
        await asyncio.sleep(0.6)  # a few follower retries later, still one leader
        assert (first.is_leader, second.is_leader) == (True, False)

        mark = f"added-on-follower-{new_id()}"
        await second.schedule_once(mark, utcnow() + timedelta(seconds=0.3), RECORD, mark=mark)
        _, context, _ = await ran(mark, timeout_s=3)
        assert context is first_context  # the leader read it from the shared table and ran it

        await first.stop()
        deadline = time.monotonic() + 3
        while not second.is_leader:
            assert time.monotonic() < deadline, "the follower did not take over"
            await asyncio.sleep(0.05)

        mark = f"after-takeover-{new_id()}"
        await second.schedule_once(mark, utcnow(), RECORD, mark=mark)
        _, context, _ = await ran(mark, timeout_s=3)
        assert context is second_context
    finally:
        await first.stop()
        await second.stop()
        await first_context.database.dispose()
        await second_context.database.dispose()


LEADER = """
import asyncio, sys
from datetime import timedelta
from appliance.catalog import load_catalog
from appliance.db.engine import Database
from appliance.queueing.runtime import WorkerRuntime
from appliance.scheduling.context import JobContext
from appliance.scheduling.scheduler import Scheduler
from appliance.settings import Settings

async def main(url, config):
    catalog = load_catalog(config, environ={})
    runtime = WorkerRuntime(Settings(config_path=config, database_url=url), catalog)
    scheduler = Scheduler(url, poll=timedelta(seconds=0.2))
    await scheduler.start(JobContext(Database(url), runtime.dispatcher, catalog))
    print("leader" if scheduler.is_leader else "follower", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_a_job_that_came_due_after_the_leader_was_killed_runs_on_the_replica_taking_over(
    pg_url: str, example_catalog: Catalog
) -> None:
    upgrade(pg_url)
    leader = subprocess.Popen(
        [sys.executable, "-c", LEADER, pg_url, str(EXAMPLE_CONFIG)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    follower = Scheduler(pg_url, poll=timedelta(seconds=0.2), retry=timedelta(seconds=2))
    context = context_for(pg_url, example_catalog)
    try:
        assert leader.stdout is not None
        started = await asyncio.wait_for(asyncio.to_thread(leader.stdout.readline), timeout=20)
        assert started.strip() == b"leader"
        await follower.start(context)
        assert not follower.is_leader

        leader.send_signal(signal.SIGSTOP)  # hung: it holds the lock but runs nothing
        mark = f"due-while-leaderless-{new_id()}"
        run_at = utcnow() + timedelta(seconds=0.3)
        await follower.schedule_once(mark, run_at, RECORD, mark=mark)
        await asyncio.sleep(0.6)
        assert runs_of(mark) == [] and not follower.is_leader  # due, and nobody runs it

        leader.send_signal(signal.SIGKILL)  # then gone: PostgreSQL ends its session, freeing the lock
        leader.wait(timeout=5)
        _, ran_with, ran_at = await ran(mark, timeout_s=6)
        assert follower.is_leader
        assert ran_with is context
        assert ran_at > run_at + timedelta(seconds=0.3)  # late, yet run: no misfire grace time
        await asyncio.sleep(0.5)
        assert len(runs_of(mark)) == 1
    finally:
        if leader.poll() is None:
            leader.kill()
            leader.wait(timeout=5)
        await follower.stop()
        await context.database.dispose()


async def test_two_schedulers_on_one_sqlite_file_do_not_both_lead(
    tmp_path: Path, example_catalog: Catalog
) -> None:
    database_url = f"sqlite:///{tmp_path / 'clarion.db'}"
    upgrade(database_url)
    first, second = Scheduler(database_url, **FAST), Scheduler(database_url, **FAST)
    context = context_for(database_url, example_catalog)
    await first.start(context)
    await second.start(context)
    try:
        assert (first.is_leader, second.is_leader) == (True, False)
        await first.stop()
        await asyncio.sleep(1.0)
        assert second.is_leader
    finally:
        await first.stop()
        await second.stop()
        await context.database.dispose()


# --- the API of the scheduler ------------------------------------------------------------------


async def test_a_cancelled_job_does_not_run_and_rescheduling_an_id_replaces_it(
    tmp_path: Path, example_catalog: Catalog
) -> None:
    database_url = f"sqlite:///{tmp_path / 'clarion.db'}"
    upgrade(database_url)
    scheduler = Scheduler(database_url, **FAST)
    context = context_for(database_url, example_catalog)
    await scheduler.start(context)
    try:
        cancelled, moved = f"cancelled-{new_id()}", f"moved-{new_id()}"
        await scheduler.schedule_once(cancelled, utcnow() + timedelta(seconds=0.5), RECORD, mark=cancelled)
        assert await scheduler.cancel(cancelled)
        assert not await scheduler.cancel(cancelled)

        await scheduler.schedule_once(moved, utcnow() + timedelta(hours=1), RECORD, mark=moved)
        await scheduler.schedule_once(moved, utcnow() + timedelta(seconds=0.3), RECORD, mark=moved)
        assert stored_job_ids(database_url) >= {moved}

        await ran(moved, timeout_s=3)
        await asyncio.sleep(0.5)
        assert runs_of(cancelled) == []
        assert stored_job_ids(database_url) == set()
    finally:
        await scheduler.stop()
        await context.database.dispose()


@pytest.mark.parametrize(
    ("run_at", "func", "kwargs", "error"),
    [
        (datetime(2030, 1, 1), RECORD, {"mark": "x"}, "timezone-aware"),
        (
            datetime(2030, 1, 1, tzinfo=UTC),
            "tests.integration.test_scheduling.record_run",
            {"mark": "x"},
            "reference",
        ),
        (
            datetime(2030, 1, 1, tzinfo=UTC),
            "tests.integration.test_scheduling:runs_of",
            {"mark": "x"},
            "async def",
        ),
        (datetime(2030, 1, 1, tzinfo=UTC), RECORD, {"mark": datetime(2030, 1, 1)}, "JSON-able"),
    ],
)
async def test_a_job_that_could_not_be_stored_or_run_is_refused_with_the_fix(
    run_at: datetime, func: str, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        await Scheduler("sqlite://").schedule_once("refused", run_at, func, **kwargs)
