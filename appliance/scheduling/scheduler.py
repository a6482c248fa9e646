"""`Scheduler`: run a job once at a given time, on whichever replica leads then.

Every `clarion serve` starts one. All of them share the `apscheduler_jobs` table, so any
replica can add or cancel a job; only the holder of the leader lock (`leadership`) runs them.
A follower runs APScheduler paused — its job store is open for writes, nothing is processed —
and tries the lock every `retry`. When it wins, it resumes: jobs that came due while nobody
led are run at once (no misfire grace time, missed runs coalesced into one).

Another process's additions are not signalled to the leader, so it re-reads the store every
`poll`: a job added on a follower runs at most `poll` late.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Engine

from ..db.engine import sync_url
from .context import JobContext
from .executor import LoopExecutor
from .leadership import LeaderLock, lock_for

log = logging.getLogger(__name__)

TABLE = "apscheduler_jobs"  # created by migration 0005 in APScheduler's own layout
POLL = timedelta(seconds=1)
RETRY = timedelta(seconds=3)
DRAIN = timedelta(seconds=10)  # how long `stop` waits for jobs already running

JOB_DEFAULTS = {
    "misfire_grace_time": None,  # late is better than never: run whatever came due meanwhile
    "coalesce": True,  # ...once, however many runs were missed
    "max_instances": 1,
}


class Scheduler:
    def __init__(
        self,
        database_url: str,
        *,
        poll: timedelta = POLL,
        retry: timedelta = RETRY,
        lock: LeaderLock | None = None,
    ) -> None:
        self.url = sync_url(database_url)
        self.poll = poll
        self.retry = retry
        self.lock = lock or lock_for(self.url)
        self._leading = False
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._aps: BackgroundScheduler | None = None
        self._executor: LoopExecutor | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    async def start(self, context: JobContext) -> None:
        """Open the job store; lead at once if nobody does, else keep trying in the background."""
        self._executor = LoopExecutor(asyncio.get_running_loop(), context)
        self._aps = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=_engine(self.url), tablename=TABLE)},
            executors={"default": self._executor},
            job_defaults=JOB_DEFAULTS,
            timezone=UTC,
        )
        await asyncio.to_thread(self._aps.start, paused=True)
        await asyncio.to_thread(self._round)
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._lead_or_follow, name="clarion-scheduler-leader", daemon=True
        )
        self._thread.start()

    async def stop(self) -> None:
        """Stop taking jobs, let running ones finish (up to DRAIN), then hand the lock on."""
        self._stopping.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._aps is not None and self._aps.running:
            await asyncio.to_thread(self._aps.shutdown, wait=False)
        if self._executor is not None:
            await self._executor.drain(DRAIN)
        self._leading = False
        await asyncio.to_thread(self.lock.release)

    async def schedule_once(self, job_id: str, run_at: datetime, func: str, /, **kwargs: Any) -> None:
        """Run `func` ("module:async_function") with `kwargs` at `run_at`, on the leader.

        Idempotent by `job_id`: scheduling it again replaces the earlier one. A `run_at` in the
        past runs as soon as the leader sees it. The arguments are stored, so they must be JSON-able.
        """
        _check_job(run_at, func, kwargs)
        await asyncio.to_thread(
            self._started().add_job,
            func,
            trigger=DateTrigger(run_date=run_at, timezone=UTC),
            id=job_id,
            name=job_id,
            kwargs=kwargs,
            replace_existing=True,
        )

    async def cancel(self, job_id: str) -> bool:
        """Forget the job; False when there was none (never scheduled, or already run)."""
        try:
            await asyncio.to_thread(self._started().remove_job, job_id)
        except JobLookupError:
            return False
        return True

    def _started(self) -> BackgroundScheduler:
        if self._aps is None or not self._aps.running:
            raise RuntimeError("the scheduler is not running: `await scheduler.start(context)` first")
        return self._aps

    def _lead_or_follow(self) -> None:
        """The leadership thread: followers try the lock, the leader re-reads the job store."""
        while not self._stopping.wait((self.poll if self._leading else self.retry).total_seconds()):
            try:
                self._round()
            except Exception:
                log.exception("scheduler: leadership round failed; trying again")

    def _round(self) -> None:
        assert self._aps is not None
        if self._leading:
            if self.lock.held():
                self._aps.wakeup()
                return
            self._leading = False
            self._aps.pause()
            log.warning("scheduler: lost the leader lock; another replica will run the jobs")
        elif self.lock.try_acquire():
            self._leading = True
            self._aps.resume()  # runs at once whatever came due while nobody led
            log.info("scheduler: this process leads; it runs the scheduled jobs")


def _engine(url: URL) -> Engine:
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_size=2, max_overflow=2, pool_pre_ping=True)
    # Wait for the write lock like the async engine does (busy_timeout) rather than fail, and
    # commit as cheaply: a batch of scheduled notifications is one job row each.
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")

    return engine


def _check_job(run_at: datetime, func: str, kwargs: dict[str, Any]) -> None:
    if run_at.tzinfo is None:
        raise ValueError("run_at must be timezone-aware (e.g. datetime.now(UTC) + ...)")
    if ":" not in func:
        raise ValueError(f"func must be a reference 'package.module:function', not {func!r}")
    if not inspect.iscoroutinefunction(ref_to_obj(func)):
        raise TypeError(f"{func} must be an `async def` function: jobs run on the event loop")
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise TypeError(
            f"job arguments are stored, so they must be JSON-able (pass ids as str): {exc}"
        ) from None
