"""The open pixel and the click redirect, which recipients reach from inside their email.

Both answer at once and the same way whoever asks: the pixel is always the transparent GIF (a
broken token just records nothing), and a click goes only where the signed token says. A token
that was altered gets the friendly "this link does not work" page, never a redirect.
"""

from __future__ import annotations

import base64
from typing import Any

from litestar import Request, Response, route
from litestar.enums import HttpMethod
from litestar.params import FromPath
from litestar.response import Redirect, Template

from ...db.types import utcnow
from ...tracking.record import CLICKED, OPENED, record
from ...tracking.tokens import CLICK_PATH, OPEN_PATH, TamperedToken
from ..services import ServicesDep
from .errors import browser_locale
from .responses import page
from .views import notice_page

AnyRequest = Request[Any, Any, Any]
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
# Mail clients and proxies cache images: each open should reach us, and nothing here is private.
_NO_CACHE = {"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"}


@route(f"{OPEN_PATH}/{{token:str}}", http_method=[HttpMethod.GET, HttpMethod.HEAD], name="track:open")
async def opened(request: AnyRequest, services: ServicesDep, token: FromPath[str]) -> Response[bytes]:
    try:
        delivery_id = services.catalog.tracking.read_open(token)
    except TamperedToken:
        pass
    else:
        await record(services.database, delivery_id, OPENED, **_who(request), now=utcnow())
    return Response(GIF, media_type="image/gif", headers=_NO_CACHE)


@route(f"{CLICK_PATH}/{{token:str}}", http_method=[HttpMethod.GET, HttpMethod.HEAD], name="track:click")
async def clicked(request: AnyRequest, services: ServicesDep, token: FromPath[str]) -> Redirect | Template:
    try:
        click = services.catalog.tracking.read_click(token)
    except TamperedToken:
        view = notice_page(services.catalog.config, browser_locale(request), "invalid_title", "invalid_body")
        return page("notice.html", view, status_code=404)
    await record(services.database, click.delivery_id, CLICKED, **_who(request), now=utcnow())
    return Redirect(click.url, status_code=302, headers=_NO_CACHE)


def _who(request: AnyRequest) -> dict[str, str | None]:
    return {"user_agent": request.headers.get("user-agent"), "method": request.method}


TRACKING = [opened, clicked]
