"""`sendgrid`: email through SendGrid's v3 Mail Send API (POST /v3/mail/send).

202 means queued, and the `X-Message-Id` header names the message (SendGrid's event webhook
reports it as the prefix of `sg_message_id`). Errors come as `{"errors": [{"message", "field"}]}`.

Events: the signed Event Webhook POSTs a JSON array of events, signed with ECDSA P-256 over
`X-Twilio-Email-Event-Webhook-Timestamp` + the raw body; the signature (base64 DER) is in
`X-Twilio-Email-Event-Webhook-Signature`, checked with `event_public_key`. Our `custom_args`
come back as top-level fields of each event.

cryptography is imported where a key is read or a signature checked: a scaled API replica loads
this module to check the options, and most never see a SendGrid event (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator

from .base import EmailMessage, Message, Outcome, ProviderOptions
from .email_address import (
    BaseUrl,
    EmailApiOptions,
    Mailbox,
    Secret,
    as_email,
    correlation,
    excerpt,
    json_object,
    read_body,
    recipient,
    redacted,
    split_reply_to,
)
from .events import (
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
from .http import HttpProvider, common_outcome, join_url, parse_retry_after

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp
    from cryptography.hazmat.primitives.asymmetric import ec

# The field SendGrid names when the recipient's address is the problem.
_RECIPIENT_FIELD = re.compile(r"personalizations\.\d+\.to(\.\d+\.email)?")


SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def load_event_key(value: str) -> ec.EllipticCurvePublicKey:
    """The Event Webhook's verification key: base64 DER as SendGrid shows it, or PEM."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

    value = value.strip()
    try:
        if value.startswith("-----BEGIN"):
            key = load_pem_public_key(value.encode())
        else:
            key = load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError(
            "is not a public key: paste the verification key SendGrid shows under Mail Settings > "
            "Event Webhook > Signature Verification (base64), or a PEM public key"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("must be an ECDSA public key (SendGrid signs events with ECDSA P-256)")
    return key


def _event_key(value: str | None) -> str | None:
    if value is not None:
        load_event_key(value)
    return value


class SendGridOptions(EmailApiOptions):
    api_key: Secret
    base_url: BaseUrl = "https://api.sendgrid.com"
    event_public_key: Annotated[str | None, AfterValidator(_event_key)] = None


class SendGridProvider(HttpProvider):
    type_name: ClassVar[str] = "sendgrid"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Options: ClassVar[type[ProviderOptions]] = SendGridOptions

    options: SendGridOptions

    async def send(self, message: Message) -> Outcome:
        email = as_email(message, self.type_name)
        if isinstance(email, Outcome):
            return email
        url = join_url(self.options.base_url, "/v3/mail/send")
        headers = {"Authorization": f"Bearer {self.options.api_key.get_secret_value()}"}
        payload = mail_send_body(email, self.options)

        async def post(session: aiohttp.ClientSession) -> Outcome:
            async with session.post(url, json=payload, headers=headers, allow_redirects=False) as response:
                return await classify(response)

        return redacted(await self.exchange(post, what="SendGrid"), self.options.api_key)

    async def parse_events(self, request: InboundRequest) -> list[ProviderEvent]:
        if self.options.event_public_key is None:
            raise EventsNotConfigured(
                f"set event_public_key on provider {self.name}: the Event Webhook's verification key"
            )
        verify_event_signature(request, load_event_key(self.options.event_public_key))
        payload = request.json()
        if not isinstance(payload, list):
            raise SignatureInvalid("a SendGrid event batch is a JSON array")
        return [event for item in payload if isinstance(item, dict) and (event := event_of(item))]


def verify_event_signature(request: InboundRequest, key: ec.EllipticCurvePublicKey) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    signature, timestamp = request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required")
    check_fresh(unix_time(timestamp))
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            timestamp.encode() + request.body,
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureInvalid("the SendGrid event signature does not match") from exc


def event_of(item: dict[str, Any]) -> ProviderEvent | None:
    """One SendGrid event; None for those that do not change a delivery (processed, open, ...)."""
    name = item.get("event")
    if name == "delivered":
        kind, hard = EventKind.DELIVERED, False
    elif name == "bounce":  # type "bounce" is a hard bounce; "blocked" a refusal for now
        kind, hard = EventKind.BOUNCED, item.get("type", "bounce") == "bounce"
    elif name == "dropped":
        kind, hard = EventKind.FAILED, False
    elif name == "spamreport":
        kind, hard = EventKind.COMPLAINED, False
    else:
        return None
    message_id = str(item.get("sg_message_id") or "").split(".", 1)[0] or None
    return ProviderEvent(
        kind=kind,
        occurred_at=event_time(item.get("timestamp")),
        delivery_id=text(item.get("clarion_delivery_id"), 64),
        provider_message_id=message_id,
        address=text(item.get("email"), 320),
        hard=hard,
        detail=text(item.get("reason") or item.get("response") or item.get("type")),
    )


def mail_send_body(message: EmailMessage, options: SendGridOptions) -> dict[str, Any]:
    reply_to, headers = split_reply_to(message.headers)
    # SendGrid requires text/plain first when both parts are present.
    content = [
        {"type": kind, "value": value}
        for kind, value in (("text/plain", message.text), ("text/html", message.html))
        if value
    ]
    body: dict[str, Any] = {
        "personalizations": [{"to": [_address(recipient(message.to))]}],
        "from": _address(options.sender),
        "subject": message.subject,
        "content": content,
        "custom_args": correlation(message),
    }
    if reply_to is not None:
        body["reply_to"] = _address(recipient(reply_to))
    if headers:
        body["headers"] = headers
    return body


def _address(mailbox: Mailbox) -> dict[str, str]:
    return {"email": mailbox.email, "name": mailbox.name} if mailbox.name else {"email": mailbox.email}


async def classify(response: aiohttp.ClientResponse) -> Outcome:
    """Sort SendGrid's answer by what the delivery engine should do next."""
    status = response.status
    if 200 <= status < 300:  # 202 queued; 200 in sandbox mode
        return Outcome.sent(response.headers.get("X-Message-Id"))
    raw = await read_body(response)
    errors = [e for e in json_object(raw).get("errors", []) if isinstance(e, dict)]
    reasons = "; ".join(str(e.get("message")) for e in errors) or excerpt(raw)
    error = f"SendGrid answered HTTP {status}: {reasons}"
    if status == 400 and any(_RECIPIENT_FIELD.fullmatch(str(e.get("field"))) for e in errors):
        return Outcome.invalid_recipient(error)
    if status == 401:
        return Outcome.permanent(f"SendGrid refused the API key; check api_key. {error}")
    if status == 403:
        return Outcome.permanent(
            f"SendGrid refused to send; check that api_key has the Mail Send permission and that "
            f"`from` is a verified sender. {error}"
        )
    if status == 413:
        return Outcome.permanent(f"the message is larger than SendGrid accepts (30 MB in all). {error}")
    if status == 429:
        return Outcome.rate_limited(error, _retry_after(response))
    return common_outcome(response, error) or Outcome.permanent(error)


def _retry_after(response: aiohttp.ClientResponse) -> timedelta | None:
    """Retry-After if sent, else SendGrid's X-RateLimit-Reset (the unix time the window resets)."""
    now = datetime.now(UTC)
    if (after := parse_retry_after(response.headers.get("Retry-After"), now=now)) is not None:
        return after
    reset = response.headers.get("X-RateLimit-Reset", "").strip()
    if reset.isascii() and reset.isdigit():
        return max(datetime.fromtimestamp(int(reset), UTC) - now, timedelta(0))
    return None
