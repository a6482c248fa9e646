"""The operator's pages: providers (health and circuits) and dead letters (retry or discard).

A retry or discard is a POST that redirects back to the list (303) with what it did, so a
reload never repeats it; a viewer sees the list without the buttons and is refused the POST.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery, Parameter
from litestar.response import Redirect, Template

from ...analytics.providers import provider_health
from ...db.types import utcnow
from ...errors import NotFound, RequestRejected
from ...pipeline.dead_letters import discard_dead_letter, list_dead_letters, retry_dead_letter
from ..services import ServicesDep
from .auth import may_change, require_change
from .operation_views import DeadLettersPage, ProvidersPage, dead_letter_row, provider_card
from .pages import layout, page

AnyRequest = Request[Any, Any, Any]
PAGE_SIZE = 50
_DONE = {
    "retried": "Sent again: it is queued with a fresh set of tries.",
    "discarded": "Discarded: it is failed for good.",
}


@get("/providers", name="ui:providers")
async def providers_page(request: AnyRequest, services: ServicesDep) -> Template:
    config = services.catalog.config
    reports = await provider_health(services.database, services.circuits, config, now=utcnow())
    view = ProvidersPage(layout(request, services, "providers"), [provider_card(r) for r in reports])
    return page("providers.html", view)


@get("/dead-letters", name="ui:dead-letters")
async def dead_letters_page(
    request: AnyRequest,
    services: ServicesDep,
    before: FromQuery[datetime | None] = None,
    done: Annotated[str, Parameter(max_length=16)] = "",
) -> Template:
    letters = await list_dead_letters(services.database, limit=PAGE_SIZE + 1, before=before)
    older = letters[PAGE_SIZE - 1] if len(letters) > PAGE_SIZE else None
    view = DeadLettersPage(
        layout=layout(request, services, "dead-letters"),
        rows=[dead_letter_row(letter) for letter in letters[:PAGE_SIZE]],
        may_change=may_change(request),
        older_url=f"/ui/dead-letters?before={older.dead_since.isoformat()}" if older else None,
        newest_url="/ui/dead-letters" if before is not None else None,
        done=_DONE.get(done, ""),
    )
    return page("dead_letters.html", view)


@post("/dead-letters/{delivery_id:uuid}/retry", name="ui:dead-letter-retry")
async def dead_letter_retry(
    request: AnyRequest, services: ServicesDep, delivery_id: FromPath[uuid.UUID]
) -> Redirect:
    require_change(request, "dead letters")
    lease = services.catalog.config.delivery.queue_lease
    retry = retry_dead_letter(
        services.database, services.dispatcher, delivery_id, now=utcnow(), queue_lease=lease
    )
    return await _back_to_list(retry, "retried")


@post("/dead-letters/{delivery_id:uuid}/discard", name="ui:dead-letter-discard")
async def dead_letter_discard(
    request: AnyRequest, services: ServicesDep, delivery_id: FromPath[uuid.UUID]
) -> Redirect:
    operator = require_change(request, "dead letters")
    discard = discard_dead_letter(services.database, delivery_id, by=f"ui:{operator.username}", now=utcnow())
    return await _back_to_list(discard, "discarded")


async def _back_to_list(action: Awaitable[None], done: str) -> Redirect:
    try:
        await action
    except (NotFound, RequestRejected):  # a second click, or another operator was first
        done = "gone"
    return Redirect(f"/ui/dead-letters?done={done}", status_code=303)


OPERATION_PAGES = [providers_page, dead_letters_page, dead_letter_retry, dead_letter_discard]
