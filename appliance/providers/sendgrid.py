"""`sendgrid`: email through SendGrid's v3 Mail Send API (POST /v3/mail/send).

202 means queued, and the `X-Message-Id` header names the message (SendGrid's event webhook
reports it as the prefix of `sg_message_id`). Errors come as `{"errors": [{"message", "field"}]}`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import aiohttp

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
from .http import HttpProvider, common_outcome, join_url, parse_retry_after

# The field SendGrid names when the recipient's address is the problem.
_RECIPIENT_FIELD = re.compile(r"personalizations\.\d+\.to(\.\d+\.email)?")


class SendGridOptions(EmailApiOptions):
    api_key: Secret
    base_url: BaseUrl = "https://api.sendgrid.com"


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
