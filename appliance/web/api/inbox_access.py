"""The recipient-token guard of the end-user inbox API.

The token is `hex(HMAC-SHA256(inbox.secret, recipient id))`, made by the operator's backend,
sent as `Authorization: Bearer <token>`, or as `?token=` by EventSource (which cannot set
headers). It must be signed for the recipient in the path: one user cannot read another's inbox.
"""

from __future__ import annotations

from typing import Any

from litestar.config.cors import CORSConfig
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.handlers import BaseRouteHandler

from ...catalog import Catalog

RECIPIENT = "recipient_id"  # the path parameter naming whose inbox it is


def require_recipient_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    tokens = connection.app.state.services.catalog.inbox_tokens
    if tokens is None:
        raise NotFoundException("this server has no inbox; add `inbox: {secret: ...}` to its config")
    token = _presented(connection)
    if not token:
        raise NotAuthorizedException(
            "send `Authorization: Bearer <recipient token>` (or `?token=` on the stream); "
            "your backend makes it as hex(HMAC-SHA256(inbox secret, recipient id))"
        )
    if not tokens.signed_for(str(connection.path_params[RECIPIENT]), token):
        raise NotAuthorizedException("this token is not signed for this recipient")


def _presented(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return str(connection.query_params.get("token") or "")


def cross_origin(catalog: Catalog) -> CORSConfig | None:
    """CORS for `inbox.allowed_origins`, so the bell works on the operator's own sites.

    Litestar sets CORS for the whole app only. That is safe here: credentials are never allowed,
    so a page of an allowed site sends no cookie of ours (the UI's session stays out of reach) and
    can ask only for what a token it holds opens anyway.
    """
    inbox = catalog.config.inbox
    if inbox is None or not inbox.allowed_origins:
        return None
    return CORSConfig(
        allow_origins=list(inbox.allowed_origins),
        allow_methods=["GET", "POST", "PATCH"],
        allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        allow_credentials=False,
        max_age=600,
    )
