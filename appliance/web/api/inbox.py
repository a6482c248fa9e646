"""/v1/inbox/{recipient_id}: a recipient's own inbox, for the app it signs in to.

Authenticated by the recipient token (see `inbox_access`), not by an API key: the browser of
the recipient calls these directly. Each change rings the feed, so the recipient's other open
streams (another tab, a phone) update their counts at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from litestar import Controller, get, patch, post
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, Parameter
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage
from sqlalchemy.ext.asyncio import AsyncSession

from ...db.models import MAX_ROW_ID, InboxMessage
from ...db.types import utcnow
from ...errors import InvalidRequest, NotFound
from ...inbox import store
from ...inbox.stream import Arrived, Event, Idle, Recounted, follow
from ..services import Services, ServicesDep
from .inbox_access import RECIPIENT, require_recipient_token
from .schemas import InboxCountsOut, InboxMessageOut, InboxPageOut

RecipientId = Annotated[str, Parameter(max_length=255)]
EventId = Annotated[int, Parameter(ge=0, le=MAX_ROW_ID)]
MarkAll = Callable[[AsyncSession, str, datetime], Awaitable[object]]

#: How often an idle stream says it is alive (and looks at the inbox, should a ring be lost).
HEARTBEAT = timedelta(seconds=15)
#: How soon EventSource reconnects after the connection dropped.
RECONNECT_MS = 2000


class ChangeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Give any of them; reading a message also marks it seen."""

    read: bool | None = None
    seen: bool | None = None
    archived: bool | None = None


class InboxController(Controller):
    path = f"/v1/inbox/{{{RECIPIENT}:str}}"
    tags = ["inbox"]
    guards = [require_recipient_token]
    security = [{"RecipientToken": []}]

    @get("/messages", summary="A page of the inbox, newest first")
    async def list_(
        self,
        services: ServicesDep,
        recipient_id: FromPath[RecipientId],
        box: FromQuery[store.Box] = store.Box.INBOX,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        before: Annotated[
            int | None, Parameter(ge=1, le=MAX_ROW_ID, description="page: only messages with a smaller id")
        ] = None,
    ) -> InboxPageOut:
        now = utcnow()
        async with services.database.sessions() as session:
            rows = await store.page(session, recipient_id, box, before=before, limit=limit + 1, now=now)
            counts = await store.counts(session, recipient_id, now)
        more = len(rows) > limit
        return InboxPageOut(
            messages=[message_out(row) for row in rows[:limit]],
            counts=counts_out(counts),
            next=rows[limit - 1].id if more else None,
        )

    @get("/counts", summary="How many messages are unread and unseen")
    async def counts(self, services: ServicesDep, recipient_id: FromPath[RecipientId]) -> InboxCountsOut:
        async with services.database.sessions() as session:
            return counts_out(await store.counts(session, recipient_id, utcnow()))

    @patch("/messages/{message_id:int}", summary="Mark one message read, unread, seen or archived")
    async def change(
        self,
        services: ServicesDep,
        recipient_id: FromPath[RecipientId],
        message_id: FromPath[EventId],
        data: JSONBody[ChangeIn],
    ) -> InboxMessageOut:
        if data.read is None and data.seen is None and data.archived is None:
            raise InvalidRequest("body", "give at least one of `read`, `seen` or `archived`")
        changes = store.Changes(read=data.read, seen=data.seen, archived=data.archived)
        async with services.database.transaction() as session:
            row = await store.change(session, recipient_id, message_id, changes, utcnow())
            if row is None:
                raise NotFound("inbox message", str(message_id))
        await services.feed.ring(recipient_id)
        return message_out(row)

    @post("/read-all", status_code=200, summary="Mark every unread message read")
    async def read_all(self, services: ServicesDep, recipient_id: FromPath[RecipientId]) -> InboxCountsOut:
        return await _mark_all(services, recipient_id, store.read_all)

    @post("/seen-all", status_code=200, summary="Mark every message seen (the list was opened)")
    async def seen_all(self, services: ServicesDep, recipient_id: FromPath[RecipientId]) -> InboxCountsOut:
        return await _mark_all(services, recipient_id, store.see_all)

    @get(
        "/stream",
        summary="Server-Sent Events: new messages and counts, as they happen",
        description="Events: `message` (an inbox message; its `id` is the SSE event id) and `counts`. "
        "On reconnect, EventSource sends `Last-Event-ID` and every message after it is replayed; "
        "on a first connect, `after` (the newest id you listed) does the same.",
    )
    async def stream(
        self,
        services: ServicesDep,
        recipient_id: FromPath[RecipientId],
        last_event_id: Annotated[EventId | None, HeaderParameter(name="Last-Event-ID")] = None,
        after: Annotated[EventId | None, Parameter(description="replay messages with a larger id")] = None,
    ) -> ServerSentEvent:
        events = follow(
            services.database,
            services.feed,
            recipient_id,
            after=last_event_id if last_event_id is not None else after,
            heartbeat=HEARTBEAT,
            clock=utcnow,
        )
        return ServerSentEvent(
            _encoded(events),
            retry_duration=RECONNECT_MS,
            # Proxies must pass each event on at once rather than buffer the response.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


async def _encoded(events: AsyncIterator[Event]) -> AsyncIterator[ServerSentEventMessage]:
    async for event in events:
        match event:
            case Arrived(message):
                data = msgspec.json.encode(message_out(message))
                yield ServerSentEventMessage(data=data, event="message", id=message.id)
            case Recounted(counts):
                yield ServerSentEventMessage(data=msgspec.json.encode(counts_out(counts)), event="counts")
            case Idle():
                yield ServerSentEventMessage(data=None, comment="still here")


async def _mark_all(services: Services, recipient_id: str, mark: MarkAll) -> InboxCountsOut:
    now = utcnow()
    async with services.database.transaction() as session:
        await mark(session, recipient_id, now)
        counts = await store.counts(session, recipient_id, now)
    await services.feed.ring(recipient_id)
    return counts_out(counts)


def message_out(row: InboxMessage) -> InboxMessageOut:
    return InboxMessageOut(
        id=row.id,
        category=row.category,
        title=row.title,
        body=row.body,
        action_url=row.action_url,
        created_at=row.created_at,
        expires_at=row.expires_at,
        seen=row.seen_at is not None,
        read=row.read_at is not None,
        archived=row.archived_at is not None,
    )


def counts_out(counts: store.Counts) -> InboxCountsOut:
    return InboxCountsOut(unread=counts.unread, unseen=counts.unseen)
