"""Run a due job's coroutine on the application's event loop, with its job context set.

APScheduler decides *when* in its own thread (its job-store queries are blocking and, on
SQLite, may wait for the write lock: never on the event loop). The job itself belongs on the
loop, where the process's async database engine and dispatcher live.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from datetime import timedelta
from functools import partial
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_coroutine_job
from apscheduler.job import Job

from .context import JobContext, running_with


class LoopExecutor(BaseExecutor):
    def __init__(self, loop: asyncio.AbstractEventLoop, context: JobContext) -> None:
        super().__init__()
        self.loop = loop
        self.context = context
        self._running: set[concurrent.futures.Future[Any]] = set()

    def _do_submit_job(self, job: Job, run_times: list[Any]) -> None:
        future = asyncio.run_coroutine_threadsafe(self._run(job, run_times), self.loop)
        with self._lock:
            self._running.add(future)
        future.add_done_callback(partial(self._finished, job.id))

    async def _run(self, job: Job, run_times: list[Any]) -> list[Any]:
        with running_with(self.context):
            # Logs and reports a failing job (it is not retried: the delivery lease is the net).
            return await run_coroutine_job(job, job._jobstore_alias, run_times, self._logger.name)

    def _finished(self, job_id: str, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._running.discard(future)
        try:
            events = future.result()
        except BaseException as exc:  # cancelled at shutdown, or the loop closed under it
            self._run_job_error(job_id, exc, exc.__traceback__)
        else:
            self._run_job_success(job_id, events)

    async def drain(self, timeout: timedelta) -> None:
        """Wait (up to `timeout`) for the jobs still running: each was already taken off the store."""
        with self._lock:
            running = [asyncio.wrap_future(future) for future in self._running]
        if running:
            await asyncio.wait(running, timeout=timeout.total_seconds())
