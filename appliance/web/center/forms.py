"""The preference form: one checkbox per (category, channel) users may turn off, and the master switch.

A browser sends only the boxes that are ticked, so every optional (category, channel) missing
from the form is off: the change always names all of them, never "leave as it was".
"""

from __future__ import annotations

from collections.abc import Collection

from ...config.schema import Channel, ClarionConfig, DefaultChoice
from ...preferences.ledger import PreferenceChange

UNSUBSCRIBE_ALL = "unsubscribed_all"


def field_name(category: str, channel: Channel) -> str:
    return f"{category}.{channel.value}"


def change_from_form(config: ClarionConfig, ticked: Collection[str]) -> PreferenceChange:
    """What the submitted form asks for; fields the config does not know are ignored."""
    optional = [
        (category, rules, channel)
        for category, rules in config.categories.items()
        if rules.opt_out
        for channel in rules.channels
    ]
    return PreferenceChange(
        unsubscribed_all=UNSUBSCRIBE_ALL in ticked,
        channels={
            (category, channel.value): field_name(category, channel) in ticked
            for category, _, channel in optional
        },
        defaults={
            (category, channel.value): rules.default is DefaultChoice.OPTED_IN
            for category, rules, channel in optional
        },
    )
