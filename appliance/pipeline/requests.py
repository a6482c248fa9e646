"""What callers send us: the request bodies of the REST API, as typed values.

msgspec decodes and validates them (Litestar's native format); the messages it produces
name the field at fault, and the web layer turns them into problem+json.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from ..errors import InvalidRequest, RequestRejected

ExternalId = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^[^\s/]+$")]
Email = Annotated[str, msgspec.Meta(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Phone = Annotated[str, msgspec.Meta(pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164, e.g. +14155550100")]
Locale = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$", max_length=35)]
TimeZone = Annotated[str, msgspec.Meta(max_length=64, description="IANA name, e.g. Europe/Paris")]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
IdempotencyKey = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class RecipientIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A recipient by your own id; any other field given creates or updates the profile."""

    id: ExternalId
    email: Email | None = None
    phone: Phone | None = None
    locale: Locale | None = None
    timezone: TimeZone | None = None
    attributes: dict[str, Any] | None = None

    def profile_fields(self) -> dict[str, Any]:
        fields = {
            name: getattr(self, name) for name in ("email", "phone", "locale", "timezone", "attributes")
        }
        return {name: value for name, value in fields.items() if value is not None}

    def check(self, field: str = "") -> None:
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise RequestRejected(f"{field}timezone", f"unknown time zone {self.timezone!r}") from None


TopicKey = Annotated[
    str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="a topic's key, e.g. newsletter")
]


class AddressIn(RecipientIn, forbid_unknown_fields=True, omit_defaults=True):
    """Whom a notification goes to: one recipient by `id` (with any profile fields), or every
    subscriber of a `topic`."""

    id: ExternalId | None = None  # type: ignore[assignment]  # optional here: a topic needs none
    topic: TopicKey | None = None

    def check(self, field: str = "") -> None:
        if self.topic is not None and (self.id is not None or self.profile_fields()):
            raise RequestRejected(f"{field}topic", "a notification to a topic names only `topic`")
        if self.topic is None and self.id is None:
            raise RequestRejected(f"{field}id", "give `id` (your id for the recipient) or `topic`")
        super().check(field)


class NotificationIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    to: AddressIn
    category: Name
    template: Name
    data: dict[str, Any] = {}
    idempotency_key: IdempotencyKey | None = None
    send_at: Annotated[datetime, msgspec.Meta(tz=True)] | None = None  # ISO 8601 with an offset


class BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    notifications: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=1000)]


class DeviceIn(msgspec.Struct, forbid_unknown_fields=True):
    platform: Annotated[
        str, msgspec.Meta(pattern=r"^(fcm|apns|webpush)$", description="fcm, apns or webpush")
    ]
    token: Annotated[str, msgspec.Meta(min_length=8, max_length=4096)]


class PreferencesIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only what is given changes; a channel left out keeps its setting."""

    unsubscribed_all: bool | None = None
    categories: dict[str, Annotated[dict[str, bool], msgspec.Meta(description="channel -> receive it")]] = {}

    def channels(self) -> dict[tuple[str, str], bool]:
        return {
            (category, channel): enabled
            for category, settings in self.categories.items()
            for channel, enabled in settings.items()
        }


UnsubscribeToken = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class UnsubscribeIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """The token of an unsubscribe link, or the subject of the mail sent to its `mailto:` target."""

    token: UnsubscribeToken | None = None
    subject: (
        Annotated[str, msgspec.Meta(max_length=2000, description="the mail's subject: `unsubscribe <token>`")]
        | None
    ) = None


# What a pattern mismatch means, per field, in words rather than a regular expression.
_PATTERN_HINTS = {
    "id": "must be 1-255 characters without spaces or slashes",
    "email": "must be an email address such as alice@example.com",
    "phone": "must be an E.164 phone number such as +14155550100",
    "locale": "must be a language tag such as fr or fr-CA",
    "platform": "must be one of fcm, apns or webpush",
}

_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`")
_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def decode_item(raw: Any, kind: type[msgspec.Struct], prefix: str = "") -> Any:
    """Validate one already-parsed JSON value; raises RequestRejected naming the field."""
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        field, message = msgspec_field(str(exc))
        raise InvalidRequest(f"{prefix}{field}".rstrip(".") or "body", message) from None


def msgspec_field(message: str, at: str = "") -> tuple[str, str]:
    """'Object missing required field `x` - at `$.to`' -> ('to.x', 'Object missing required field `x`').

    `at` is the path when the caller already split it off the message (Litestar does).
    """
    found = _AT_PATH.search(message)
    path = found.group(1) if found else at
    text = _AT_PATH.sub("", message)
    named = _NAMED_FIELD.search(text)
    if named and ("missing" in text or "unknown" in text):
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    hint = _PATTERN_HINTS.get(path.rsplit(".", 1)[-1])
    if hint and "matching regex" in text:
        text = hint
    return path, text
