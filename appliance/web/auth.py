"""Bearer API keys for the REST API."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler

from ..security.apikeys import identify


async def require_api_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: the Authorization header must carry a configured key; its name becomes the caller.

    Async though it never waits: Litestar runs a sync guard in a thread, a hop that cost ~8 % of
    the API's CPU per request in the G1 profile (docs/benchmarks.md); a digest compare is cheap."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise NotAuthorizedException(
            "send `Authorization: Bearer <api key>`; keys are listed under `api_keys`"
        )
    services = connection.app.state.services
    name = identify(token.strip(), services.catalog.api_key_digests)
    if name is None:
        raise NotAuthorizedException("unknown API key")
    connection.state.caller = name
