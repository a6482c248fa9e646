"""Checks that span sections: names that must point at something declared elsewhere."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from .schema import ClarionConfig
from .yamlnodes import Path

if TYPE_CHECKING:
    from .loader import ProviderType


def check_references(
    config: ClarionConfig, provider_types: Mapping[str, ProviderType]
) -> Iterator[tuple[Path, str]]:
    for channel, channel_config in config.channels.items():
        for index, name in enumerate(channel_config.providers):
            path: Path = ("channels", channel.value, "providers", index)
            provider = config.providers.get(name)
            if provider is None:
                yield path, f'provider "{name}" is not declared under `providers`'
                continue
            kind = provider_types.get(provider.type)
            if kind is not None and channel.value not in kind.channels:
                served = ", ".join(sorted(kind.channels))
                yield (
                    path,
                    f'provider "{name}" (type {provider.type}) cannot send {channel.value}; '
                    f"it serves: {served}",
                )
    for name, category in config.categories.items():
        for index, channel in enumerate(category.channels):
            if channel not in config.channels:
                yield (
                    ("categories", name, "channels", index),
                    (f'channel "{channel.value}" has no providers: declare it under `channels`'),
                )
    for name, template in config.templates.items():
        if not any(template.part(channel) for channel in config.channels):
            yield ("templates", name), "a template needs content for at least one declared channel"
    names = [key.name for key in config.api_keys]
    for index, key in enumerate(config.api_keys):
        if names.count(key.name) > 1:
            yield ("api_keys", index, "name"), f'api key name "{key.name}" is used more than once'
