"""What a recipient's real-time stream sends, in order, for as long as it is open.

First everything after the message the client last saw (its Last-Event-ID), by id, so a
reconnect misses nothing; then the counts; then, each time the doorbell rings (or every
`heartbeat`, in case a ring was lost), whatever is new and the counts if they changed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..db.engine import Database
from ..db.models import InboxMessage
from . import store
from .feed import Feed

#: Messages read per query while catching up.
BATCH = 100


@dataclass(frozen=True)
class Arrived:
    message: InboxMessage


@dataclass(frozen=True)
class Recounted:
    counts: store.Counts


@dataclass(frozen=True)
class Idle:
    """Nothing happened for a heartbeat: say so, so proxies keep the connection open."""


Event = Arrived | Recounted | Idle


async def follow(
    database: Database,
    feed: Feed,
    recipient_id: str,
    *,
    after: int | None,
    heartbeat: timedelta,
    clock: Callable[[], datetime],
) -> AsyncIterator[Event]:
    """`after`: the id of the last message the client has; None sends only what comes from now on."""
    with feed.listen(recipient_id) as bell:  # before the first look, so nothing slips between
        last = after if after is not None else await _newest(database, recipient_id)
        counted: store.Counts | None = None
        while True:
            batch, counts = await _look(database, recipient_id, last, clock())
            for message in batch:
                yield Arrived(message)
                last = message.id
            if len(batch) == BATCH:
                continue  # more to catch up on before the counts mean anything
            if counts != counted:
                yield Recounted(counts)
                counted = counts
            if not await bell.wait(heartbeat):
                yield Idle()


async def _newest(database: Database, recipient_id: str) -> int:
    async with database.sessions() as session:
        return await store.newest_id(session, recipient_id)


async def _look(
    database: Database, recipient_id: str, after: int, now: datetime
) -> tuple[list[InboxMessage], store.Counts]:
    async with database.sessions() as session:
        batch = await store.since(session, recipient_id, after, limit=BATCH, now=now)
        return batch, await store.counts(session, recipient_id, now)
