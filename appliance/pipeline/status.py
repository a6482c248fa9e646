"""The delivery state machine, and how a notification's status follows from its deliveries.

    queued -> sending -> sent -> delivered | bounced | complained
       ^         |   \\-> failed | dead
       +---------+ (retry later)
    queued -> skipped (nothing to send to) | throttled (frequency cap)
    held -> queued (fallback: the channel before it did not get out) | skipped | throttled

Pure functions: the worker, the webhook ingester and the API all decide with these.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..db.models import DeliveryStatus as S

FINAL = frozenset({S.DELIVERED, S.BOUNCED, S.COMPLAINED, S.FAILED, S.DEAD, S.SKIPPED, S.THROTTLED})
IN_FLIGHT = frozenset({S.QUEUED, S.SENDING, S.HELD})

_ALLOWED: dict[S, frozenset[S]] = {
    S.QUEUED: frozenset({S.SENDING, S.SKIPPED, S.FAILED, S.DEAD, S.THROTTLED}),
    S.HELD: frozenset({S.QUEUED, S.SKIPPED, S.THROTTLED}),
    S.SENDING: frozenset({S.QUEUED, S.SENDING, S.SENT, S.FAILED, S.DEAD, S.SKIPPED, S.THROTTLED}),
    S.SENT: frozenset({S.DELIVERED, S.BOUNCED, S.COMPLAINED, S.FAILED}),
    S.DELIVERED: frozenset({S.BOUNCED, S.COMPLAINED}),
    S.BOUNCED: frozenset(),
    S.COMPLAINED: frozenset(),
    S.FAILED: frozenset(),
    S.DEAD: frozenset({S.QUEUED}),  # an operator may send a dead letter again
    S.SKIPPED: frozenset(),
    S.THROTTLED: frozenset(),
}


def can_move(current: S, target: S) -> bool:
    """Whether `current -> target` is a legal step; late or repeated events never move backwards."""
    return target in _ALLOWED[current]


def notification_status(statuses: Iterable[str]) -> str:
    """One word for a notification, from its deliveries' statuses (skipped channels aside).

    A shared status is reported as is; while any delivery is in flight it is `sending`;
    once all are settled: `sent` if every one got out, `failed` if none did, else `partial`.
    """
    active = {S(status) for status in statuses} - {S.SKIPPED}
    if not active:
        return S.SKIPPED
    if len(active) == 1:
        return next(iter(active))
    if active & IN_FLIGHT:
        return S.SENDING
    got_out = active & {S.SENT, S.DELIVERED}
    if not got_out:
        return S.FAILED
    return S.SENT if active == got_out else "partial"
