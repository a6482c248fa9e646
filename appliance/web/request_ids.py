"""Every response carries an X-Request-ID, and every log line of its request the same id.

The id is the caller's when it sent a sane one (a load balancer's or a client's trace id),
so one id can be followed across systems; otherwise a new one. The header is added by a
`before_send` hook because Litestar runs middleware only for matched routes, and a 404
deserves an id too.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from ..observability.context import bound

HEADER = "x-request-id"
# Short and plain, so a caller cannot smuggle log injection or huge values through it.
_SANE = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_STATE_KEY = "request_id"

access_log = logging.getLogger("appliance.web.access")


def request_id_of(scope: Scope) -> str:
    """This request's id: chosen once, then remembered in the scope."""
    state: dict[str, Any] = scope.setdefault("state", {})
    if _STATE_KEY not in state:
        incoming = dict(scope.get("headers", ())).get(HEADER.encode(), b"").decode("latin-1")
        state[_STATE_KEY] = incoming if _SANE.fullmatch(incoming) else uuid.uuid4().hex
    return str(state[_STATE_KEY])


async def stamp_request_id(message: Message, scope: Scope) -> None:
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[HEADER] = request_id_of(scope)


def request_context(app: ASGIApp) -> ASGIApp:
    """Binds the request id for everything the handler logs, and logs one line per request.

    That line is DEBUG: at INFO, a busy API would drown every other line.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status = 500  # what the client gets if the handler never starts a response

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        began = time.perf_counter()
        with bound(request_id=request_id_of(scope)):
            try:
                await app(scope, receive, recording_send)
            finally:
                # The route's template, not the path: paths hold recipient and notification ids.
                access_log.debug(
                    "%s %s -> %d in %.1f ms",
                    scope["method"],
                    scope.get("path_template", "?"),
                    status,
                    (time.perf_counter() - began) * 1000,
                )

    return middleware
