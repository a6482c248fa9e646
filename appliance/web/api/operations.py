"""Operator endpoints: provider health and dead letters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from litestar import Controller, Response, get, post
from litestar.params import FromPath, Parameter

from ...analytics.providers import ProviderHealth, provider_health
from ...db.types import utcnow
from ...pipeline.dead_letters import DeadLetter, list_dead_letters, retry_dead_letter
from ...pipeline.provider_health import WINDOW
from ..services import ServicesDep


class CircuitOut(msgspec.Struct):
    state: str
    consecutive_failures: int
    opened_at: datetime | None


class RecentOut(msgspec.Struct):
    window_s: int
    attempts: int
    failures: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class ProviderOut(msgspec.Struct):
    name: str
    type: str
    channels: list[str]
    rate_limit: str | None
    circuit: CircuitOut
    recent: RecentOut


class RetriedOut(msgspec.Struct):
    delivery_id: str
    status: str


class OperationsController(Controller):
    path = "/v1"
    tags = ["operations"]

    @get("/providers", summary="Each provider's circuit state, recent error rate and latency")
    async def providers(self, services: ServicesDep) -> list[ProviderOut]:
        found = await provider_health(
            services.database, services.circuits, services.catalog.config, now=utcnow()
        )
        return [provider_out(health) for health in found]

    @get("/dead-letters", summary="Deliveries that used every try, newest first")
    async def dead_letters(
        self,
        services: ServicesDep,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        before: Annotated[datetime | None, Parameter(description="page: died before this time")] = None,
    ) -> list[DeadLetter]:
        return await list_dead_letters(services.database, limit=limit, before=before)

    @post("/dead-letters/{delivery_id:uuid}/retry", status_code=202, summary="Send a dead delivery again")
    async def retry(self, services: ServicesDep, delivery_id: FromPath[uuid.UUID]) -> Response[RetriedOut]:
        await retry_dead_letter(
            services.database,
            services.dispatcher,
            delivery_id,
            now=utcnow(),
            queue_lease=services.catalog.config.delivery.queue_lease,
        )
        return Response(RetriedOut(str(delivery_id), "queued"), status_code=202)


def provider_out(health: ProviderHealth) -> ProviderOut:
    circuit, recent = health.circuit, health.recent
    return ProviderOut(
        name=health.name,
        type=health.type,
        channels=health.channels,
        rate_limit=health.rate_limit,
        circuit=CircuitOut(
            circuit.state.value,
            circuit.failures,
            datetime.fromtimestamp(circuit.opened_at, UTC) if circuit.opened_at else None,
        ),
        recent=RecentOut(
            int(WINDOW.total_seconds()),
            recent.attempts,
            recent.failures,
            round(recent.error_rate, 4),
            recent.latency_p50_ms,
            recent.latency_p95_ms,
        ),
    )
