"""A campaign's states and the moves between them. Pure.

draft -> scheduled -> sending -> sent
  |          |         ^  |  ^
  |          |   resume|  |  | winner picked: the rest of the audience
  |          |         |  v  |
  |          |      paused  testing   (test, then send the winner: the test share is out)
  +----------+---------+-----+--> cancelled (from any state but sent)
"""

from __future__ import annotations

from ..db.models import CampaignState as S

_ALLOWED: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.SCHEDULED, S.SENDING, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.SENDING, S.CANCELLED}),
    S.SENDING: frozenset({S.PAUSED, S.SENT, S.TESTING, S.CANCELLED}),
    S.TESTING: frozenset({S.SENDING, S.CANCELLED}),
    S.PAUSED: frozenset({S.SENDING, S.CANCELLED}),
    S.SENT: frozenset(),
    S.CANCELLED: frozenset(),
}

#: What each operator action moves a campaign to.
ACTIONS: dict[str, S] = {"pause": S.PAUSED, "resume": S.SENDING, "cancel": S.CANCELLED}


def can_move(current: S, target: S) -> bool:
    return target in _ALLOWED[current]


def launch_target(scheduled: bool) -> S:
    """Launching with a send time in the future schedules; otherwise the fan-out starts now."""
    return S.SCHEDULED if scheduled else S.SENDING
