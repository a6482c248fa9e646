"""`webhook`: POST a signed JSON event to the operator's own endpoint.

Signed like Stripe, so receivers can reuse what they know:
`X-Clarion-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`.
The timestamp is inside the MAC so a captured request cannot be replayed later; receivers
check it with `verify_signature` (or its few lines ported to their language).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from .base import Message, Outcome, ProviderOptions, WebhookMessage
from .http import HttpProvider, body_excerpt, common_outcome

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

SIGNATURE_HEADER = "X-Clarion-Signature"
DELIVERY_HEADER = "X-Clarion-Delivery"
USER_AGENT = "Clarion-Webhook/1"
_OWN_HEADERS = frozenset(name.lower() for name in (SIGNATURE_HEADER, DELIVERY_HEADER, "Content-Type"))


class WebhookOptions(ProviderOptions):
    url: str
    secret: SecretStr
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://example.com/hooks")
        return url

    @field_validator("secret")
    @classmethod
    def _secret_not_empty(cls, secret: SecretStr) -> SecretStr:
        if not secret.get_secret_value():
            raise ValueError("must not be empty: receivers verify signatures with it")
        return secret

    @field_validator("headers")
    @classmethod
    def _no_own_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        clashing = sorted(name for name in headers if name.lower() in _OWN_HEADERS)
        if clashing:
            raise ValueError(f"{', '.join(clashing)} is set by Clarion on every request; remove it")
        broken = sorted(name for name, value in headers.items() if "\r" in value or "\n" in value)
        if broken:
            raise ValueError(f"{', '.join(broken)}: a header value must be on one line")
        return headers


class WebhookProvider(HttpProvider):
    type_name: ClassVar[str] = "webhook"
    channels: ClassVar[frozenset[str]] = frozenset({"webhook"})
    Options: ClassVar[type[ProviderOptions]] = WebhookOptions

    options: WebhookOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, WebhookMessage):
            return Outcome.permanent(f"webhook cannot send {message.channel} messages, only webhook")
        now = time.time()
        try:
            body = json.dumps(_payload(message, now), separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            return Outcome.permanent(f"the notification data cannot be sent as JSON: {exc}")
        headers = self._headers(message, body, now)

        async def post(session: aiohttp.ClientSession) -> Outcome:
            # A redirected POST silently becomes a GET: make the operator fix the URL instead.
            async with session.post(
                self.options.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return await classify(response, message.envelope.delivery_id)

        return await self.exchange(post, what="the endpoint")

    def _headers(self, message: WebhookMessage, body: bytes, now: float) -> dict[str, str]:
        return {
            **self.options.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: message.envelope.delivery_id,
            SIGNATURE_HEADER: sign(self.options.secret.get_secret_value(), body, timestamp=int(now)),
        }


def _payload(message: WebhookMessage, now: float) -> dict[str, Any]:
    envelope = message.envelope
    return {
        "id": envelope.delivery_id,
        "notification_id": envelope.notification_id,
        "recipient_id": envelope.recipient_id,
        "category": envelope.category,
        "template": envelope.template,
        "text": message.text,
        "data": envelope.data,
        "sent_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


async def classify(response: aiohttp.ClientResponse, delivery_id: str) -> Outcome:
    """Sort the endpoint's answer by what the delivery engine should do next."""
    status = response.status
    if 200 <= status < 300:
        return Outcome.sent(response.headers.get("X-Request-Id") or delivery_id)
    error = f"HTTP {status}: {await body_excerpt(response)}"
    if status == 410:
        return Outcome.invalid_recipient(f"the endpoint is gone; {error}")
    if 300 <= status < 400:
        location = response.headers.get("Location", "?")
        return Outcome.permanent(f"the endpoint redirects to {location}; set url to it. {error}")
    return common_outcome(response, error) or Outcome.permanent(error)


def sign(secret: str, body: bytes, *, timestamp: int) -> str:
    """The X-Clarion-Signature value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_mac(secret, body, timestamp)}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float, tolerance_s: int = 300) -> bool:
    """True if `header` signs `body` with `secret` and was made within `tolerance_s` of `now`.

    Several v1 entries are accepted so a sender can sign with an old and a new secret
    while receivers rotate.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or abs(now - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, body, timestamp)
    # Check every candidate, so timing does not reveal which one matched.
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in candidates]
    return any(matches)


def _mac(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
