"""The recipient pages: a search over profiles, and one recipient with everything Clarion holds on them.

Read only: profiles change through the API, imports and the recipient's own preference center,
so that every change to consent is made by the recipient or the system that speaks for them.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter
from litestar.response import Template

from ..services import ServicesDep
from .pages import layout, page
from .queries import PAGE_SIZE, Cursor
from .recipient_queries import recipient_facts, search_recipients
from .recipient_views import recipient_page, recipients_page

AnyRequest = Request[Any, Any, Any]
Text = Annotated[str, Parameter(max_length=255)]


@get("/recipients", name="ui:recipients")
async def recipients(request: AnyRequest, services: ServicesDep, q: Text = "", before: Text = "") -> Template:
    text, cursor = q.strip(), Cursor.decode(before)
    rows = await search_recipients(services.database, text, before=cursor, limit=PAGE_SIZE + 1)
    view = recipients_page(
        layout(request, services, "recipients"), text, rows, page_size=PAGE_SIZE, before=cursor
    )
    return page("recipients.html", view)


@get("/recipients/{external_id:str}", name="ui:recipient")
async def recipient_detail(
    request: AnyRequest, services: ServicesDep, external_id: FromPath[str]
) -> Template:
    facts = await recipient_facts(services.database, external_id)
    if facts is None:
        raise NotFoundException(f"There is no recipient {external_id!r}.")
    view = recipient_page(layout(request, services, "recipients"), services.catalog.config, facts)
    return page("recipient.html", view)


RECIPIENT_PAGES = [recipients, recipient_detail]
