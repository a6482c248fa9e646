"""The operator's session: Litestar's encrypted cookie (AES-GCM), built at the first request.

Litestar's cookie backend imports cryptography for its cipher: 7 MB resident for the life of the
process (docs/benchmarks.md, G6). A scaled API replica may never serve a page, so each route's
session middleware is made when that route is first asked for, and cryptography loads then.
The cookie itself is the same as before: what a browser holds stays valid.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.middleware import DefineMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "clarion_session"
SESSION_MAX_AGE_S = 12 * 60 * 60  # a working day; every request slides it forward


@dataclass(frozen=True)
class SessionCookie:
    secret: bytes  # 32 bytes: AES-256-GCM
    path: str
    secure: bool


def cookie_sessions(cookie: SessionCookie) -> DefineMiddleware:
    """Router middleware keeping the session in `cookie`."""
    return DefineMiddleware(_OnFirstRequest, cookie=cookie)


class _OnFirstRequest:
    def __init__(self, app: ASGIApp, cookie: SessionCookie) -> None:
        self._app = app
        self._cookie = cookie
        self._sessions: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._sessions is None:  # two first requests at once both build one: either will do
            self._sessions = _encrypted_cookie_sessions(self._app, self._cookie)
        await self._sessions(scope, receive, send)


def _encrypted_cookie_sessions(app: ASGIApp, cookie: SessionCookie) -> ASGIApp:
    from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig

    config = CookieBackendConfig(
        secret=cookie.secret,
        key=SESSION_COOKIE,
        path=cookie.path,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="lax",
        secure=cookie.secure,
    )
    # Not `config.middleware`: Litestar deep-copies routers and the AES-GCM cipher that
    # middleware holds cannot be copied (litestar-org/litestar#4046), so one per route.
    return SessionMiddleware(app=app, backend=ClientSideSessionBackend(config=config))
