"""The "Inbox" page: the bell widget, live, for a recipient the operator picks, and how to embed it.

The page signs the recipient's token itself (the operator is signed in and may see any inbox),
exactly as the operator's own backend would, and never shows the secret that signs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from litestar import Request, get
from litestar.params import Parameter
from litestar.response import Template

from ..services import ServicesDep
from .guidance import in_app_pair, send_command
from .pages import layout, page
from .views import Layout

AnyRequest = Request[Any, Any, Any]
RecipientField = Annotated[str, Parameter(max_length=255, pattern=r"^[^\s/]*$")]
WIDGET_PATH = "/widget/bell.js"


@dataclass(frozen=True)
class LiveBell:
    recipient: str
    token: str
    send: str | None  # a curl command that sends this recipient an in-app message


@dataclass(frozen=True)
class InboxPage:
    layout: Layout
    configured: bool  # the config has an `inbox` section
    recipient: str
    bell: LiveBell | None
    widget_url: str
    embed: str  # the script tag for the operator's own pages


@get("/inbox", name="ui:inbox")
async def inbox_page(request: AnyRequest, services: ServicesDep, recipient: RecipientField = "") -> Template:
    catalog = services.catalog
    widget_url = catalog.config.server.public_url.rstrip("/") + WIDGET_PATH
    bell = None
    if recipient and catalog.inbox_tokens is not None:
        pair = in_app_pair(catalog)
        to = {"id": recipient, "email": f"{recipient}@example.com"}
        send = send_command(catalog, *pair, to) if pair else None
        bell = LiveBell(recipient=recipient, token=catalog.inbox_tokens.sign(recipient), send=send)
    view = InboxPage(
        layout=layout(request, services, "inbox"),
        configured=catalog.inbox_tokens is not None,
        recipient=recipient,
        bell=bell,
        widget_url=widget_url,
        embed=_embed(widget_url),
    )
    return page("inbox.html", view)


def _embed(widget_url: str) -> str:
    return (
        f'<script src="{widget_url}" defer\n'
        '        data-recipient="<the signed-in user\'s id>"\n'
        '        data-token="<hex HMAC-SHA256 of that id with inbox.secret>"></script>'
    )


INBOX_PAGES = [inbox_page]
