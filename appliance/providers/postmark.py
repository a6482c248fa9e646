"""`postmark`: email through Postmark's Email API (POST /email).

Every answer carries `{"ErrorCode", "Message"}`: ErrorCode 0 is success, and the code, not the
HTTP status, says what went wrong (10 bad server token, 300 invalid request, 406 inactive
recipient, ...).

Events: Postmark's webhooks POST one JSON record each (RecordType Delivery, Bounce,
SpamComplaint, ...). Postmark cannot sign them; it sends HTTP basic auth credentials written
into the webhook URL, checked against webhook_username and webhook_password.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from .base import EmailMessage, Message, Outcome, ProviderOptions
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
    split_reply_to,
)
from .events import (
    EventKind,
    EventsNotConfigured,
    InboundRequest,
    ProviderEvent,
    SignatureInvalid,
    iso_time,
    text,
)
from .http import HttpProvider, common_outcome, join_url

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

BAD_SERVER_TOKEN = 10
MAINTENANCE = 100
INVALID_EMAIL_REQUEST = 300
INACTIVE_RECIPIENT = 406  # hard bounce, spam complaint or manual suppression
# Bounce types (https://postmarkapp.com/developer/api/bounce-api#bounce-types): hard ones suppress.
HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
SOFT_BOUNCES = frozenset({"SoftBounce", "Undeliverable", "DnsError", "Blocked", "SMTPApiError"})
COMPLAINT_BOUNCES = frozenset({"SpamComplaint", "SpamNotification"})
# ErrorCode 300 is about the recipient when it names the To field: "Invalid 'To' address: ...".
_ABOUT_TO = re.compile(r"'To'|\bTo address|zero recipients", re.IGNORECASE)


class PostmarkOptions(EmailApiOptions):
    server_token: Secret
    message_stream: str = Field(default="outbound", min_length=1)
    base_url: BaseUrl = "https://api.postmarkapp.com"
    webhook_username: str | None = Field(default=None, min_length=1)
    webhook_password: Secret | None = None


class PostmarkProvider(HttpProvider):
    type_name: ClassVar[str] = "postmark"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Options: ClassVar[type[ProviderOptions]] = PostmarkOptions

    options: PostmarkOptions

    async def send(self, message: Message) -> Outcome:
        email = as_email(message, self.type_name)
        if isinstance(email, Outcome):
            return email
        url = join_url(self.options.base_url, "/email")
        headers = {
            "Accept": "application/json",
            "X-Postmark-Server-Token": self.options.server_token.get_secret_value(),
        }
        payload = email_body(email, self.options)

        async def post(session: aiohttp.ClientSession) -> Outcome:
            async with session.post(url, json=payload, headers=headers, allow_redirects=False) as response:
                return await classify(response)

        return redacted(await self.exchange(post, what="Postmark"), self.options.server_token)

    async def parse_events(self, request: InboundRequest) -> list[ProviderEvent]:
        username, password = self.options.webhook_username, self.options.webhook_password
        if username is None or password is None:
            raise EventsNotConfigured(
                f"set webhook_username and webhook_password on provider {self.name}, and the same "
                "credentials in the Postmark webhook URL"
            )
        verify_basic_auth(request.headers.get("Authorization", ""), username, password.get_secret_value())
        record = request.json()
        event = event_of(record) if isinstance(record, dict) else None
        return [event] if event else []


def verify_basic_auth(header: str, username: str, password: str) -> None:
    scheme, _, encoded = header.partition(" ")
    try:
        given = base64.b64decode(encoded.strip(), validate=True) if scheme.lower() == "basic" else b""
    except (binascii.Error, ValueError):
        given = b""
    expected = f"{username}:{password}".encode()
    if not given or not hmac.compare_digest(given, expected):
        raise SignatureInvalid("the Postmark webhook's basic auth credentials do not match")


def event_of(record: dict[str, Any]) -> ProviderEvent | None:
    """One Postmark record; None for those that change nothing (Open, Click, transient bounces)."""
    record_type, bounce_type = record.get("RecordType"), record.get("Type")
    hard = False
    if record_type == "Delivery":
        kind, when = EventKind.DELIVERED, record.get("DeliveredAt")
    elif record_type == "SpamComplaint" or (record_type == "Bounce" and bounce_type in COMPLAINT_BOUNCES):
        kind, when = EventKind.COMPLAINED, record.get("BouncedAt")
    elif record_type == "Bounce" and bounce_type in HARD_BOUNCES | SOFT_BOUNCES:
        kind, when, hard = EventKind.BOUNCED, record.get("BouncedAt"), bounce_type in HARD_BOUNCES
    else:
        return None
    metadata = record.get("Metadata") if isinstance(record.get("Metadata"), dict) else {}
    return ProviderEvent(
        kind=kind,
        occurred_at=iso_time(when),
        delivery_id=text(metadata.get("clarion_delivery_id"), 64),
        provider_message_id=text(record.get("MessageID"), 255),
        address=text(record.get("Recipient") or record.get("Email"), 320),
        hard=hard,
        detail=text(record.get("Description") or record.get("Details") or bounce_type),
    )


def email_body(message: EmailMessage, options: PostmarkOptions) -> dict[str, Any]:
    reply_to, headers = split_reply_to(message.headers)
    body: dict[str, Any] = {
        "From": str(options.sender),
        "To": str(recipient(message.to)),
        "Subject": message.subject,
        "MessageStream": options.message_stream,
        "Metadata": correlation(message),
    }
    if message.text:
        body["TextBody"] = message.text
    if message.html:
        body["HtmlBody"] = message.html
    if reply_to is not None:
        body["ReplyTo"] = reply_to
    if headers:
        body["Headers"] = [{"Name": name, "Value": value} for name, value in headers.items()]
    return body


async def classify(response: aiohttp.ClientResponse) -> Outcome:
    """Sort Postmark's answer by what the delivery engine should do next."""
    status = response.status
    raw = await read_body(response)
    answer = json_object(raw)
    code = answer.get("ErrorCode")
    if 200 <= status < 300 and code in (0, None):
        return Outcome.sent(answer.get("MessageID"))
    reason = str(answer.get("Message") or excerpt(raw))
    error = f"Postmark answered HTTP {status}, ErrorCode {code}: {reason}"
    if code == INACTIVE_RECIPIENT or (code == INVALID_EMAIL_REQUEST and _ABOUT_TO.search(reason)):
        return Outcome.invalid_recipient(error)
    if code == MAINTENANCE:
        return Outcome.retryable(error)
    if code == BAD_SERVER_TOKEN:
        return Outcome.permanent(f"Postmark refused the server token; check server_token. {error}")
    if isinstance(code, int) and (status == 422 or 200 <= status < 300):
        return Outcome.permanent(error)  # the request itself is wrong: sending it again cannot help
    return common_outcome(response, error) or Outcome.permanent(error)
