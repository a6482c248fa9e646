"""`twilio`: SMS through Twilio's Programmable Messaging API (REST 2010-04-01).

`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, form-encoded, HTTP basic auth with the
account SID and auth token (or an API key SID and secret). A refusal is JSON
`{"code", "message", "more_info", "status"}`: the Twilio error code says more than the status.

Events: status callbacks POST a form (MessageSid, MessageStatus, ErrorCode, To, ...) to
`status_callback_url`, signed in `X-Twilio-Signature`: base64 HMAC-SHA1 with the account's auth
token over the full URL followed by each form parameter's name and value, sorted by name.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, quote

from pydantic import ConfigDict, Field, SecretStr, model_validator

from .base import Message, Outcome, ProviderContext, ProviderOptions, SmsMessage
from .events import EventKind, EventsNotConfigured, InboundRequest, ProviderEvent, SignatureInvalid, text
from .http import HttpProvider, common_outcome, join_url, parse_retry_after, redact

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

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
# Delivery receipt error codes that mean the number will never receive: suppress it.
_HARD_FAILURES = {30005: "unknown destination handset", 30006: "landline or unreachable carrier"}


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
        import aiohttp

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

    async def parse_events(self, request: InboundRequest) -> list[ProviderEvent]:
        if self.options.auth_token is None:
            raise EventsNotConfigured(
                f"set auth_token on provider {self.name}: Twilio signs status callbacks with it"
            )
        params = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        verify_signature(request, params, self.options.auth_token.get_secret_value())
        event = event_of(dict(params))
        return [event] if event else []

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


def request_signature(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    """What Twilio puts in X-Twilio-Signature for a POST of `params` to `url`."""
    signed = url + "".join(name + value for name, value in sorted(params, key=lambda pair: pair[0]))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_signature(request: InboundRequest, params: list[tuple[str, str]], auth_token: str) -> None:
    given = request.headers.get("X-Twilio-Signature", "")
    expected = request_signature(request.url, params, auth_token)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid("X-Twilio-Signature does not match (check server.public_url and auth_token)")


def event_of(form: dict[str, str]) -> ProviderEvent | None:
    """A status callback; None for the steps before the end (queued, sent, ...)."""
    status = form.get("MessageStatus") or form.get("SmsStatus")
    code = int(form["ErrorCode"]) if form.get("ErrorCode", "").isdigit() else None
    if status == "delivered":
        kind = EventKind.DELIVERED
    elif status in ("undelivered", "failed"):
        kind = EventKind.FAILED
    else:
        return None
    detail = f"Twilio error {code}: {_HARD_FAILURES.get(code, status)}" if code else status
    return ProviderEvent(
        kind=kind,
        occurred_at=datetime.now(UTC),  # a status callback carries no time of its own
        provider_message_id=text(form.get("MessageSid") or form.get("SmsSid"), 255),
        address=text(form.get("To"), 32),
        hard=kind is EventKind.FAILED and code in _HARD_FAILURES,
        detail=text(detail),
    )


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
