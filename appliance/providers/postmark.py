"""`postmark`: email through Postmark's Email API (POST /email).

Every answer carries `{"ErrorCode", "Message"}`: ErrorCode 0 is success, and the code, not the
HTTP status, says what went wrong (10 bad server token, 300 invalid request, 406 inactive
recipient, ...).
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import aiohttp
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
from .http import HttpProvider, common_outcome, join_url

BAD_SERVER_TOKEN = 10
MAINTENANCE = 100
INVALID_EMAIL_REQUEST = 300
INACTIVE_RECIPIENT = 406  # hard bounce, spam complaint or manual suppression
# ErrorCode 300 is about the recipient when it names the To field: "Invalid 'To' address: ...".
_ABOUT_TO = re.compile(r"'To'|\bTo address|zero recipients", re.IGNORECASE)


class PostmarkOptions(EmailApiOptions):
    server_token: Secret
    message_stream: str = Field(default="outbound", min_length=1)
    base_url: BaseUrl = "https://api.postmarkapp.com"


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
