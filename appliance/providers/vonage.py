"""`vonage`: SMS through Vonage's (formerly Nexmo's) SMS API.

`POST /sms/json`, form-encoded, with `api_key` and `api_secret` in the body. Vonage answers
HTTP 200 even when it refuses: each message part carries its own `status` ("0" is success)
and `error-text`, documented at https://developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from pydantic import ConfigDict, Field, SecretStr

from .base import Message, Outcome, OutcomeKind, ProviderOptions, SmsMessage
from .http import HttpProvider, body_excerpt, common_outcome, join_url, redact

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

_URL = r"^https?://[^/\s]+"
_MAX_BODY_BYTES = 16384
_E164_DIGITS = re.compile(r"[1-9]\d{6,14}")
# GSM 03.38 default alphabet and its extension table; anything else needs type=unicode.
_GSM7 = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€\f"
)
_K = OutcomeKind
# The SMS API's status table: what each status means, and what to do next.
STATUSES: dict[str, tuple[OutcomeKind, str]] = {
    "1": (_K.RATE_LIMITED, "throttled: sending faster than the account's limit"),
    "2": (_K.PERMANENT, "missing parameters"),
    "3": (_K.PERMANENT, "invalid parameters"),
    "4": (_K.PERMANENT, "invalid credentials; check api_key and api_secret"),
    "5": (_K.RETRYABLE, "internal error at Vonage"),
    "6": (_K.PERMANENT, "invalid message: Vonage cannot route it (e.g. an unrecognised number prefix)"),
    "7": (_K.INVALID_RECIPIENT, "the number is barred"),
    "8": (_K.PERMANENT, "the Vonage account is barred"),
    "9": (_K.PERMANENT, "partner quota violation: top up the Vonage account"),
    "10": (_K.RATE_LIMITED, "too many simultaneous connections for the account"),
    "11": (_K.PERMANENT, "the account is not enabled for the SMS HTTP API"),
    "12": (_K.PERMANENT, "message too long"),
    "14": (_K.PERMANENT, "invalid signature"),
    "15": (_K.PERMANENT, 'invalid sender address; check "from"'),
    "22": (_K.PERMANENT, "invalid network code"),
    "23": (_K.PERMANENT, "invalid callback URL; check server.public_url or set status_callback: false"),
    "29": (_K.PERMANENT, "non-whitelisted destination: a trial account only sends to its test numbers"),
    "32": (_K.PERMANENT, "signature and api_secret disallowed: the account requires signed requests"),
    "33": (_K.INVALID_RECIPIENT, "the number is de-activated"),
}


class VonageOptions(ProviderOptions):
    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True)

    api_key: str = Field(min_length=1)
    api_secret: SecretStr
    from_sender: str = Field(alias="from", min_length=1)
    status_callback: bool = True
    base_url: str = Field(default="https://rest.nexmo.com", pattern=_URL)


class VonageProvider(HttpProvider):
    type_name: ClassVar[str] = "vonage"
    channels: ClassVar[frozenset[str]] = frozenset({"sms"})
    Options: ClassVar[type[ProviderOptions]] = VonageOptions

    options: VonageOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, SmsMessage):
            return Outcome.permanent(f"vonage cannot send {message.channel} messages, only sms")
        to = vonage_number(message.to)
        if to is None:
            return Outcome.invalid_recipient(f"{message.to!r} is not an international (E.164) phone number")
        form = self._form(message, to)

        async def post(session: aiohttp.ClientSession) -> Outcome:
            url = join_url(self.options.base_url, "/sms/json")
            async with session.post(url, data=form, allow_redirects=False) as response:
                return await classify(response)

        outcome = await self.exchange(post, what="Vonage")
        error = redact(outcome.error or "", self.options.api_secret) or None
        return dataclasses.replace(outcome, error=error)

    def _form(self, message: SmsMessage, to: str) -> dict[str, str]:
        form = {
            "api_key": self.options.api_key,
            "api_secret": self.options.api_secret.get_secret_value(),
            "from": self.options.from_sender,
            "to": to,
            "text": message.text,
            "type": "text" if set(message.text) <= _GSM7 else "unicode",
            "client-ref": message.envelope.delivery_id,
        }
        if self.options.status_callback:
            name = quote(self.context.name, safe="")
            form["callback"] = f"{self.context.public_url.rstrip('/')}/v1/webhooks/{name}"
        return form


def vonage_number(number: str) -> str | None:
    """E.164 as Vonage wants it: digits only, no "+" or "00" prefix; None if it is not E.164."""
    digits = re.sub(r"[\s().-]", "", number)
    for prefix in ("+", "00"):
        if digits.startswith(prefix):
            digits = digits[len(prefix) :]
            break
    return digits if _E164_DIGITS.fullmatch(digits) else None


async def classify(response: aiohttp.ClientResponse) -> Outcome:
    """Sort Vonage's answer: an HTTP failure, or the first message part that was refused."""
    if response.status != 200:
        error = f"HTTP {response.status}: {await body_excerpt(response)}"
        return common_outcome(response, error) or Outcome.permanent(error)
    parts = _json_object(await response.content.read(_MAX_BODY_BYTES)).get("messages")
    if not isinstance(parts, list) or not parts or not all(isinstance(part, dict) for part in parts):
        return Outcome.retryable("Vonage answered 200 without a messages list")
    for part in parts:
        status = str(part.get("status"))
        if status != "0":
            kind, meaning = STATUSES.get(status, (_K.PERMANENT, "undocumented status"))
            return Outcome(kind, error=f"Vonage status {status} ({meaning}): {part.get('error-text')}")
    return Outcome.sent(parts[0].get("message-id"))


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
