"""GET /metrics: Prometheus' text format, with the broker's queue depths read at scrape time.

It needs no API key (Prometheus has none) and holds nothing secret; an installation that
wants it closed sets CLARION_METRICS_TOKEN and gives Prometheus that bearer token.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from typing import Any

from litestar import Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers import BaseRouteHandler
from prometheus_client import CONTENT_TYPE_LATEST

from ...observability.metrics import QueueDepths, exposition
from ...queueing.broker import queue_depth
from ..services import ServicesDep

_MEDIA_TYPE = CONTENT_TYPE_LATEST.replace("; charset=utf-8", "")  # Litestar adds the charset itself


def require_metrics_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    wanted = connection.app.state.services.settings.metrics_token
    if wanted is None:
        return
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(token.strip().encode(), wanted.encode()):
        raise NotAuthorizedException("send `Authorization: Bearer <the value of CLARION_METRICS_TOKEN>`")


@get("/metrics", guards=[require_metrics_token], include_in_schema=False)
async def metrics(services: ServicesDep) -> Response[bytes]:
    runtime = services.runtime
    depths = QueueDepths(runtime.actors.queue_names, functools.partial(queue_depth, runtime.broker))
    # Off the event loop: in scaled mode each queue's depth is a Redis round trip.
    body = await asyncio.to_thread(exposition, depths)
    return Response(body, media_type=_MEDIA_TYPE)
