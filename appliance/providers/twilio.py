"""`twilio`: SMS through Twilio's Programmable Messaging API (REST 2010-04-01).

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth with the
account SID and auth token (or an API key SID and secret). A refusal is JSON
`{"code", "message", "more_info", "status"}`: the Twilio error code says more than the status.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import ConfigDict, Field, SecretStr, model_validator

from .base import Message, Outcome, ProviderContext, ProviderOptions, SmsMessage
from .http import HttpProvider, common_outcome, join_url, parse_retry_after, redact

_URL = r"^https?://[^/\s]+"
_MAX_ERROR_BYTES = 4096
# https://www.twilio.com/docs/api/errors: what each code means for the recipient or for us.
_INVALID_RECIPIENT = {
    21211: "not a valid phone number",
    21612: "cannot be reached by SMS from this sender",
    21614: "not a mobile number",
    21610: "unsubscribed: the recipient replied STOP and must text START to receive messages again",
}
_SLOW_DOWN = {20429, 21611, 30001}  # too many requests; the sender's queue is full; queue overflow
_BAD_CREDENTIALS = 20003


class TwilioOptions(ProviderOptions):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr | None = None
    api_key_sid: str | None = Field(default=None, pattern=r"^SK[0-9a-fA-F]{32}$")
    api_key_secret: SecretStr | None = None
    from_number: str | None = Field(default=None, alias="from")
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    status_callback: bool = True
    base_url: str = Field(default="https://api.twilio.com", pattern=_URL)

    @model_validator(mode="after")
    def _one_credential(self) -> TwilioOptions:
        if (self.api_key_sid is None) != (self.api_key_secret is None):
            raise ValueError("set both api_key_sid and api_key_secret, or neither")
        if self.auth_token is None and self.api_key_sid is None:
            raise ValueError("set auth_token, or api_key_sid and api_key_secret")
        return self

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioOptions:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError('set exactly one of "from" (a number or sender id) and messaging_service_sid')
        return self

    def authorization(self) -> str:
        """HTTP basic auth: the API key if there is one, else the account SID and auth token."""
        if self.api_key_sid is not None and self.api_key_secret is not None:
            return aiohttp.encode_basic_auth(self.api_key_sid, self.api_key_secret.get_secret_value())
        assert self.auth_token is not None
        return aiohttp.encode_basic_auth(self.account_sid, self.auth_token.get_secret_value())


class TwilioProvider(HttpProvider):
    type_name: ClassVar[str] = "twilio"
    channels: ClassVar[frozenset[str]] = frozenset({"sms"})
    Options: ClassVar[type[ProviderOptions]] = TwilioOptions

    options: TwilioOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, SmsMessage):
            return Outcome.permanent(f"twilio cannot send {message.channel} messages, only sms")
        options = self.options
        url = join_url(options.base_url, f"/2010-04-01/Accounts/{options.account_sid}/Messages.json")

        async def post(session: aiohttp.ClientSession) -> Outcome:
            async with session.post(
                url,
                data=self._form(message),
                headers={"Authorization": options.authorization()},
                allow_redirects=False,
            ) as response:
                return await classify(response)

        outcome = await self.exchange(post, what="Twilio")
        error = redact(outcome.error or "", options.auth_token, options.api_key_secret) or None
        return dataclasses.replace(outcome, error=error)

    def _form(self, message: SmsMessage) -> dict[str, str]:
        form = {"To": message.to, "Body": message.text}
        if self.options.from_number is not None:
            form["From"] = self.options.from_number
        else:
            form["MessagingServiceSid"] = self.options.messaging_service_sid or ""
        if self.options.status_callback:
            form["StatusCallback"] = status_callback_url(self.context)
        return form


def status_callback_url(context: ProviderContext) -> str:
    """Where the provider reports delivery receipts: Clarion's webhook route for this provider."""
    return f"{context.public_url.rstrip('/')}/v1/webhooks/{quote(context.name, safe='')}"


async def classify(response: aiohttp.ClientResponse) -> Outcome:
    """Sort Twilio's answer by what the delivery engine should do next."""
    raw = await response.content.read(_MAX_ERROR_BYTES)
    body = _json_object(raw)
    if 200 <= response.status < 300:
        return Outcome.sent(body.get("sid"))
    code = body.get("code")
    if isinstance(code, int):
        error = (
            f"Twilio error {code} (HTTP {response.status}): {body.get('message')} ({body.get('more_info')})"
        )
    else:
        error = f"HTTP {response.status}: {raw.decode('utf-8', 'replace')[:200]}"
    if code in _INVALID_RECIPIENT:
        return Outcome.invalid_recipient(f"the number is {_INVALID_RECIPIENT[code]}; {error}")
    if code in _SLOW_DOWN:
        return Outcome.rate_limited(
            error, parse_retry_after(response.headers.get("Retry-After"), now=datetime.now(UTC))
        )
    if code == _BAD_CREDENTIALS:
        return Outcome.permanent(
            f"Twilio refused our credentials; check account_sid and auth_token (or api_key_sid and "
            f"api_key_secret). {error}"
        )
    return common_outcome(response, error) or Outcome.permanent(error)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
