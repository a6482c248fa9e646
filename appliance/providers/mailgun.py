"""`mailgun`: email through Mailgun's Messages API (POST /v3/<domain>/messages).

The request is a multipart form: from, to, subject, text, html, `h:<Header>` for extra headers
and `v:<name>` for variables Mailgun carries into its events (`user-variables`). A domain lives
in one region: EU domains are served by https://api.eu.mailgun.net only.

Events: a webhook POSTs `{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}`;
the signature is hex HMAC-SHA256(webhook_signing_key, timestamp + token). A token is accepted
once per process, and only within ten minutes of its timestamp.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pydantic import Field

from .base import EmailMessage, Message, Outcome, ProviderContext, ProviderOptions
from .email_address import (
    BaseUrl,
    EmailApiOptions,
    Secret,
    as_email,
    correlation,
    excerpt,
    json_object,
    read_body,
    recipient,
    redacted,
)
from .events import (
    MAX_SIGNATURE_AGE,
    EventKind,
    EventsNotConfigured,
    InboundRequest,
    ProviderEvent,
    SignatureInvalid,
    check_fresh,
    event_time,
    text,
    unix_time,
)
from .http import HttpProvider, common_outcome, join_url

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

# "'to' parameter is not a valid address. please check documentation" (quotes vary by version).
_BAD_RECIPIENT = re.compile(r"\bto'? parameter is not a valid address|invalid recipient", re.IGNORECASE)


class MailgunOptions(EmailApiOptions):
    api_key: Secret
    domain: str = Field(pattern=r"^[A-Za-z0-9.-]+$")
    base_url: BaseUrl = "https://api.mailgun.net"
    webhook_signing_key: Secret | None = None


class MailgunProvider(HttpProvider):
    type_name: ClassVar[str] = "mailgun"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Options: ClassVar[type[ProviderOptions]] = MailgunOptions

    options: MailgunOptions

    def __init__(self, context: ProviderContext, options: ProviderOptions) -> None:
        super().__init__(context, options)
        self._tokens = SeenTokens()

    async def send(self, message: Message) -> Outcome:
        import aiohttp

        email = as_email(message, self.type_name)
        if isinstance(email, Outcome):
            return email
        options = self.options
        url = join_url(options.base_url, f"/v3/{quote(options.domain)}/messages")
        headers = {"Authorization": aiohttp.encode_basic_auth("api", options.api_key.get_secret_value())}

        async def post(session: aiohttp.ClientSession) -> Outcome:
            form = message_form(email, options)  # a FormData is consumed by one request
            async with session.post(url, data=form, headers=headers, allow_redirects=False) as response:
                return await classify(response, options)

        return redacted(await self.exchange(post, what="Mailgun"), options.api_key)

    async def parse_events(self, request: InboundRequest) -> list[ProviderEvent]:
        key = self.options.webhook_signing_key
        if key is None:
            raise EventsNotConfigured(
                f"set webhook_signing_key on provider {self.name}: Mailgun's HTTP webhook signing key"
            )
        payload = request.json()
        if not isinstance(payload, dict):
            raise SignatureInvalid("a Mailgun webhook body is a JSON object")
        verify_signature(payload.get("signature"), key.get_secret_value(), self._tokens)
        data = payload.get("event-data")
        event = event_of(data) if isinstance(data, dict) else None
        return [event] if event else []


class SeenTokens:
    """Tokens accepted in the last MAX_SIGNATURE_AGE (bounded): a replayed one is refused."""

    def __init__(self, limit: int = 10_000) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._limit = limit

    def first_use(self, token: str) -> bool:
        now = time.monotonic()
        while self._seen and (
            next(iter(self._seen.values())) < now - MAX_SIGNATURE_AGE.total_seconds()
            or len(self._seen) >= self._limit
        ):
            self._seen.popitem(last=False)
        if token in self._seen:
            return False
        self._seen[token] = now
        return True


def verify_signature(signature: Any, key: str, tokens: SeenTokens) -> None:
    if not isinstance(signature, dict):
        raise SignatureInvalid("the Mailgun webhook has no signature object")
    timestamp, token, given = (str(signature.get(name, "")) for name in ("timestamp", "token", "signature"))
    if not timestamp or not token or not given:
        raise SignatureInvalid("the Mailgun signature needs timestamp, token and signature")
    check_fresh(unix_time(timestamp))
    expected = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise SignatureInvalid("the Mailgun webhook signature does not match")
    if not tokens.first_use(token):
        raise SignatureInvalid("this Mailgun webhook token was already used; replay refused")


def event_of(data: dict[str, Any]) -> ProviderEvent | None:
    """One Mailgun event; None for those that change nothing (accepted, opened, temporary failures)."""
    name, severity, reason = data.get("event"), data.get("severity"), data.get("reason")
    if name == "delivered":
        kind, hard = EventKind.DELIVERED, False
    elif name == "complained":
        kind, hard = EventKind.COMPLAINED, False
    elif name == "failed" and severity == "permanent":
        bounced = reason in ("bounce", "suppress-bounce")
        kind, hard = (EventKind.BOUNCED, True) if bounced else (EventKind.FAILED, False)
    else:
        return None  # a temporary failure is retried by Mailgun
    variables = data.get("user-variables") if isinstance(data.get("user-variables"), dict) else {}
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    message_id = str(headers.get("message-id") or "").strip("<>")
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    return ProviderEvent(
        kind=kind,
        occurred_at=event_time(data.get("timestamp")),
        delivery_id=text(variables.get("clarion_delivery_id"), 64),
        provider_message_id=f"<{message_id}>" if message_id else None,  # the send API's form
        address=text(data.get("recipient"), 320),
        hard=hard,
        detail=text(status.get("description") or status.get("message") or reason),
    )


def message_form(message: EmailMessage, options: MailgunOptions) -> aiohttp.FormData:
    import aiohttp

    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("from", str(options.sender))
    form.add_field("to", str(recipient(message.to)))
    form.add_field("subject", message.subject)
    if message.text:
        form.add_field("text", message.text)
    if message.html:
        form.add_field("html", message.html)
    for name, value in message.headers.items():  # Reply-To too: h:Reply-To is Mailgun's way
        form.add_field(f"h:{name}", value)
    for name, value in correlation(message).items():
        form.add_field(f"v:{name}", value)
    return form


async def classify(response: aiohttp.ClientResponse, options: MailgunOptions) -> Outcome:
    """Sort Mailgun's answer by what the delivery engine should do next."""
    status = response.status
    raw = await read_body(response)
    if 200 <= status < 300:
        return Outcome.sent(json_object(raw).get("id"))  # "<20240501101010.1.ABC@mg.example.com>"
    reason = str(json_object(raw).get("message") or excerpt(raw))
    error = f"Mailgun answered HTTP {status}: {reason}"
    if status == 400 and _BAD_RECIPIENT.search(reason):
        return Outcome.invalid_recipient(error)
    if status == 401:
        return Outcome.permanent(
            f"Mailgun refused the API key; check api_key, and that base_url is the region of its "
            f"account (EU: https://api.eu.mailgun.net). {error}"
        )
    if status == 404:
        return Outcome.permanent(
            f"Mailgun does not know the domain {options.domain} at {options.base_url}; check domain, "
            f"and base_url for an EU domain (https://api.eu.mailgun.net). {error}"
        )
    return common_outcome(response, error) or Outcome.permanent(error)
