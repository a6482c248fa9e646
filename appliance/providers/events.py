"""What a provider's event webhook tells us, and the one method a provider implements to say it.

A provider that reports delivery events implements `EventSource.parse_events`: it checks the
request's signature with its own scheme (raising `SignatureInvalid` when it does not hold, or
`EventsNotConfigured` while the option it needs is unset) and returns the events Clarion acts on.
Event types that do not change a delivery ("processed", "open", "click", ...) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from multidict import CIMultiDict, CIMultiDictProxy

from ..errors import ClarionError

#: How old a signed timestamp may be before the request counts as a replay.
MAX_SIGNATURE_AGE = timedelta(minutes=10)


class EventKind(StrEnum):
    DELIVERED = "delivered"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    FAILED = "failed"


@dataclass(frozen=True)
class InboundRequest:
    """An event webhook call, as the provider made it: `url` is the public URL it called."""

    method: str
    url: str
    path: str
    query: str
    headers: CIMultiDictProxy[str]
    body: bytes

    @classmethod
    def build(
        cls, *, method: str, url: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> InboundRequest:
        return cls(method, url, path, query, CIMultiDictProxy(CIMultiDict(headers)), body)

    def json(self) -> Any:
        """The body as JSON; a body that is not JSON is a request the provider did not send."""
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SignatureInvalid("the body is not JSON") from exc


@dataclass(frozen=True)
class ProviderEvent:
    """One thing that happened to one message, with what finds its delivery."""

    kind: EventKind
    occurred_at: datetime
    delivery_id: str | None = None  # the id Clarion gave the provider when sending (preferred)
    provider_message_id: str | None = None
    address: str | None = None
    hard: bool = False  # bounces: the address will never work (suppress it)
    detail: str | None = None


class SignatureInvalid(ClarionError):
    """The request is not provably from the provider: answer 401 and change nothing."""


class EventsNotConfigured(ClarionError):
    """The provider can report events, but the option its signature check needs is not set."""


@runtime_checkable
class EventSource(Protocol):
    async def parse_events(self, request: InboundRequest) -> list[ProviderEvent]:
        """Verify the request and return its delivery events; raise SignatureInvalid if it fails."""
        ...


def check_fresh(signed_at: datetime, *, now: datetime | None = None) -> None:
    """Refuse a signature whose timestamp is more than MAX_SIGNATURE_AGE away from now."""
    if abs((now or datetime.now(UTC)) - signed_at) > MAX_SIGNATURE_AGE:
        raise SignatureInvalid("the signed timestamp is too old (or in the future); replay refused")


def unix_time(value: Any) -> datetime:
    """A unix timestamp (seconds, maybe fractional, maybe a string) as an aware datetime."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise SignatureInvalid(f"{value!r} is not a unix timestamp") from exc


def event_time(value: Any) -> datetime:
    """When an event happened, from a unix timestamp; now when the provider left it out."""
    try:
        return unix_time(value)
    except SignatureInvalid:
        return datetime.now(UTC)


def iso_time(value: Any, *, default: datetime | None = None) -> datetime:
    """An ISO 8601 time ("2024-05-01T10:10:10.123Z") as an aware datetime; now if missing or bad."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return default or datetime.now(UTC)


def text(value: Any, limit: int = 500) -> str | None:
    """A short, printable detail for the event row, or None."""
    if value is None or value == "":
        return None
    return str(value)[:limit]
