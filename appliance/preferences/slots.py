"""Frequency-cap slots: a notification takes one when its first delivery goes out.

Counting and taking happen in one transaction for a parcel, its recipients' rows locked in id
order (on SQLite, the write lock the transaction takes covers them), so two workers sending to
the same recipient at once cannot both take the last slot.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Update, and_, bindparam, or_, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.among import among_param
from ..db.engine import Database
from ..db.models import Notification, Recipient
from .frequency import FrequencyCap
from .verdict import cap_reached

#: No calendar period is longer than this (a month); older slots never count.
LONGEST_WINDOW = timedelta(days=32)

Pair = tuple[uuid.UUID, str]  # (recipient id, category)
Slots = defaultdict[Pair, list[datetime]]  # a pair with none taken: an empty list


class Wanted(NamedTuple):
    """A notification's slot to take, under its category's caps on its recipient's calendar."""

    notification_id: uuid.UUID
    pair: Pair
    caps: tuple[FrequencyCap, ...]
    zone: ZoneInfo


@dataclass(frozen=True)
class _Statements:
    """The slots' statements for one dialect, built once: their values come as parameters."""

    counted: Select[Any]
    held: Select[Any]  # `counted`, or-ed with the notifications that hold a slot however long ago
    take: Update

    @classmethod
    @cache
    def of(cls, dialect: str) -> _Statements:
        in_window = and_(
            # By recipient and by category, not by (recipient, category) pairs: SQLite scanned the
            # whole index of slots for a row-value IN, where an IN of recipient ids looks each up.
            among_param(dialect, Notification.recipient_id, "recipients"),
            among_param(dialect, Notification.category, "categories"),
            Notification.counted_at >= bindparam("since"),
        )
        columns = (Notification.recipient_id, Notification.category, Notification.counted_at)
        holding = and_(
            among_param(dialect, Notification.id, "notifications"), Notification.counted_at.is_not(None)
        )
        return cls(
            counted=select(*columns).where(in_window),  # without the ids the slots' index covers it
            held=select(*columns, Notification.id).where(or_(in_window, holding)),
            take=update(Notification)
            .where(among_param(dialect, Notification.id, "notifications"))
            .values(counted_at=bindparam("now"))
            .execution_options(synchronize_session=False),
        )


async def counted(session: AsyncSession, pairs: Iterable[Pair], now: datetime) -> Slots:
    """When each recipient's notifications of each category took their slots, over the longest window."""
    wanted = set(pairs)
    if not wanted:
        return defaultdict(list)
    statement = _Statements.of(session.bind.dialect.name).counted
    rows = await session.execute(statement, _read_parameters(wanted, now))
    return _tally(rows, wanted, (), now)[0]


async def take_slots(
    database: Database, wanted: Sequence[Wanted], now: datetime
) -> list[FrequencyCap | None]:
    """Take each notification's slot (its other channels share it), all in one transaction: for
    each, in order, the cap reached if none is left, else None. A parcel's slots went one
    transaction each, and during a flood its fifty queued for SQLite's write turn among the
    requests': ~39 deliveries/s to a capped category (docs/benchmarks.md)."""
    if database.is_sqlite:
        return await _take_in_session(database, wanted, now)
    return await _take_pipelined(database, wanted, now)


async def _take_in_session(
    database: Database, wanted: Sequence[Wanted], now: datetime
) -> list[FrequencyCap | None]:
    """SQLite: its transactions take the write lock as they begin (db/sqlite_writers.py), so the
    recipients need no lock of their own."""
    statements = _Statements.of("sqlite")
    read = _held_parameters(wanted, now)
    async with database.transaction() as session:
        answers, taking = _decide(wanted, await session.execute(statements.held, read), now)
        if taking:
            await session.execute(statements.take, {"notifications": taking, "now": now})
    return answers


