"""Checks that span sections: names that must point at something declared elsewhere.

They read the raw document, defensively, so they run even when another part of the file is
invalid: the operator sees every problem in one pass, not one layer of them per attempt.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..preferences.wording import ENGLISH, KEYS, placeholders
from .schema import Channel
from .yamlnodes import Path

if TYPE_CHECKING:
    from .loader import ProviderType

_CHANNEL_NAMES = frozenset(channel.value for channel in Channel)


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def check_references(
    data: Mapping[str, Any], provider_types: Mapping[str, ProviderType]
) -> Iterator[tuple[Path, str]]:
    providers, channels = _mapping(data.get("providers")), _mapping(data.get("channels"))
    yield from _channel_providers(channels, providers, provider_types)
    yield from _category_channels(_mapping(data.get("categories")), channels)
    yield from _template_content(_mapping(data.get("templates")), channels)
    yield from _template_variants(_mapping(data.get("templates")))
    yield from _api_key_names(_names(data.get("api_keys")))
    yield from _inbox_secret(providers, data.get("inbox"))
    yield from _translations(_mapping(data.get("preference_center")), _mapping(data.get("categories")))


def _channel_providers(
    channels: dict[Any, Any], providers: dict[Any, Any], provider_types: Mapping[str, ProviderType]
) -> Iterator[tuple[Path, str]]:
    for channel, spec in channels.items():
        for index, name in enumerate(_names(_mapping(spec).get("providers"))):
            path: Path = ("channels", channel, "providers", index)
            if name not in providers:
                yield path, f'provider "{name}" is not declared under `providers`'
                continue
            kind = provider_types.get(_mapping(providers[name]).get("type"))
            if kind is not None and channel in _CHANNEL_NAMES and channel not in kind.channels:
                served = ", ".join(sorted(kind.channels))
                yield path, f'provider "{name}" cannot send {channel}; its type serves: {served}'


def _category_channels(categories: dict[Any, Any], channels: dict[Any, Any]) -> Iterator[tuple[Path, str]]:
    for name, spec in categories.items():
        for index, channel in enumerate(_names(_mapping(spec).get("channels"))):
            if channel in _CHANNEL_NAMES and channel not in channels:
                yield (
                    ("categories", name, "channels", index),
                    (f'channel "{channel}" has no providers: declare it under `channels`'),
                )


def _template_content(templates: dict[Any, Any], channels: dict[Any, Any]) -> Iterator[tuple[Path, str]]:
    for name, spec in templates.items():
        if not any(channel in _mapping(spec) for channel in channels):
            yield ("templates", name), "a template needs content for at least one declared channel"


def _template_variants(templates: dict[Any, Any]) -> Iterator[tuple[Path, str]]:
    """A variant can only vary content the template has: a variant-only channel or locale would
    send half the audience something the other half never gets, or mix two languages."""
    for name, spec in templates.items():
        spec = _mapping(spec)
        locales = {
            _locale_key(locale): _mapping(parts) for locale, parts in _mapping(spec.get("locales")).items()
        }
        for variant, overrides in _mapping(spec.get("variants")).items():
            path: Path = ("templates", name, "variants", variant)
            overrides = _mapping(overrides)
            for channel in sorted(_CHANNEL_NAMES & (overrides.keys() - spec.keys())):
                yield (*path, channel), f"the template has no {channel} content for this variant to vary"
            for locale, parts in _mapping(overrides.get("locales")).items():
                yield from _variant_locale(path, name, str(locale), _mapping(parts), locales)


def _variant_locale(
    path: Path, template: Any, locale: str, parts: dict[Any, Any], locales: dict[str, dict[Any, Any]]
) -> Iterator[tuple[Path, str]]:
    own = locales.get(_locale_key(locale))
    if own is None:
        yield (
            (*path, "locales", locale),
            f'the template has no locale "{locale}"; declare it under `templates.{template}.locales` first',
        )
        return
    for channel in sorted(_CHANNEL_NAMES & (parts.keys() - own.keys())):
        yield (
            (*path, "locales", locale, channel),
            f'locale "{locale}" of the template has no {channel} content for this variant to vary',
        )


def _locale_key(locale: Any) -> str:
    return str(locale).replace("_", "-").lower()


def _api_key_names(keys: list[Any]) -> Iterator[tuple[Path, str]]:
    names = [_mapping(key).get("name") for key in keys]
    for index, name in enumerate(names):
        if name is not None and names.count(name) > 1:
            yield ("api_keys", index, "name"), f'api key name "{name}" is used more than once'


def _inbox_secret(providers: dict[Any, Any], inbox: Any) -> Iterator[tuple[Path, str]]:
    if inbox is not None:
        return
    for name, spec in providers.items():
        if _mapping(spec).get("type") == "inbox":
            yield (
                ("providers", name, "type"),
                "an `inbox` provider needs `inbox: {secret: ...}`: it signs the tokens recipients "
                "read their inbox with (see docs/configuration.md)",
            )


def _translations(center: dict[Any, Any], categories: dict[Any, Any]) -> Iterator[tuple[Path, str]]:
    for locale, spec in _mapping(center.get("translations")).items():
        for key, text in _mapping(_mapping(spec).get("text")).items():
            path: Path = ("preference_center", "translations", locale, "text", key)
            if key not in KEYS:
                yield path, f'unknown text key "{key}"; known: {", ".join(sorted(KEYS))}'
            elif (
                problem := _placeholder_problem(str(text), placeholders(ENGLISH[key]) | {"product"})
            ) is not None:
                yield path, problem
        for name in _mapping(_mapping(spec).get("categories")):
            if name not in categories:
                yield (
                    ("preference_center", "translations", locale, "categories", name),
                    f'category "{name}" is not declared under `categories`',
                )


def _placeholder_problem(text: str, allowed: frozenset[str]) -> str | None:
    try:
        unknown = placeholders(text) - allowed
    except ValueError as exc:
        return f"not a valid text with {{placeholders}}: {exc}; write a literal brace as {{{{ or }}}}"
    if not unknown:
        return None
    return f"unknown placeholder {_braced(unknown)}; this text may use: {_braced(allowed) or 'none'}"


def _braced(names: frozenset[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(names))
