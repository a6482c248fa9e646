"""What a round of provider calls means for a delivery. Pure, so it can be property-tested."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from dramatiq.common import compute_backoff

from ..config.schema import RetryPolicy
from ..db.models import DeliveryStatus
from ..providers.base import Outcome, OutcomeKind


@dataclass(frozen=True)
class Settlement:
    status: DeliveryStatus
    error: str | None = None
    provider_message_id: str | None = None
    retry_in: timedelta | None = None


def settle(last: Outcome | None, tries: int, policy: RetryPolicy) -> Settlement:
    """`last` is the outcome the routing stopped at; `tries` counts rounds including this one."""
    if last is None:
        return Settlement(DeliveryStatus.FAILED, error="the channel has no provider configured")
    if last.kind is OutcomeKind.SENT:
        return Settlement(DeliveryStatus.SENT, provider_message_id=last.provider_message_id)
    if last.kind in (OutcomeKind.PERMANENT, OutcomeKind.INVALID_RECIPIENT):
        return Settlement(DeliveryStatus.FAILED, error=f"{last.kind.value}: {last.error}")
    if tries >= policy.max_attempts:
        return Settlement(DeliveryStatus.DEAD, error=f"gave up after {tries} tries: {last.error}")
    return Settlement(DeliveryStatus.QUEUED, error=last.error, retry_in=retry_delay(last, tries, policy))


def retry_delay(last: Outcome, tries: int, policy: RetryPolicy) -> timedelta:
    """Exponential backoff with jitter (Dramatiq's), never sooner than the provider asked."""
    floor_ms = max(1, int(policy.backoff_min.total_seconds() * 1000))
    cap_ms = max(floor_ms, int(policy.backoff_max.total_seconds() * 1000))
    _, backoff_ms = compute_backoff(tries - 1, factor=floor_ms, max_backoff=cap_ms)
    delay = timedelta(milliseconds=backoff_ms)
    if last.retry_after is not None:
        delay = max(delay, last.retry_after)
    return delay
