"""The one seam between delivery and the outside world: send this message, say what happened.

A provider module defines an `Options` model (its YAML keys) and a class implementing
`Provider`. It never raises for a delivery problem: it classifies it as an Outcome, so the
delivery engine can decide what to do next (record, fail over, retry, give up).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class ProviderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Envelope:
    """Who and what a message is about, shared by every channel."""

    delivery_id: str
    notification_id: str
    recipient_id: str
    category: str
    template: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EmailMessage:
    envelope: Envelope
    to: str
    subject: str
    text: str | None
    html: str | None
    headers: dict[str, str] = field(default_factory=dict)

    channel: ClassVar[str] = "email"

    @property
    def address(self) -> str:
        return self.to


@dataclass(frozen=True)
class SmsMessage:
    envelope: Envelope
    to: str
    text: str

    channel: ClassVar[str] = "sms"

    @property
    def address(self) -> str:
        return self.to


@dataclass(frozen=True)
class PushMessage:
    envelope: Envelope
    tokens: tuple[str, ...]
    title: str
    body: str
    data: dict[str, str] = field(default_factory=dict)

    channel: ClassVar[str] = "push"

    @property
    def address(self) -> str:
        return ", ".join(token[:12] + "…" for token in self.tokens)


@dataclass(frozen=True)
class InAppMessage:
    envelope: Envelope
    title: str
    body: str
    action_url: str | None = None

    channel: ClassVar[str] = "in_app"

    @property
    def address(self) -> str:
        return self.envelope.recipient_id


@dataclass(frozen=True)
class WebhookMessage:
    envelope: Envelope
    text: str

    channel: ClassVar[str] = "webhook"

    @property
    def address(self) -> str:
        return self.envelope.recipient_id


Message = EmailMessage | SmsMessage | PushMessage | InAppMessage | WebhookMessage


class OutcomeKind(StrEnum):
    SENT = "sent"
    RETRYABLE = "retryable"  # 5xx, timeouts, connection errors: another try may work
    RATE_LIMITED = "rate_limited"  # the provider asked us to slow down
    PERMANENT = "permanent"  # bad request, bad credentials: retrying will not help
    INVALID_RECIPIENT = "invalid_recipient"  # this address or token will never work


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    provider_message_id: str | None = None
    error: str | None = None
    retry_after: timedelta | None = None
    invalid_tokens: tuple[str, ...] = ()  # push: device tokens the provider says are gone for good

    @classmethod
    def sent(cls, provider_message_id: str | None) -> Outcome:
        return cls(OutcomeKind.SENT, provider_message_id=provider_message_id)

    @classmethod
    def retryable(cls, error: str) -> Outcome:
        return cls(OutcomeKind.RETRYABLE, error=error)

    @classmethod
    def rate_limited(cls, error: str, retry_after: timedelta | None = None) -> Outcome:
        return cls(OutcomeKind.RATE_LIMITED, error=error, retry_after=retry_after)

    @classmethod
    def permanent(cls, error: str) -> Outcome:
        return cls(OutcomeKind.PERMANENT, error=error)

    @classmethod
    def invalid_recipient(cls, error: str) -> Outcome:
        return cls(OutcomeKind.INVALID_RECIPIENT, error=error)


@dataclass(frozen=True)
class ProviderContext:
    """What a provider may need besides its own options."""

    name: str
    timeout: timedelta
    database: Any  # appliance.db.engine.Database; typed loosely so plugins need not import it
    public_url: str
    feed: Any = None  # appliance.inbox.feed.Feed: rung when an inbox gets a message


class Provider(ABC):
    """Base class of every provider type.

    Subclasses set `type_name`, `channels` and `Options`, and implement `send`.
    `start` and `close` open and release pooled clients; they run on the worker's event loop.
    """

    type_name: ClassVar[str]
    channels: ClassVar[frozenset[str]]
    Options: ClassVar[type[ProviderOptions]]

    def __init__(self, context: ProviderContext, options: ProviderOptions) -> None:
        self.context = context
        self.options = options

    @property
    def name(self) -> str:
        return self.context.name

    async def start(self) -> None:  # noqa: B027  (optional hook: most providers need no set-up)
        """Open pooled connections; called once before the first send."""

    async def close(self) -> None:  # noqa: B027  (optional hook)
        """Release what `start` opened."""

    @abstractmethod
    async def send(self, message: Message) -> Outcome:
        """Deliver one message and classify what happened. Never raise for delivery problems."""
