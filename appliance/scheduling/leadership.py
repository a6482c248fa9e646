"""The leader lock: whoever holds it runs the scheduled jobs; everyone else waits to take over.

- PostgreSQL (scaled): a session-level `pg_try_advisory_lock` on a connection kept open for as
  long as the process leads. PostgreSQL frees it when that session ends — the process exits or
  crashes, or its connection drops — so a follower's next try wins. Advisory locks are per
  database: installations sharing a server do not contend.
- SQLite (embedded): `flock` on a file beside the database. One process per database file is
  the rule of the embedded mode; the lock keeps a second one (started by mistake) from running
  every job twice. The kernel frees it when the process dies.
- In-memory SQLite: nothing else can see the database, so this process always leads.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import IO, Protocol

import psycopg
from sqlalchemy.engine import URL

from ..db.engine import sqlite_file

log = logging.getLogger(__name__)

#: "Clar" in ASCII: fits in 32 bits, so pg_locks shows it as `objid` with `classid` 0.
LOCK_KEY = 0x436C6172

# Find a dead leader's host within ~25 s instead of the OS default of two hours, on both ends:
# libpq's keepalives for this process, the session settings for the server's side.
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
_SERVER_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


class LeaderLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this process holds it now."""

    def held(self) -> bool:
        """Whether this process still holds it (False once its connection or file is gone)."""

    def release(self) -> None: ...


def lock_for(url: URL) -> LeaderLock:
    """The lock that suits the database at `url` (a sync SQLAlchemy URL)."""
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresLock(url)
    if backend == "sqlite":
        path = sqlite_file(url)
        return FileLock(Path(f"{path}.scheduler-lock")) if path else AlwaysLeader()
    raise ValueError(f"no leader lock for {backend!r} databases; use PostgreSQL or SQLite")


class PostgresLock:
    def __init__(self, url: URL, *, key: int = LOCK_KEY) -> None:
        self._conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.key = key
        self._connection: psycopg.Connection | None = None
        self._holding = False

    def try_acquire(self) -> bool:
        try:
            if self._connection is None or self._connection.closed:
                self._connection = self._connect()
            row = self._connection.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        except psycopg.Error as exc:
            log.warning("scheduler: cannot try the leader lock (%s); will try again", exc)
            self.release()
            return False
        self._holding = bool(row and row[0])
        return self._holding

    def held(self) -> bool:
        if not self._holding or self._connection is None:
            return False
        try:
            # The lock lives as long as this session; psycopg never reconnects behind our back,
            # so a connection that still answers is the session that took the lock.
            self._connection.execute("SELECT 1")
        except psycopg.Error:
            log.warning("scheduler: lost the connection holding the leader lock")
            self.release()
            return False
        return True

    def release(self) -> None:
        self._holding = False
        if self._connection is not None:
            self._connection.close()  # ending the session frees the lock
            self._connection = None

    def _connect(self) -> psycopg.Connection:
        connection = psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name="clarion-scheduler",
            **_KEEPALIVES,
        )
        for statement in _SERVER_KEEPALIVES:
            connection.execute(statement)
        return connection


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def try_acquire(self) -> bool:
        import fcntl  # POSIX only, like the embedded mode's deployments (Linux, macOS, Docker)

        if self._file is not None:
            return True
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")  # who leads, for an operator wondering
        handle.flush()
        self._file = handle
        return True

    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None


class AlwaysLeader:
    def try_acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        pass
