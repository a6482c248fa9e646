"""Which provider types exist: the built-in modules, plus operator plugins.

A plugin is a module in `plugins/` (or an installed package exposing the entry point group
`clarion.providers`) that defines a `Provider` subclass and names it in `PROVIDERS`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from ..config.loader import ProviderType
from . import plugins
from .apns import ApnsProvider
from .apprise_provider import AppriseProvider
from .base import Provider
from .fcm import FcmProvider
from .inbox import InboxProvider
from .mailgun import MailgunProvider
from .postmark import PostmarkProvider
from .sandbox import SandboxProvider
from .sendgrid import SendGridProvider
from .ses import SesProvider
from .slack import SlackProvider
from .smtp import SmtpProvider
from .twilio import TwilioProvider
from .vonage import VonageProvider
from .webhook import WebhookProvider

BUILTIN: tuple[type[Provider], ...] = (
    SandboxProvider,
    InboxProvider,
    SmtpProvider,
    SendGridProvider,
    MailgunProvider,
    PostmarkProvider,
    SesProvider,
    TwilioProvider,
    VonageProvider,
    FcmProvider,
    ApnsProvider,
    SlackProvider,
    WebhookProvider,
    # Always registered, even without the optional `apprise` package: its options check for it,
    # so a config that uses it fails at load time with the pip command, not "unknown type".
    AppriseProvider,
)


class ProviderRegistry:
    def __init__(self, classes: Iterable[type[Provider]] = BUILTIN) -> None:
        self.classes: dict[str, type[Provider]] = {cls.type_name: cls for cls in classes}

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
        return cls((*BUILTIN, *(plugin.cls for plugin in found)))

    def __getitem__(self, type_name: str) -> type[Provider]:
        return self.classes[type_name]

    def types(self) -> Mapping[str, ProviderType]:
        """What the config loader needs to validate `providers:` entries."""
        return {
            name: ProviderType(options=cls.Options, channels=cls.channels)
            for name, cls in self.classes.items()
        }
