"""SQLite's writers take turns (db/sqlite_writers.py): in the order they came, a deferred one (a
new parcel's claim) as if a little later, across the event loops of one process; a turn given
up — by commit, rollback, cancellation or a broken connection — goes to the next writer at once,
and one never given up fails the writers after it loudly, as SQLite's busy timeout would."""

from __future__ import annotations

import asyncio
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from appliance.db import sqlite_writers
from appliance.db.engine import Database
from appliance.db.sqlite_writers import WriteTurns

#: The conftest's `database`, on SQLite only: the turns are SQLite's.
on_sqlite = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


async def test_turns_go_in_the_order_asked() -> None:
    turns, order = WriteTurns(), []
    await turns.acquire()

    async def writer(n: int) -> None:
        await turns.acquire()
        order.append(n)
        turns.release()

    tasks = [asyncio.create_task(writer(n)) for n in range(5)]
    await asyncio.sleep(0.01)  # all five are queued
    turns.release()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4]


async def _queued(
    turns: WriteTurns, order: list[str], *writers: tuple[str, bool]
) -> list[asyncio.Task[None]]:
    """Queue `writers` (name, deferred) behind the turn held now, one after the other."""

    async def writer(name: str, deferred: bool) -> None:
        await turns.acquire(deferred=deferred)
        order.append(name)
        turns.release()

    tasks = []
    for name, deferred in writers:
        tasks.append(asyncio.create_task(writer(name, deferred)))
        await asyncio.sleep(0)  # queued in this order
    return tasks


async def test_writers_go_ahead_of_deferred_ones_that_came_just_before() -> None:
    turns, order = WriteTurns(), []
    await turns.acquire()
    tasks = await _queued(turns, order, ("d1", True), ("d2", True), ("w1", False), ("w2", False))
    turns.release()
    await asyncio.gather(*tasks)
    assert order == ["w1", "w2", "d1", "d2"]


