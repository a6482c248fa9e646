"""`apns`: push to Apple devices with the APNs provider API, HTTP/2 and token-based auth.

`POST /3/device/{token}` over one pooled HTTP/2 connection (httpx; aiohttp has no HTTP/2),
authorised by `authorization: bearer <JWT>`: ES256-signed with the team's .p8 key, header
`kid` = key id, claims `iss` = team id and `iat`. Apple refuses a JWT older than an hour and
one refreshed more often than every 20 minutes (TooManyProviderTokenUpdates), so ours is
re-minted once it is 50 minutes old, or once when APNs calls it expired or invalid.
A refusal is `{"reason": "BadDeviceToken"}` and the like.

httpx, PyJWT and cryptography are imported where they are first used: a scaled API replica loads
this module to check the options, and sends nothing (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import Message, Outcome, Provider, ProviderOptions, PushMessage
from .http import join_url, parse_retry_after, redact
from .push_tokens import send_each, short

if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric import ec

JWT_MAX_AGE_S = 50 * 60
_URL = r"^https?://[^/\s]+"
_APPLE_ID = r"^[A-Z0-9]{10}$"
_STALE_JWT = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})
_DEAD_TOKEN = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered", "ExpiredToken"})


class ApnsOptions(ProviderOptions):
    team_id: str = Field(pattern=_APPLE_ID)
    key_id: str = Field(pattern=_APPLE_ID)
    key_file: str | None = None
    key_pem: SecretStr | None = None
    topic: str = Field(min_length=1)  # the app's bundle id
    base_url: str = Field(default="https://api.push.apple.com", pattern=_URL)
    priority: Literal["high", "normal"] = "high"
    normal_priority_categories: frozenset[str] = frozenset()
    collapse_by_template: bool = False
    ttl_s: int = Field(default=86400, ge=0)  # 0: deliver now or never
    ca_file: str | None = None

    @model_validator(mode="after")
    def _one_key(self) -> ApnsOptions:
        if (self.key_file is None) == (self.key_pem is None):
            raise ValueError("set exactly one of key_file and key_pem")
        return self

    @field_validator("key_pem")
    @classmethod
    def _is_a_p8_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            load_p8(value.get_secret_value().encode())
        return value


class ApnsProvider(Provider):
    type_name: ClassVar[str] = "apns"
    channels: ClassVar[frozenset[str]] = frozenset({"push"})
    Options: ClassVar[type[ProviderOptions]] = ApnsOptions

    options: ApnsOptions
    clock: Callable[[], float] = time.time  # unix seconds; a test may wind it forward
    _client: httpx.AsyncClient | None = None
    _key: ec.EllipticCurvePrivateKey | None = None
    _jwt: tuple[str, float] | None = None  # the provider token and when it was minted

    async def start(self) -> None:
        self.client()

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            verify: ssl.SSLContext | bool = True
            if self.options.ca_file is not None:
                verify = ssl.create_default_context(cafile=self.options.ca_file)
            timeout = httpx.Timeout(self.context.timeout.total_seconds())
            self._client = httpx.AsyncClient(http2=True, verify=verify, timeout=timeout)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, PushMessage):
            return Outcome.permanent(f"apns cannot send {message.channel} messages, only push")
        try:
            self.client()
            self.provider_token()
        except (OSError, ValueError) as exc:
            return Outcome.permanent(f"cannot set up APNs: {exc}")
        payload = json.dumps(
            {
                **message.data,
                "aps": {"alert": {"title": message.title, "body": message.body}, "sound": "default"},
            }
        ).encode()
        headers = self._headers(message)
        outcome = await send_each(message.tokens, lambda token: self._send_one(token, payload, headers))
        secrets = (self.options.key_pem, self._jwt[0] if self._jwt else None)
        return dataclasses.replace(outcome, error=redact(outcome.error or "", *secrets) or None)

    async def _send_one(self, token: str, payload: bytes, headers: dict[str, str]) -> Outcome:
        import httpx

        url = join_url(self.options.base_url, f"/3/device/{quote(token, safe='')}")
        for attempt in (1, 2):
            bearer = self.provider_token()
            try:
                async with asyncio.timeout(self.context.timeout.total_seconds()):
                    response = await self.client().post(
                        url, content=payload, headers={**headers, "authorization": f"bearer {bearer}"}
                    )
            except (TimeoutError, httpx.TimeoutException):
                return Outcome.retryable(
                    f"APNs did not answer within {self.context.timeout.total_seconds():g}s"
                )
            except httpx.TransportError as exc:
                return _transport_failure(exc)
            reason = _reason(response)
            if response.status_code == 403 and reason in _STALE_JWT and attempt == 1:
                self._forget(bearer)
                continue
            return classify(response, reason, token, bearer)
        raise AssertionError("unreachable: the second attempt always returns")

    def _headers(self, message: PushMessage) -> dict[str, str]:
        options = self.options
        normal = (
            options.priority == "normal" or message.envelope.category in options.normal_priority_categories
        )
        headers = {
            "apns-topic": options.topic,
            "apns-push-type": "alert",
            "apns-priority": "5" if normal else "10",
            "apns-expiration": str(int(self.clock()) + options.ttl_s) if options.ttl_s else "0",
        }
        if options.collapse_by_template:
            headers["apns-collapse-id"] = message.envelope.template.encode()[:64].decode("utf-8", "ignore")
        return headers

    def provider_token(self) -> str:
        """The cached JWT, or a new one if it is 50 minutes old or APNs refused it."""
        now = self.clock()
        if self._jwt is not None and now - self._jwt[1] < JWT_MAX_AGE_S:
            return self._jwt[0]
        import jwt

        claims = {"iss": self.options.team_id, "iat": int(now)}
        token = jwt.encode(
            claims, self._signing_key(), algorithm="ES256", headers={"kid": self.options.key_id}
        )
        self._jwt = (token, now)
        return token

    def _forget(self, token: str) -> None:
        if self._jwt is not None and self._jwt[0] == token:  # another send may have replaced it already
            self._jwt = None

    def _signing_key(self) -> ec.EllipticCurvePrivateKey:
        if self._key is None:
            if self.options.key_file is not None:
                self._key = load_p8(Path(self.options.key_file).read_bytes())
            else:
                assert self.options.key_pem is not None
                self._key = load_p8(self.options.key_pem.get_secret_value().encode())
        return self._key


def load_p8(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """The APNs auth key (AuthKey_<key id>.p8): a PKCS#8 PEM P-256 private key."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError("the APNs key must be the P-256 .p8 auth key downloaded from developer.apple.com")
    return key


