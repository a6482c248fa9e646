"""Route: try a channel's providers in failover order until one settles the message.

A provider is passed over while its circuit is open or its rate limit is spent; those
passes cost the delivery nothing (no attempt row, no try), they only decide when to retry.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..config.units import Rate
from ..db.types import utcnow
from ..observability import metrics
from ..providers.base import Message, Outcome, OutcomeKind, Provider
from ..resilience.circuit import Breakers
from ..resilience.ratelimit import RateLimiter

log = logging.getLogger(__name__)

# Another provider may succeed where this one could not right now; not where the message is at fault.
_FAIL_OVER = frozenset({OutcomeKind.RETRYABLE, OutcomeKind.RATE_LIMITED})


@dataclass(frozen=True)
class AttemptRecord:
    provider: str
    outcome: Outcome
    started_at: datetime
    latency_ms: float


@dataclass(frozen=True)
class Routed:
    """What happened to one delivery's round through its providers."""

    attempts: tuple[AttemptRecord, ...] = ()
    circuit_open: tuple[str, ...] = ()
    throttled_for: timedelta | None = None  # shortest wait for a spent rate limit

    @property
    def last(self) -> Outcome | None:
        return self.attempts[-1].outcome if self.attempts else None


@dataclass
class Gates:
    """Circuit breakers and rate limits in front of the providers."""

    breakers: Breakers
    limiter: RateLimiter
    rates: Mapping[str, Rate | None] = field(default_factory=dict)

    async def wait_for_rate(self, name: str) -> float:
        rate = self.rates.get(name)
        return await self.limiter.acquire(name, rate) if rate else 0.0


async def route(
    message: Message, order: Sequence[str], providers: Mapping[str, Provider], gates: Gates
) -> Routed:
    attempts: list[AttemptRecord] = []
    circuit_open: list[str] = []
    waits: list[float] = []
    for name in order:
        wait = await gates.wait_for_rate(name)
        if wait > 0:
            waits.append(wait)
            continue
        if not await gates.breakers.admit(name):
            circuit_open.append(name)
            continue
        attempt = await call(providers[name], message)
        attempts.append(attempt)
        await gates.breakers.report(name, healthy=attempt.outcome.kind is not OutcomeKind.RETRYABLE)
        if attempt.outcome.kind not in _FAIL_OVER:
            break
    throttled_for = timedelta(seconds=min(waits)) if waits else None
    return Routed(tuple(attempts), tuple(circuit_open), throttled_for)


async def call(provider: Provider, message: Message) -> AttemptRecord:
    started_at = utcnow()
    began = time.perf_counter()
    try:
        outcome = await provider.send(message)
    except Exception as exc:  # a provider bug must not lose the delivery: retry it, loudly
        log.exception("provider %s raised instead of returning an outcome", provider.name)
        outcome = Outcome.retryable(f"provider raised {type(exc).__name__}: {exc}")
    latency_s = time.perf_counter() - began
    metrics.provider_answered(provider.name, outcome.kind.value, latency_s)
    return AttemptRecord(provider.name, outcome, started_at, latency_s * 1000)
