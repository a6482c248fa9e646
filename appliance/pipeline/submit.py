"""Submit: the whole front half of the pipeline for a list of requests.

intake (each on its own) -> store (one transaction for all) -> dispatch (after commit).
Used by the single and batch API alike, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import update

from ..catalog import Catalog
from ..db.engine import Database
from ..db.models import Delivery
from ..db.types import utcnow
from ..errors import RequestRejected
from .dispatch import Dispatcher
from .intake import Accepted, accept
from .requests import NotificationIn
from .store import Dispatch, Occasion, Stored, store


@dataclass(frozen=True)
class Submission:
    request: NotificationIn
    idempotency_key: str | None = None
    variant: str | None = None  # render this A/B variant (a test send); otherwise the template as written


async def submit(
    submissions: Sequence[Submission | RequestRejected],
    *,
    catalog: Catalog,
    database: Database,
    dispatcher: Dispatcher,
    caller: str,
    source: str | None = None,
) -> list[Stored | RequestRejected]:
    """Answer every submission in order; already-rejected items pass through untouched.

    `source` is what the notification records as its sender: `api:<caller>` unless given.
    """
    results: list[Stored | RequestRejected | None] = []
    accepted: list[Accepted] = []
    for item in submissions:
        if isinstance(item, RequestRejected):
            results.append(item)
            continue
        try:
            request = accept(item.request, catalog, caller=caller, idempotency_key=item.idempotency_key)
            accepted.append(replace(request, variant=item.variant) if item.variant else request)
            results.append(None)
        except RequestRejected as exc:
            results.append(exc)
    now = utcnow()
    stored = iter(
        await store(
            database,
            accepted,
            Occasion(
                source=source or f"api:{caller}",
                now=now,
                queue_lease=catalog.config.delivery.queue_lease,
                policy=catalog.config.policy,
            ),
        )
        if accepted
        else []
    )
    answered = [result if result is not None else next(stored) for result in results]
    now_due = [result for result in answered if isinstance(result, Stored) and result.send_at is None]
    await _dispatch(now_due, database, dispatcher)
    return answered


async def _dispatch(stored: list[Stored], database: Database, dispatcher: Dispatcher) -> None:
    refused = dispatcher.dispatch(dispatch for item in stored for dispatch in item.dispatches)
    if refused:
        await _expire_leases(database, refused)


async def _expire_leases(database: Database, refused: list[Dispatch]) -> None:
    """Let the sweeper take what the broker refused on its next round, not after a full lease."""
    async with database.transaction() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id.in_([item.delivery_id for item in refused]))
            .values(lease_expires_at=utcnow())
        )
