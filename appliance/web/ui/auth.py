"""Operator sign-in: users from the YAML, an encrypted session cookie, CSRF, and the page guard.

Both cookies are scoped to `/ui`, so the bearer-token API and the probes never see them and
never need a CSRF token.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware

from ...catalog import Catalog
from ...config.schema import UserConfig
from ...security.passwords import hash_password, verify_password
from .sessions import SessionCookie, cookie_sessions

UI_PATH = "/ui"
CSRF_COOKIE = "clarion_csrf"
PUBLIC = "public"  # route opt: reachable without signing in
DEFAULT_NEXT = f"{UI_PATH}/dashboard"


#: Roles that may change things (send, import, launch); a viewer only looks.
CHANGING_ROLES = frozenset({"admin", "marketer"})


@dataclass(frozen=True)
class Operator:
    username: str
    role: str

    @property
    def may_change(self) -> bool:
        return self.role in CHANGING_ROLES


class RoleForbids(HTTPException):
    """A signed-in operator whose role may look but not change (a viewer)."""

    status_code = 403


def may_change(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    operator: Operator | None = getattr(connection.state, "operator", None)
    return operator is not None and operator.may_change


def require_change(connection: ASGIConnection[Any, Any, Any, Any], what: str) -> Operator:
    """The operator, when their role may change things; RoleForbids naming `what` otherwise."""
    operator: Operator | None = getattr(connection.state, "operator", None)
    if operator is None or not operator.may_change:
        raise RoleForbids(f"Your role can look at {what} but not change them; ask an admin or a marketer.")
    return operator


def derive_key(secret_key: str, purpose: str) -> bytes:
    """32 bytes for one purpose, so the session key and the CSRF secret are never the same value.

    HKDF-SHA256 (RFC 5869) without salt, by the standard library: cryptography would load with it
    (sessions.py says why not). 32 bytes are one block of the hash, so expanding is one HMAC.
    """
    pseudorandom = hmac.digest(bytes(32), secret_key.encode(), "sha256")
    return hmac.digest(pseudorandom, f"clarion/ui/{purpose}".encode() + b"\x01", "sha256")


def _https(catalog: Catalog) -> bool:
    return catalog.config.server.public_url.lower().startswith("https://")


def session_cookie(catalog: Catalog) -> SessionCookie:
    return SessionCookie(
        secret=derive_key(catalog.config.server.secret_key.get_secret_value(), "session"),
        path=UI_PATH,
        secure=_https(catalog),
    )


def csrf_config(catalog: Catalog) -> CSRFConfig:
    # Forms carry the token in a hidden field, so the cookie can stay out of reach of scripts.
    return CSRFConfig(
        secret=derive_key(catalog.config.server.secret_key.get_secret_value(), "csrf").hex(),
        cookie_name=CSRF_COOKIE,
        cookie_path=UI_PATH,
        cookie_httponly=True,
        cookie_samesite="lax",
        cookie_secure=_https(catalog),
    )


def ui_middleware(catalog: Catalog) -> list[DefineMiddleware]:
    """Encrypted cookie sessions and CSRF checks, for the `/ui` router only."""
    return [
        cookie_sessions(session_cookie(catalog)),
        DefineMiddleware(CSRFMiddleware, config=csrf_config(catalog)),
    ]


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(24))


def check_credentials(users: Sequence[UserConfig], username: str, password: str) -> Operator | None:
    """The operator these credentials belong to, or None. Blocking: argon2 is meant to be slow.

    An unknown username is verified against a decoy hash, so the time taken does not tell
    which usernames exist.
    """
    wanted = username.encode()
    user = None
    for candidate in users:
        if secrets.compare_digest(candidate.username.encode(), wanted):
            user = candidate
    password_hash = user.password_hash.get_secret_value() if user else _decoy_hash()
    matches = verify_password(password_hash, password)
    return Operator(user.username, user.role) if user is not None and matches else None


def signed_in(connection: ASGIConnection[Any, Any, Any, Any], catalog: Catalog) -> Operator | None:
    """The operator of this session, if they are still listed in the config."""
    session = connection.scope.get("session")
    username = session.get("operator") if isinstance(session, dict) else None
    for user in catalog.config.users:
        if user.username == username:
            return Operator(user.username, user.role)
    return None


def operator_guard(
    catalog: Catalog,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    def require_operator(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
        operator = signed_in(connection, catalog)
        connection.state.operator = operator
        if operator is None and not handler.opt.get(PUBLIC):
            raise NotAuthorizedException("sign in to see this page")

    return require_operator


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path inside the UI, never another site."""
    if not target or "\\" in target or target.startswith("//"):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    inside = parts.path == UI_PATH or parts.path.startswith(f"{UI_PATH}/")
    if parts.scheme or parts.netloc or not inside or parts.path.startswith(f"{UI_PATH}/login"):
        return DEFAULT_NEXT
    return target
