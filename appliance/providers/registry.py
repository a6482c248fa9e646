"""Which provider types exist: the built-in modules, plus operator plugins.

A plugin is a module in `plugins/` (or an installed package exposing the entry point group
`clarion.providers`) that defines a `Provider` subclass and names it in `PROVIDERS`.

A built-in type's module is imported when a config names the type, not before: each is a few
hundred kB resident for the life of the process (its options model, its checks), and a config
uses a few of the fourteen (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from ..config.loader import ProviderType
from . import plugins
from .base import Provider

#: type name -> "module:Class" under appliance.providers.
BUILTIN: Mapping[str, str] = {
    "sandbox": "sandbox:SandboxProvider",
    "inbox": "inbox:InboxProvider",
    "smtp": "smtp:SmtpProvider",
    "sendgrid": "sendgrid:SendGridProvider",
    "mailgun": "mailgun:MailgunProvider",
    "postmark": "postmark:PostmarkProvider",
    "ses": "ses:SesProvider",
    "twilio": "twilio:TwilioProvider",
    "vonage": "vonage:VonageProvider",
    "fcm": "fcm:FcmProvider",
    "apns": "apns:ApnsProvider",
    "slack": "slack:SlackProvider",
    "webhook": "webhook:WebhookProvider",
    # Always registered, even without the optional `apprise` package: its options check for it,
    # so a config that uses it fails at load time with the pip command, not "unknown type".
    "apprise": "apprise_provider:AppriseProvider",
}


def builtin(type_name: str) -> type[Provider]:
    module, _, name = BUILTIN[type_name].partition(":")
    cls: type[Provider] = getattr(importlib.import_module(f"{__package__}.{module}"), name)
    return cls


class ProviderRegistry:
    def __init__(self, extra: Iterable[type[Provider]] = ()) -> None:
        """The built-ins and the `extra` classes (plugins); one named like a built-in replaces it."""
        self._extra: dict[str, type[Provider]] = {cls.type_name: cls for cls in extra}

    @classmethod
    def with_plugins(
        cls,
        directory: str | os.PathLike[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        entry_points: Iterable[plugins.EntryPoint] | None = None,
    ) -> ProviderRegistry:
        """The built-ins plus every plugin; raises ConfigError naming each plugin that is broken.

        `directory` defaults to `CLARION_PLUGINS_DIR` (read from `environ`), else the repository's
        `plugins/`; `entry_points` to the installed `clarion.providers` entry points.
        """
        if directory is None:
            path, required = plugins.plugins_directory(os.environ if environ is None else environ)
        else:
            path, required = Path(directory), True
        found = plugins.discover(
            path, required=required, entry_points=entry_points, taken=plugins.builtin_sources(BUILTIN)
        )
        return cls(plugin.cls for plugin in found)

    def __getitem__(self, type_name: str) -> type[Provider]:
        extra = self._extra.get(type_name)
        return extra if extra is not None else builtin(type_name)

    def names(self) -> list[str]:
        return [*BUILTIN, *(name for name in self._extra if name not in BUILTIN)]

    def types(self) -> Mapping[str, ProviderType]:
        """What the config loader needs to validate `providers:` entries."""
        return _Types(self)


class _Types(Mapping[str, ProviderType]):
    """Looking a type up imports its module; listing the names does not."""

    def __init__(self, registry: ProviderRegistry) -> None:
        self._registry = registry

    def __getitem__(self, type_name: str) -> ProviderType:
        cls = self._registry[type_name]  # KeyError for a name neither built in nor a plugin's
        return ProviderType(options=cls.Options, channels=cls.channels)

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry.names())

    def __len__(self) -> int:
        return len(self._registry.names())
