"""Group commit: submissions that arrive together share one store transaction and one dispatch.

A single notification costs the database nearly what a batch of hundreds does (a transaction,
a statement per table): the requests that come in while a transaction runs go together in the
next one, and their deliveries travel in shared parcels. A request that finds a lane free goes
at once: there is no timer, so nothing waits when the API is idle.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import update

from ..catalog import Catalog
from ..db.engine import Database
from ..db.models import Delivery
from ..db.types import utcnow
from .dispatch import Dispatcher
from .intake import Accepted
from .store import Dispatch, Occasion, Stored, StoreResult, store

#: Transactions in flight at once; what arrives while all run waits and goes together in the next.
#: Four, not two: while one transaction waits on the database another is built, and batch
#: requests that arrive apart need not queue behind each other (G2 12.7k -> 13.6k/s, measured).
LANES = 4
#: Items per transaction at most: a batch request's worth.
MOST = 1000


@dataclass
class _Call:
    items: Sequence[Accepted]
    source: str
    answer: asyncio.Future[list[StoreResult]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    def __init__(self, database: Database, dispatcher: Dispatcher, catalog: Catalog) -> None:
        self.database = database
        self.dispatcher = dispatcher
        self.catalog = catalog
        self._waiting: list[_Call] = []
        self._lanes: set[asyncio.Task[None]] = set()

    async def store(self, items: Sequence[Accepted], source: str) -> list[StoreResult]:
        """Store `items` (one result each, in order) and enqueue those due now, once committed."""
        call = _Call(items, source)
        self._waiting.append(call)
        if len(self._lanes) < LANES:
            self._lanes.add(asyncio.create_task(self._drain()))
        return await call.answer

    async def _drain(self) -> None:
        try:
            while self._waiting:
                group = self._take()
                try:
                    results = await self._commit(group)
                except Exception as exc:  # each caller answers for itself (a 503, a logged error)
                    results = [exc] * len(group)
                for call, answer in zip(group, results, strict=True):
                    if call.answer.done():  # its request was cancelled meanwhile
                        continue
                    if isinstance(answer, Exception):
                        call.answer.set_exception(answer)
                    else:
                        call.answer.set_result(answer)
        finally:
            # Leaves the set with no await since the queue was last seen empty: a call that
            # arrives from now on starts a lane of its own instead of waiting on this one.
            self._lanes.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _take(self) -> list[_Call]:
        """The oldest waiting calls of one source, up to MOST items (and at least one call)."""
        source, taken, count = self._waiting[0].source, [], 0
        for call in list(self._waiting):
            if call.source != source or (taken and count + len(call.items) > MOST):
                continue
            taken.append(call)
            count += len(call.items)
            self._waiting.remove(call)
        return taken

    async def _commit(self, group: list[_Call]) -> list[list[StoreResult]]:
        config = self.catalog.config
        occasion = Occasion(
            source=group[0].source,
            now=utcnow(),
            queue_lease=config.delivery.queue_lease,
            policy=config.policy,
        )
        stored = await store(self.database, [item for call in group for item in call.items], occasion)
        now_due = [r for r in stored if isinstance(r, Stored) and r.send_at is None]
        refused = self.dispatcher.dispatch(dispatch for r in now_due for dispatch in r.dispatches)
        if refused:
            await _expire_leases(self.database, refused)
        answers, start = [], 0
        for call in group:
            answers.append(stored[start : start + len(call.items)])
            start += len(call.items)
        return answers


async def _expire_leases(database: Database, refused: list[Dispatch]) -> None:
    """Let the sweeper take what the broker refused on its next round, not after a full lease."""
    async with database.transaction() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([item.delivery_id for item in refused]))
            .values(lease_expires_at=utcnow())
        )
