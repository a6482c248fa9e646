"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from sqlalchemy import text

from ...queueing.broker import ping
from ..services import ServicesDep
from .schemas import Health


@get("/healthz", tags=["health"], summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@get("/readyz", tags=["health"], summary="The database and the broker answer")
async def readyz(services: ServicesDep) -> Response[Health]:
    checks: dict[str, str] = {}
    try:
        async with services.database.sessions() as session:
            await session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await asyncio.to_thread(ping, services.runtime.broker)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return Response(
        Health(status="ok" if ready else "unavailable", checks=checks), status_code=200 if ready else 503
    )
