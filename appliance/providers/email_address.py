"""What the email API providers (sendgrid, mailgun, postmark, ses) share.

The sender is one mailbox, "Clarion <no-reply@example.com>", parsed here once; `base_url` is
an http(s) URL; a message must have a body and one-line headers before any API sees it; an
error body is read whole (bounded) because the reason is inside its JSON; and no outcome may
carry a secret back to the logs or the UI.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from email.utils import formataddr, getaddresses
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field, SecretStr

from .base import EmailMessage, Message, Outcome, ProviderOptions
from .http import ERROR_BODY_CHARS, redact

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

BODY_LIMIT_BYTES = 64 * 1024
# RFC 5322 field names: printable ASCII except the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")


@dataclass(frozen=True)
class Mailbox:
    email: str
    name: str = ""

    def __str__(self) -> str:
        """The RFC 5322 form: a name with specials is quoted, a non-ASCII name RFC 2047-encoded."""
        if not self.name:
            return self.email
        # formataddr refuses a non-ASCII address (RFC 6531), so let it format the name alone.
        name = formataddr((self.name, "x@invalid")).removesuffix(" <x@invalid>")
        return f"{name} <{self.email}>"


def parse_mailbox(text: str) -> Mailbox:
    """'Clarion <no-reply@example.com>' or a bare address → Mailbox; ValueError unless exactly one."""
    found = [(name, address) for name, address in getaddresses([text]) if address]
    if len(found) != 1:
        raise ValueError(f'{text!r} is not one address like "Clarion <no-reply@example.com>"')
    name, address = found[0]
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise ValueError(f"{address!r} is not an email address: it needs a local part, @ and a domain")
    return Mailbox(email=address, name=name)


def recipient(to: str) -> Mailbox:
    """The recipient as a Mailbox; an address we cannot parse goes as written, for the API to judge."""
    try:
        return parse_mailbox(to)
    except ValueError:
        return Mailbox(email=to.strip())


def _one_mailbox(text: str) -> str:
    parse_mailbox(text)
    return text


def _http_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(
            "must be an http:// or https:// URL with a host and no query, e.g. https://proxy:8443"
        )
    return url.rstrip("/")


def _not_empty(secret: SecretStr) -> SecretStr:
    if not secret.get_secret_value():
        raise ValueError("must not be empty")
    return secret


BaseUrl = Annotated[str, AfterValidator(_http_url)]
Secret = Annotated[SecretStr, AfterValidator(_not_empty)]


class EmailApiOptions(ProviderOptions):
    """The keys every email API provider has besides its credentials and `base_url`."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    from_address: Annotated[str, AfterValidator(_one_mailbox)] = Field(alias="from")

    @property
    def sender(self) -> Mailbox:
        return parse_mailbox(self.from_address)


def as_email(message: Message, provider: str) -> EmailMessage | Outcome:
    """The message if an email API can take it, else the permanent outcome saying why not."""
    if not isinstance(message, EmailMessage):
        return Outcome.permanent(f"{provider} cannot send {message.channel} messages, only email")
    if not message.text and not message.html:
        return Outcome.permanent("cannot build the email: it has neither a text nor an HTML body")
    for name, value in message.headers.items():
        if not _HEADER_NAME.fullmatch(name):
            return Outcome.permanent(f"cannot build the email: {name!r} is not a valid header name")
        if "\r" in value or "\n" in value:
            return Outcome.permanent(f"cannot build the email: header {name} must be on one line")
    return message


def split_reply_to(headers: dict[str, str]) -> tuple[str | None, dict[str, str]]:
    """A template's Reply-To header, and the other headers: the APIs take Reply-To as a field."""
    reply_to = next((value for name, value in headers.items() if name.lower() == "reply-to"), None)
    return reply_to, {name: value for name, value in headers.items() if name.lower() != "reply-to"}


def correlation(message: EmailMessage) -> dict[str, str]:
    """Ids the provider carries into its event webhooks, so events can be matched to deliveries."""
    envelope = message.envelope
    return {"clarion_delivery_id": envelope.delivery_id, "clarion_notification_id": envelope.notification_id}


async def read_body(response: aiohttp.ClientResponse) -> bytes:
    """The body up to BODY_LIMIT_BYTES: enough for any API's JSON answer, bounded for an HTML page."""
    chunks: list[bytes] = []
    size = 0
    while size < BODY_LIMIT_BYTES and (chunk := await response.content.read(BODY_LIMIT_BYTES - size)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def json_object(raw: bytes) -> dict[str, Any]:
    """The body's JSON object, or {} for anything else (a proxy's HTML error page, say)."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def excerpt(raw: bytes) -> str:
    return raw[: ERROR_BODY_CHARS * 4].decode("utf-8", "replace")[:ERROR_BODY_CHARS]


def redacted(outcome: Outcome, *secrets: Any) -> Outcome:
    """The outcome with every secret masked in its error: an API may echo what we sent."""
    if outcome.error is None:
        return outcome
    return replace(outcome, error=redact(outcome.error, *secrets))
