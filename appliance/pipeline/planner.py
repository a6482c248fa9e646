"""Which channels a notification goes out on, and why a channel is skipped. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ..config.schema import Channel, Priority


@dataclass(frozen=True)
class Reachability:
    """What we know of a recipient's addresses, without the addresses themselves."""

    has_email: bool
    has_phone: bool
    device_count: int
    suppressed: Mapping[Channel, str] = field(default_factory=dict)  # channel -> why its address is


@dataclass(frozen=True)
class PlannedDelivery:
    channel: Channel
    priority: Priority
    skip_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.skip_reason is not None


def unreachable_reason(channel: Channel, reach: Reachability) -> str | None:
    if channel is Channel.EMAIL and not reach.has_email:
        return "recipient has no email address"
    if channel is Channel.SMS and not reach.has_phone:
        return "recipient has no phone number"
    if channel is Channel.PUSH and reach.device_count == 0:
        return "recipient has no registered push device"
    if channel in reach.suppressed:
        return f"address is suppressed ({reach.suppressed[channel]})"
    return None


def plan(channels: Iterable[Channel], priority: Priority, reach: Reachability) -> list[PlannedDelivery]:
    """One delivery per channel, in the category's order; unreachable channels are kept, skipped."""
    return [PlannedDelivery(channel, priority, unreachable_reason(channel, reach)) for channel in channels]