async def test_a_deferred_writer_waits_about_its_delay_however_many_come_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Writers keep coming, each holding the turn a little: the deferred ones queued meanwhile go
    once they are due, in the order they came, ahead of writers that came later."""
    monkeypatch.setattr(sqlite_writers, "DEFERRED_S", 0.05)
    turns, order = WriteTurns(), []
    await turns.acquire()

    async def writer(name: str, deferred: bool) -> None:
        await turns.acquire(deferred=deferred)
        order.append(name)
        await asyncio.sleep(0.01)
        turns.release()

    deferred = [asyncio.create_task(writer(f"d{n}", True)) for n in range(3)]
    others = []
    for n in range(20):  # a steady stream, one every 10 ms
        others.append(asyncio.create_task(writer(f"w{n}", False)))
        await asyncio.sleep(0)  # queued
        if n == 0:
            turns.release()
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*deferred, *others), 5)
    started = [order.index(f"d{n}") for n in range(3)]
    assert started == sorted(started)  # among themselves, in the order they came
    assert order[0] == "w0"  # the writer that came after them went first
    assert max(started) < 12  # ~5 turns of 10 ms late, not behind all twenty
    assert order.index("w19") > max(started)


@on_sqlite
async def test_a_deferred_transaction_lets_one_that_came_after_it_go_first(database: Database) -> None:
    """Through the engine: `transaction(deferred=True)` reaches the turn as an execution option."""
    order: list[str] = []

    async def write(name: str, deferred: bool) -> None:
        async with database.transaction(deferred=deferred) as session:
            await session.execute(text("SELECT 1"))
            order.append(name)

    async with database.transaction() as holder:
        await holder.execute(text("SELECT 1"))  # holds the turn
        claim = asyncio.create_task(write("deferred", True))
        await asyncio.sleep(0.05)
        request = asyncio.create_task(write("request", False))
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(claim, request), 5)
    assert order == ["request", "deferred"]


@pytest.mark.parametrize("deferred", [False, True])
async def test_a_writer_cancelled_while_waiting_leaves_the_queue(deferred: bool) -> None:
    turns = WriteTurns()
    await turns.acquire()
    gave_up = asyncio.create_task(turns.acquire(deferred=deferred))
    await asyncio.sleep(0.01)
    gave_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    turns.release()
    await asyncio.wait_for(turns.acquire(), 1)  # the turn was not lost on the cancelled writer


async def test_a_turn_handed_to_a_writer_cancelled_meanwhile_passes_on() -> None:
    turns = WriteTurns()
    await turns.acquire()
    first = asyncio.create_task(turns.acquire())
    second = asyncio.create_task(turns.acquire())
    await asyncio.sleep(0.01)
    turns.release()  # handed to `first`, which is cancelled before it runs
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)


async def test_a_writer_waits_no_longer_than_its_timeout() -> None:
    turns = WriteTurns()
    await turns.acquire()
    with pytest.raises(TimeoutError):
        await turns.acquire(timeout_s=0.05)
    turns.release()
    await asyncio.wait_for(turns.acquire(), 1)  # the writer that gave up left the queue


@on_sqlite
async def test_a_transaction_that_gets_no_turn_fails_as_sqlite_would(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_writers, "TURN_TIMEOUT_S", 0.1)
    async with database.transaction() as holder:
        await holder.execute(text("SELECT 1"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with database.transaction() as session:
                await session.execute(text("SELECT 1"))


async def test_turns_are_handed_across_event_loops() -> None:
    turns = WriteTurns()
    await turns.acquire()
    got = threading.Event()

    def other_loop() -> None:
        async def take() -> None:
            await turns.acquire()
            got.set()
            turns.release()

        asyncio.run(take())

    thread = threading.Thread(target=other_loop)
    thread.start()
    await asyncio.sleep(0.05)
    assert not got.is_set()
    turns.release()
    await asyncio.to_thread(thread.join, 5)
    assert got.is_set()
    await asyncio.wait_for(turns.acquire(), 1)


@on_sqlite
async def test_many_writers_on_one_file_all_commit(database: Database) -> None:
    """Writers from two event loops at once: each waits its turn, none is told the database is
    locked, and every row is there."""

    async def write(db: Database, tag: str) -> None:
        for n in range(20):
            async with db.transaction() as session:
                await session.execute(
                    text("INSERT INTO rollup_watermarks (name, refreshed_at) VALUES (:n, CURRENT_TIMESTAMP)"),
                    {"n": f"{tag}-{n}"},
                )

    def in_other_loop() -> None:
        async def run() -> None:
            other = Database(str(database.url).replace("+aiosqlite", ""))
            try:
                await asyncio.gather(*(write(other, f"b{k}") for k in range(4)))
            finally:
                await other.dispose()

        asyncio.run(run())

    thread = threading.Thread(target=in_other_loop)
    thread.start()
    await asyncio.gather(*(write(database, f"a{k}") for k in range(4)))
    await asyncio.to_thread(thread.join, 30)
    async with database.transaction() as session:
        count = (await session.execute(text("SELECT count(*) FROM rollup_watermarks"))).scalar_one()
    assert count == 8 * 20


@on_sqlite
async def test_a_failed_transaction_gives_its_turn_back(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
            raise RuntimeError("the caller's own error")
    async with asyncio.timeout(2):  # would wait for ever if the turn had been kept
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))


@on_sqlite
async def test_a_connection_that_commits_and_goes_on_keeps_its_turn(database: Database) -> None:
    async with database.engine.connect() as connection:
        await connection.execute(text("SELECT 1"))
        await connection.commit()
        async with asyncio.timeout(2):  # beginning again must not wait on its own turn
            await connection.execute(text("SELECT 1"))
            await connection.commit()
    async with asyncio.timeout(2):
        async with database.transaction() as session:
            await session.execute(text("SELECT 1"))
