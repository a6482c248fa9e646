"""Engines and sessions for SQLite (embedded) and PostgreSQL (scaled), from one URL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from sqlalchemy import event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from .sqlite_writers import DEFERRED, take_turns

_ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
_SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


def async_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername=_ASYNC_DRIVERS.get(parsed.get_backend_name(), parsed.drivername))


def sqlite_file(url: URL) -> str | None:
    """The file of an SQLite database; None for one in memory, or for PostgreSQL."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def sync_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername=_SYNC_DRIVERS.get(parsed.get_backend_name(), parsed.drivername))


class Database:
    """One async engine and its session factory. Create one per event loop."""

    def __init__(self, url: str, *, pool_size: int = 10, deferred_room: int = 0) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {}
        if not self.is_sqlite:
            # Last in, first out: under light load the same few connections stay in use (and
            # unpinged, below) while the rest idle.
            options.update(pool_size=pool_size, max_overflow=pool_size, pool_use_lifo=True)
        elif sqlite_file(self.url):  # in memory, one connection and no pool
            # A deferred transaction waits for its turn holding a connection (the turn is taken as
            # it begins): room for `deferred_room` of them beyond SQLAlchemy's default 5 + 10, so
            # that the writes of parcels under way do not wait on the pool behind them.
            options.update(max_overflow=10 + deferred_room)
        self.engine: AsyncEngine = create_async_engine(
            self.url, json_serializer=_json_text, json_deserializer=_json_value, **options
        )
        if self.is_sqlite:
            take_turns(self.engine)
        else:
            _plan_with_the_parameters(self.engine)
            _ping_after_idle(self.engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._deferred_sessions = (
            async_sessionmaker(self.engine.execution_options(**{DEFERRED: True}), expire_on_commit=False)
            if self.is_sqlite
            else self.sessions
        )
        self._autocommit_sessions = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )

    @asynccontextmanager
    async def transaction(self, *, deferred: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on error. `deferred`: it begins
        work that may start a little later; on SQLite, transactions that come up to a second
        after it go first (db/sqlite_writers.py) — an order only, it still begins IMMEDIATE.
        Nothing changes on PostgreSQL."""
        async with (self._deferred_sessions if deferred else self.sessions)() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self, *, deferred: bool = False) -> AsyncIterator[AsyncSession]:
        """A session whose statements each commit on their own, for work that is one write
        statement and reads: no BEGIN and COMMIT round trips around it (writes that must go
        together bring their own transaction, as db/bulk.py does). On SQLite, whose writers
        take the write lock up front (db/sqlite_writers.py), a transaction as usual, `deferred`
        as there."""
        if self.is_sqlite:
            async with self.transaction(deferred=deferred) as session:
                yield session
            return
        async with self._autocommit_sessions() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def _json_text(value: Any) -> str:
    # The JSON columns' text as msgspec writes it: 0.1 µs a value where json.dumps takes 1.7
    # (db/bulk.py), on every notification's data.
    return msgspec.json.encode(value).decode()


#: The JSON columns read by msgspec: on PostgreSQL, the standard library's loads was a fifth of a
#: worker's claim (a parcel's notifications, their data), measured in G3.
_json_value = msgspec.json.decode


def _plan_with_the_parameters(engine: AsyncEngine) -> None:
    # psycopg prepares a statement run five times; PostgreSQL then may switch it to a generic
    # plan made without the parameters' values. For `key = ANY(:keys)` (db/among.py) on a table
    # not analyzed yet, that plan scanned the whole table: 790 ms for 500 keys over 60,000 rows,
    # 5.7 ms planned with them (measured). Planning each time costs far less than that risk.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET plan_cache_mode = force_custom_plan")
        cursor.close()
        dbapi_connection.commit()


#: A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_S = 1.0


def _ping_after_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections that sat idle only.

    A ping is a round trip: with `pool_pre_ping` it was one transaction in five of a single
    send's, ~110 µs of CPU each (docs/benchmarks.md). A connection that died while idle (a
    server restart, a dropped link) is still noticed here and replaced before anyone uses it;
    one that was fine a second ago is trusted, and if the server went away within that second
    the statement fails like the transactions in flight then, and the pool starts afresh.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError("the idle connection was lost") from exc  # the pool reconnects
            raise
