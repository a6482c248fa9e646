"""Operator endpoints: provider health and dead letters."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, Parameter

from ...analytics.providers import ProviderHealth, provider_health
from ...db.types import utcnow
from ...pipeline.dead_letters import DeadLetter, discard_dead_letter, list_dead_letters, retry_dead_letter
from ...pipeline.provider_health import WINDOW
from ..services import Services, ServicesDep


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


class DeadLetterMoved(msgspec.Struct):  # where a retried or discarded dead letter went
    delivery_id: str
    status: str


def provider_out(report: ProviderHealth) -> ProviderOut:
    circuit, health = report.circuit, report.recent
    return ProviderOut(
        name=report.name,
        type=report.type,
        channels=report.channels,
        rate_limit=report.rate_limit,
        circuit=CircuitOut(circuit.state.value, circuit.failures, report.opened_at),
        recent=RecentOut(
            int(WINDOW.total_seconds()),
            health.attempts,
            health.failures,
            round(health.error_rate, 4),
            health.latency_p50_ms,
            health.latency_p95_ms,
        ),
    )


async def providers_out(services: Services) -> list[ProviderOut]:
    """Every provider's health, as both /v1/providers and /v1/analytics/providers answer it."""
    config = services.catalog.config
    found = await provider_health(services.database, services.circuits, config, now=utcnow())
    return [provider_out(health) for health in found]


class OperationsController(Controller):
    path = "/v1"
    tags = ["operations"]

    @get("/providers", summary="Each provider's circuit state, recent error rate and latency")
    async def providers(self, services: ServicesDep) -> list[ProviderOut]:
        return await providers_out(services)

    @get("/dead-letters", summary="Deliveries that used every try, newest first")
    async def dead_letters(
        self,
        services: ServicesDep,
        limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
        before: Annotated[datetime | None, Parameter(description="page: died before this time")] = None,
    ) -> list[DeadLetter]:
        return await list_dead_letters(services.database, limit=limit, before=before)

    @post("/dead-letters/{delivery_id:uuid}/retry", status_code=202, summary="Send a dead delivery again")
    async def retry(
        self, services: ServicesDep, delivery_id: FromPath[uuid.UUID]
    ) -> Response[DeadLetterMoved]:
        await retry_dead_letter(
            services.database,
            services.dispatcher,
            delivery_id,
            now=utcnow(),
            queue_lease=services.catalog.config.delivery.queue_lease,
        )
        return Response(DeadLetterMoved(str(delivery_id), "queued"), status_code=202)

    @post("/dead-letters/{delivery_id:uuid}/discard", summary="Give up on a dead delivery for good")
    async def discard(
        self, request: Request[Any, Any, Any], services: ServicesDep, delivery_id: FromPath[uuid.UUID]
    ) -> DeadLetterMoved:
        await discard_dead_letter(services.database, delivery_id, by=request.state.caller, now=utcnow())
        return DeadLetterMoved(str(delivery_id), "failed")
