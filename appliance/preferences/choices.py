"""Resolving what a recipient receives from the category's rules and their own choices. Pure.

A category users may not opt out of (a sign-in code, a password reset) always goes out.
Otherwise "unsubscribe from everything optional" wins, then the recipient's own choice for
that channel of that category, then the category's default.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from ..config.schema import CategoryConfig, Channel, DefaultChoice


class Choices(msgspec.Struct, frozen=True):
    unsubscribed_all: bool = False
    # (category, channel) -> on
    explicit: Mapping[tuple[str, str], bool] = msgspec.field(default_factory=dict)

    def get(self, category: str, channel: Channel | str) -> bool | None:
        return self.explicit.get((category, str(channel)))


def opted_in(category: str, rules: CategoryConfig, channel: Channel, choices: Choices) -> bool:
    if not rules.opt_out:
        return True
    if choices.unsubscribed_all:
        return False
    explicit = choices.get(category, channel)
    if explicit is not None:
        return explicit
    return rules.default is DefaultChoice.OPTED_IN


def opted_out_reason(category: str, rules: CategoryConfig, channel: Channel, choices: Choices) -> str | None:
    """Why the recipient does not want this, in words for the delivery log; None if they do."""
    if opted_in(category, rules, channel, choices):
        return None
    if choices.unsubscribed_all:
        return "recipient unsubscribed from everything optional"
    if choices.get(category, channel) is False:
        return f"recipient opted out of {category} on {channel.value}"
    return f"{category} is opt-in and the recipient has not opted in on {channel.value}"
