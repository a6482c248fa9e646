"""`mailgun`: email through Mailgun's Messages API (POST /v3/<domain>/messages).

The request is a multipart form: from, to, subject, text, html, `h:<Header>` for extra headers
and `v:<name>` for variables Mailgun carries into its events (`user-variables`). A domain lives
in one region: EU domains are served by https://api.eu.mailgun.net only.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import quote

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
)
from .http import HttpProvider, common_outcome, join_url

# "'to' parameter is not a valid address. please check documentation" (quotes vary by version).
_BAD_RECIPIENT = re.compile(r"\bto'? parameter is not a valid address|invalid recipient", re.IGNORECASE)


class MailgunOptions(EmailApiOptions):
    api_key: Secret
    domain: str = Field(pattern=r"^[A-Za-z0-9.-]+$")
    base_url: BaseUrl = "https://api.mailgun.net"


class MailgunProvider(HttpProvider):
    type_name: ClassVar[str] = "mailgun"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Options: ClassVar[type[ProviderOptions]] = MailgunOptions

    options: MailgunOptions

    async def send(self, message: Message) -> Outcome:
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


def message_form(message: EmailMessage, options: MailgunOptions) -> aiohttp.FormData:
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