def classify(response: httpx.Response, reason: str, token: str, bearer: str) -> Outcome:
    """Sort APNs's answer for one device token by what the delivery engine should do next."""
    status = response.status_code
    if status == 200:
        return Outcome.sent(response.headers.get("apns-id"))
    error = f"HTTP {status} {reason or redact(response.text, bearer)[:200]}"
    if status == 410 or reason in _DEAD_TOKEN:
        hint = (
            " (or a development token sent to production: check base_url)"
            if reason == "BadDeviceToken"
            else ""
        )
        return Outcome.invalid_recipient(f"device token {short(token)} will not work{hint}; {error}")
    if reason in _STALE_JWT:
        return Outcome.permanent(
            f"APNs refused a fresh provider token; check team_id, key_id and the key. {error}"
        )
    if status == 429:
        return Outcome.rate_limited(
            error, parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        )
    if status >= 500:
        return Outcome.retryable(error)
    if status == 403:
        return Outcome.permanent(
            f"APNs refused the request; check the key is enabled for APNs and topic. {error}"
        )
    return Outcome.permanent(error)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("reason", "")) if isinstance(body, dict) else ""


def _transport_failure(exc: httpx.TransportError) -> Outcome:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Outcome.permanent(
                f"APNs's TLS certificate is not trusted ({cause.verify_message}); check ca_file"
            )
        cause = cause.__cause__ or cause.__context__
    return Outcome.retryable(f"cannot reach APNs: {type(exc).__name__}: {exc}")
