"""What a round through the providers means for a delivery. Pure, so it can be property-tested.

Only a retryable failure spends one of the category's tries. Rate limits (ours or the
provider's 429) and open circuits make the delivery wait and come back, never fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dramatiq.common import compute_backoff

from ..config.schema import RetryPolicy
from ..db.models import DeliveryStatus
from ..providers.base import OutcomeKind
from .route import Routed

# How long to wait when every provider's circuit is open: long enough not to spin.
OPEN_CIRCUIT_WAIT = timedelta(seconds=1)


@dataclass(frozen=True)
class Settlement:
    status: DeliveryStatus
    error: str | None = None
    provider_message_id: str | None = None
    retry_in: timedelta | None = None
    spent_a_try: bool = True
    not_before: datetime | None = None  # a deferral (quiet hours): not to be sent before then


def settle(routed: Routed, tries: int, policy: RetryPolicy) -> Settlement:
    """`tries` counts rounds including this one, as the claim recorded it."""
    last = routed.last
    if last is not None and last.kind is OutcomeKind.SENT:
        return Settlement(DeliveryStatus.SENT, provider_message_id=last.provider_message_id)
    if last is not None and last.kind in (OutcomeKind.PERMANENT, OutcomeKind.INVALID_RECIPIENT):
        return Settlement(DeliveryStatus.FAILED, error=f"{last.kind.value}: {last.error}")
    if any(a.outcome.kind is OutcomeKind.RETRYABLE for a in routed.attempts):
        return _try_again(last.error if last else None, tries, policy)
    return _wait(routed, policy)


def _try_again(error: str | None, tries: int, policy: RetryPolicy) -> Settlement:
    """A try spent on a failure that may pass: back off and retry, unless it was the last try."""
    if tries >= policy.max_attempts:
        return Settlement(DeliveryStatus.DEAD, error=f"gave up after {tries} tries: {error or ''}")
    return Settlement(DeliveryStatus.QUEUED, error=error, retry_in=backoff(tries, policy))


def _wait(routed: Routed, policy: RetryPolicy) -> Settlement:
    """Nothing failed: every provider was rate limited or had its circuit open. Come back later."""
    waits = [a.outcome.retry_after for a in routed.attempts if a.outcome.retry_after is not None]
    if routed.throttled_for is not None:
        waits.append(routed.throttled_for)
    if routed.circuit_open:
        waits.append(OPEN_CIRCUIT_WAIT)
    if not waits and not routed.attempts:
        return Settlement(DeliveryStatus.FAILED, error="the channel has no provider configured")
    reasons = [f"{a.provider}: {a.outcome.error}" for a in routed.attempts]
    reasons += [f"{name}: circuit open" for name in routed.circuit_open]
    if routed.throttled_for is not None:
        reasons.append("rate limit reached")
    retry_in = min(waits) if waits else policy.backoff_min
    return Settlement(DeliveryStatus.QUEUED, error="; ".join(reasons), retry_in=retry_in, spent_a_try=False)


def backoff(tries: int, policy: RetryPolicy) -> timedelta:
    """Exponential backoff with jitter (Dramatiq's), between the policy's bounds."""
    floor_ms = max(1, int(policy.backoff_min.total_seconds() * 1000))
    cap_ms = max(floor_ms, int(policy.backoff_max.total_seconds() * 1000))
    _, backoff_ms = compute_backoff(tries - 1, factor=floor_ms, max_backoff=cap_ms)
    return timedelta(milliseconds=backoff_ms)
