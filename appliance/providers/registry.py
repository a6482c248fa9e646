"""Which provider types exist: the built-in modules, plus operator plugins.

A plugin is a module in `plugins/` (or an installed package exposing the entry point group
`clarion.providers`) that defines a `Provider` subclass and names it in `PROVIDERS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..config.loader import ProviderType
from .apns import ApnsProvider
from .base import Provider
from .fcm import FcmProvider
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
)


class ProviderRegistry:
    def __init__(self, classes: Iterable[type[Provider]] = BUILTIN) -> None:
        self.classes: dict[str, type[Provider]] = {cls.type_name: cls for cls in classes}

    def __getitem__(self, type_name: str) -> type[Provider]:
        return self.classes[type_name]

    def types(self) -> Mapping[str, ProviderType]:
        """What the config loader needs to validate `providers:` entries."""
        return {
            name: ProviderType(options=cls.Options, channels=cls.channels)
            for name, cls in self.classes.items()
        }