async def _take_pipelined(
    database: Database, wanted: Sequence[Wanted], now: datetime
) -> list[FrequencyCap | None]:
    """PostgreSQL, in psycopg's pipeline mode: BEGIN, the lock and the read go in one round trip,
    the UPDATE and COMMIT in another as the pipeline ends — five one at a time before (G3c in
    docs/benchmarks.md). BEGIN is a statement of ours, on a connection that starts no
    transaction by itself: psycopg waits for its own BEGIN in a pipeline (and its
    `transaction()` syncs at its start and at its end). The server still runs the statements in
    order, each with its own snapshot, so the read sees what the holders of the locks it waited
    for committed. On an error the pool's reset rolls the transaction back."""
    sql = _as_text(database.engine.dialect)
    read = _held_parameters(wanted, now)
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        raw = (await connection.get_raw_connection()).driver_connection
        async with raw.pipeline(), raw.cursor() as locking, raw.cursor() as reading:
            await locking.execute("BEGIN")
            await locking.execute(sql.lock, read)  # it names the recipients only
            await reading.execute(sql.held, read)
            answers, taking = _decide(wanted, await reading.fetchall(), now)
            if taking:
                await locking.execute(sql.take, {"notifications": taking, "now": now})
            await locking.execute("COMMIT")
    return answers


@dataclass(frozen=True)
class _Texts:
    """The statements `_take_pipelined` sends, as psycopg takes them: `%(name)s` parameters."""

    lock: str
    held: str
    take: str


_texts: dict[str, _Texts] = {}


def _as_text(dialect: Dialect) -> _Texts:
    if dialect.name not in _texts:
        statements = _Statements.of(dialect.name)
        # FOR NO KEY UPDATE: excludes another slot-taker, but not a transaction inserting a row
        # that refers to these recipients (a new notification, a campaign batch), which FOR
        # UPDATE would. In id order, so that two parcels sharing recipients lock them alike.
        lock = (
            select(Recipient.id)
            .where(among_param(dialect.name, Recipient.id, "recipients"))
            .order_by(Recipient.id)
            .with_for_update(key_share=True)
        )
        compiled = (lock, statements.held, statements.take)
        _texts[dialect.name] = _Texts(*(str(statement.compile(dialect=dialect)) for statement in compiled))
    return _texts[dialect.name]


def _held_parameters(wanted: Sequence[Wanted], now: datetime) -> dict[str, Any]:
    """The read's (`held`) parameters; the lock takes its recipients, in their id order."""
    parameters = _read_parameters({each.pair for each in wanted}, now)
    parameters["notifications"] = [each.notification_id for each in wanted]
    return parameters


def _read_parameters(pairs: Collection[Pair], now: datetime) -> dict[str, Any]:
    return {
        "recipients": sorted({recipient for recipient, _ in pairs}),
        "categories": list({category for _, category in pairs}),
        "since": now - LONGEST_WINDOW,
    }


def _tally(
    rows: Iterable[Sequence[Any]],
    wanted: Collection[Pair],
    notifications: Collection[uuid.UUID],
    now: datetime,
) -> tuple[Slots, set[uuid.UUID]]:
    """When each wanted pair's slots were taken over the longest window, and which of
    `notifications` hold a slot already (however long ago)."""
    since = now - LONGEST_WINDOW
    slots: Slots = defaultdict(list)
    holders: set[uuid.UUID] = set()
    for recipient_id, category, at, *held in rows:
        if held and held[0] in notifications:
            holders.add(held[0])
        # A holder's slot from before the window is read by its id; it counts against no cap.
        if at >= since and (recipient_id, category) in wanted:
            slots[recipient_id, category].append(at)
    return slots, holders


def _decide(
    wanted: Sequence[Wanted], rows: Iterable[Sequence[Any]], now: datetime
) -> tuple[list[FrequencyCap | None], list[uuid.UUID]]:
    """For each wanted slot in order, the cap reached or None; and the notifications taking one."""
    slots, holding = _tally(
        rows, {each.pair for each in wanted}, {each.notification_id for each in wanted}, now
    )
    answers: list[FrequencyCap | None] = []
    taking: list[uuid.UUID] = []
    for each in wanted:
        if each.notification_id in holding:  # taken already: another channel's, or a retry's
            answers.append(None)
            continue
        reached = cap_reached(each.caps, slots[each.pair], now, each.zone)
        if reached is None:
            slots[each.pair].append(now)  # counted against the recipient's next in this parcel
            holding.add(each.notification_id)
            taking.append(each.notification_id)
        answers.append(reached)
    return answers, taking
