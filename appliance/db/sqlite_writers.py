"""SQLite's one writer: its transactions take turns in this process, in the order they came,
the start of new work (a parcel's claim, a fan-out batch) as if a second later.

SQLite lets one transaction write at a time. A transaction that finds the lock taken waits in
SQLite's busy handler, which sleeps and retries — 1, 2, 5 … up to 100 ms between tries — so
with many waiters the lock sat free while they slept: in the embedded mode, batch ingest and
the in-process workers' claims and records queued behind each other with a p99 of 3.6–4.6 s and
a third of the process idle (measured). Here they wait in a queue of this process instead and
each is woken the moment the one before it ends. The busy handler still guards the file against
other processes (a `clarion db upgrade` run beside it).

The queue spans event loops: the API and the in-process workers each run their own loop and
engine on the same file.

A transaction opened as deferred — a worker's claim of a parcel that is not high-priority, a
campaign's next fan-out batch: the start of work nobody waits on yet — is served as if it had
come DEFERRED_S later than it did. Any transaction that is not deferred and comes meanwhile (a
request's, above all) goes first; none that comes after that goes ahead of it, however long a
flood of requests lasts. The rest of a parcel's writes (its frequency slots, its record)
finish work already begun and take their turn as they come. So during a flood each worker
thread takes on a parcel about a second apart, and ingest keeps most of the process. First
come, first served, the workers took half of it from a batch ingest (G7: 7,500 notifications/s
and 740 deliveries/s during it); claims a second later, 10,800 and 240 (two seconds: 11,500
and 130; measured, the first of three 10 s rounds). Letting the API's transactions go first as
a whole was quicker still, but then each of a worker's writes paid the delay, and the pool's
connections each did about one write a second.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import deque
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_only

_HOLDS = "clarion_holds_sqlite_write_turn"
#: The execution option that marks a transaction deferred (`Database.transaction(deferred=True)`).
DEFERRED = "clarion_deferred_write_turn"
#: s later than it came that a deferred transaction is served (module docstring).
DEFERRED_S = 1.0
#: As long as SQLite's own busy timeout (below): a turn never given back fails loudly, not silently.
TURN_TIMEOUT_S = 30.0
_LOCKED = f"database is locked: no write turn within {TURN_TIMEOUT_S:g} s"


class WriteTurns:
    """A lock for coroutines of any event loop, handed to waiters in the order they came, a
    deferred one counted as coming DEFERRED_S later (module docstring)."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        # By deferred: (when its turn is due, waiter), in the order they came.
        self._queues: dict[bool, deque[tuple[float, asyncio.Future[None]]]] = {False: deque(), True: deque()}

    async def acquire(self, timeout_s: float | None = None, *, deferred: bool = False) -> None:
        """Raises TimeoutError after `timeout_s` in the queue (and leaves it)."""
        queue = self._queues[deferred]
        with self._mutex:
            if not self._held:
                self._held = True
                return
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (time.monotonic() + (DEFERRED_S if deferred else 0.0), waiter)
            queue.append(entry)
        async with asyncio.timeout(timeout_s):
            try:
                await waiter
            except asyncio.CancelledError:
                with self._mutex:
                    if entry in queue:  # not handed over yet: just leave the queue
                        queue.remove(entry)
                        raise
                if not waiter.cancelled():  # handed over as this task was cancelled: pass it on
                    self.release()
                raise

    def release(self) -> None:
        with self._mutex:
            waiter = self._next()
            if waiter is None:
                self._held = False
                return
        # Still held: the turn passes straight to the waiter, in its own loop.
        try:
            waiter.get_loop().call_soon_threadsafe(self._hand_over, waiter)
        except RuntimeError:  # its loop has closed: nobody is waiting there any more
            self.release()

    def _next(self) -> asyncio.Future[None] | None:
        """The waiter due first; a tie goes to the one not deferred."""
        waiting = [queue for queue in self._queues.values() if queue]
        if not waiting:
            return None
        return min(waiting, key=lambda queue: queue[0][0]).popleft()[1]

    def _hand_over(self, waiter: asyncio.Future[None]) -> None:
        if waiter.done():  # cancelled meanwhile
            self.release()
        else:
            waiter.set_result(None)


#: One queue per database file and process, whichever engine of the process writes to it.
_turns: dict[str, WriteTurns] = {}
_turns_mutex = threading.Lock()


def take_turns(engine: AsyncEngine) -> None:
    """Make `engine`'s transactions on its SQLite file wait for their turn, then begin with the
    write lock (BEGIN IMMEDIATE), so that a read turning into a write midway cannot fail with
    "database is locked"; the turn ends as the connection goes back to the pool."""
    with _turns_mutex:
        turns = _turns.setdefault(str(engine.url), WriteTurns())

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={TURN_TIMEOUT_S * 1000:.0f}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A connection may begin again before it goes back (commit, then more statements).
        if not connection.info.get(_HOLDS):
            try:
                deferred = bool(connection.get_execution_options().get(DEFERRED))
                await_only(turns.acquire(TURN_TIMEOUT_S, deferred=deferred))
            except TimeoutError as exc:  # as SQLite's busy timeout would say it
                raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(_LOCKED)) from exc
            connection.info[_HOLDS] = True
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    # After the pool's rollback of whatever was left open, also for a connection that broke, and
    # for one the pool lets go of without taking it back (garbage-collected while checked out).
    @event.listens_for(engine.sync_engine.pool, "checkin")
    @event.listens_for(engine.sync_engine.pool, "detach")
    def _on_return(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_HOLDS, False):
            turns.release()
