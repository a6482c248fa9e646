"""The PostgreSQL pool (db/engine.py): a connection that sat idle is checked before use, so one
the server dropped meanwhile is replaced; one in use a moment ago is handed out unchecked."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text

from appliance.db import engine
from appliance.db.engine import Database


@pytest.fixture
async def database(pg_url: str) -> AsyncIterator[Database]:
    database = Database(pg_url)
    yield database
    await database.dispose()


async def backend_pid(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def terminate(pg_url: str, pid: int) -> None:
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])


def count_pings(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings = [0]
    ping = database.engine.dialect.do_ping

    def counted(connection: object) -> bool:
        pings[0] += 1
        return ping(connection)

    monkeypatch.setattr(database.engine.dialect, "do_ping", counted)
    return pings


async def test_a_connection_dropped_while_idle_is_replaced_before_use(
    database: Database, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = await backend_pid(database)
    terminate(pg_url, dropped)
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 0.0)  # as if it had idled for a while

    assert await backend_pid(database) != dropped  # no error: the ping found it gone


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = count_pings(database, monkeypatch)
    first = await backend_pid(database)
    for _ in range(20):
        assert await backend_pid(database) == first  # last in, first out: the same connection
    assert pings[0] == 0

    monkeypatch.setattr(engine, "PING_AFTER_IDLE_S", 0.0)
    await backend_pid(database)
    assert pings[0] == 1
