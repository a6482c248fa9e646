"""A recipient's preferences as a grid of categories x channels: what the API returns, what the
preference center shows, and which changes to it are allowed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..config.schema import CategoryConfig, Channel, ClarionConfig
from .choices import Choices, opted_in
from .ledger import PreferenceChange


@dataclass(frozen=True)
class ChannelSetting:
    channel: Channel
    enabled: bool  # the choice for this channel, before "unsubscribed from everything" is applied
    chosen: bool  # the recipient chose it; otherwise it is the category's default


@dataclass(frozen=True)
class CategorySetting:
    name: str
    rules: CategoryConfig
    channels: tuple[ChannelSetting, ...]

    @property
    def optional(self) -> bool:
        return self.rules.opt_out


def matrix(config: ClarionConfig, choices: Choices) -> list[CategorySetting]:
    """Every category in the config's order, each with its channels in the category's order."""
    plain = Choices(explicit=choices.explicit)  # the master switch is reported on its own
    return [
        CategorySetting(
            name,
            rules,
            tuple(
                ChannelSetting(
                    channel, opted_in(name, rules, channel, plain), choices.get(name, channel) is not None
                )
                for channel in rules.channels
            ),
        )
        for name, rules in config.categories.items()
    ]


def problems(config: ClarionConfig, change: PreferenceChange) -> Iterator[tuple[str, str]]:
    """(field, message) for every setting the config does not allow; the field names the API's body."""
    for category, channel in change.channels:
        field = f"categories.{category}"
        rules = config.categories.get(category)
        if rules is None:
            yield field, f"unknown category {category!r}; known: {', '.join(config.categories)}"
        elif not rules.opt_out:
            yield field, f"{category} cannot be turned off: the category does not allow opting out"
        elif channel not in {c.value for c in rules.channels}:
            used = ", ".join(c.value for c in rules.channels)
            yield f"{field}.{channel}", f"{category} is not sent on {channel}; its channels: {used}"


def unsubscribe_from(category: str, rules: CategoryConfig) -> PreferenceChange:
    """Every channel of the category off: what one-click unsubscribe does."""
    return PreferenceChange(channels={(category, channel.value): False for channel in rules.channels})
