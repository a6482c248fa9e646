"""Which channels a notification goes out on, when, and why a channel is skipped. Pure.

Strategy `all` sends on every channel the recipient can and wants to receive; `fallback` sends
on the first such channel and holds the others, in the category's order, for when it fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

from ..config.schema import CategoryConfig, Channel, Priority, Strategy
from ..db.models import DeliveryStatus
from ..preferences.frequency import FrequencyCap
from ..preferences.verdict import Standing, blocked


class PlannedDelivery(msgspec.Struct, frozen=True):
    """A Struct, not a dataclass: one is made per delivery planned (see Standing)."""

    channel: Channel
    priority: Priority
    position: int
    status: DeliveryStatus
    reason: str | None = None
    not_before: datetime | None = None

    @property
    def dispatched(self) -> bool:
        return self.status is DeliveryStatus.QUEUED


class Circumstances(msgspec.Struct, frozen=True):
    """What holds for the whole notification at planning time."""

    capped: FrequencyCap | None = None
    not_before: datetime | None = None  # scheduled for later, or deferred past quiet hours


#: Nothing capped, nothing deferred.
UNHINDERED = Circumstances()


def plan(
    category: str,
    rules: CategoryConfig,
    channels: Iterable[Channel],
    standing: Standing,
    circumstances: Circumstances = UNHINDERED,
) -> list[PlannedDelivery]:
    """One delivery per channel, in the category's order; blocked channels are kept, skipped."""
    planned: list[PlannedDelivery] = []
    leading = True
    for position, channel in enumerate(channels):
        reason = blocked(category, rules, channel, standing)
        if reason is not None:
            planned.append(PlannedDelivery(channel, rules.priority, position, DeliveryStatus.SKIPPED, reason))
        elif circumstances.capped is not None:
            capped = f"frequency cap {circumstances.capped} reached"
            planned.append(
                PlannedDelivery(channel, rules.priority, position, DeliveryStatus.THROTTLED, capped)
            )
        elif leading or rules.strategy is Strategy.ALL:
            planned.append(
                PlannedDelivery(
                    channel,
                    rules.priority,
                    position,
                    DeliveryStatus.QUEUED,
                    not_before=circumstances.not_before,
                )
            )
            leading = False
        else:
            planned.append(PlannedDelivery(channel, rules.priority, position, DeliveryStatus.HELD))
    return planned
