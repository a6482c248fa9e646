"""Route: try a channel's providers in failover order until one settles the message."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from ..db.types import utcnow
from ..providers.base import Message, Outcome, OutcomeKind, Provider
from .record import AttemptRecord

log = logging.getLogger(__name__)

# Another provider may succeed where this one could not right now; not where the message is at fault.
_FAIL_OVER = frozenset({OutcomeKind.RETRYABLE, OutcomeKind.RATE_LIMITED})


async def route(
    message: Message, order: Sequence[str], providers: Mapping[str, Provider]
) -> tuple[Outcome | None, list[AttemptRecord]]:
    attempts: list[AttemptRecord] = []
    for name in order:
        attempt = await call(providers[name], message)
        attempts.append(attempt)
        if attempt.outcome.kind not in _FAIL_OVER:
            break
    return (attempts[-1].outcome if attempts else None), attempts


async def call(provider: Provider, message: Message) -> AttemptRecord:
    started_at = utcnow()
    began = time.perf_counter()
    try:
        outcome = await provider.send(message)
    except Exception as exc:  # a provider bug must not lose the delivery: retry it, loudly
        log.exception("provider %s raised instead of returning an outcome", provider.name)
        outcome = Outcome.retryable(f"provider raised {type(exc).__name__}: {exc}")
    return AttemptRecord(provider.name, outcome, started_at, (time.perf_counter() - began) * 1000)
