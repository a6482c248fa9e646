"""What a scheduled job may use: the running process's database, dispatcher and catalog.

Jobs are stored by reference ("module:function") with JSON-able arguments, so they cannot
carry live objects. The executor that runs a job sets its context around it; a job function
asks for it with `job_context()`. Nothing is set at import time, and each `Scheduler` sets
its own, so two schedulers in one process (tests) do not see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from ..catalog import Catalog
from ..db.engine import Database
from ..pipeline.dispatch import Dispatcher


@dataclass(frozen=True)
class JobContext:
    database: Database
    dispatcher: Dispatcher
    catalog: Catalog


_current: ContextVar[JobContext] = ContextVar("clarion_job_context")


def job_context() -> JobContext:
    """The context of the job running now."""
    try:
        return _current.get()
    except LookupError:
        raise RuntimeError(
            "no job context: scheduled job functions run under `Scheduler` (appliance.scheduling); "
            "to call one directly, wrap the call in `with running_with(JobContext(...)):`"
        ) from None


@contextmanager
def running_with(context: JobContext) -> Iterator[JobContext]:
    """Make `context` the job context inside the block (the current task only)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
