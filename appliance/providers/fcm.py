"""`fcm`: push to Android (and iOS/web through Firebase) with the FCM HTTP v1 API.

`POST /v1/projects/{project_id}/messages:send`, one request per device token, authorised by an
OAuth2 access token that google-auth mints from a service-account key. The token lives about an
hour: it is cached and refreshed only when google-auth says it is (nearly) expired; the refresh
is blocking HTTP, so it runs in a thread. Refusals are Google API errors:
`{"error": {"code", "message", "status", "details": [{"errorCode": "UNREGISTERED", ...}]}}`.

google-auth (and the requests package under it) is imported where it is first used: a scaled API
replica loads this module to check the options, and sends nothing (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from .base import Message, Outcome, ProviderContext, ProviderOptions, PushMessage
from .http import HttpProvider, common_outcome, join_url, redact
from .push_tokens import send_each, short

if TYPE_CHECKING:
    import aiohttp
    from google.oauth2 import service_account

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
_URL = r"^https?://[^/\s]+"
_MAX_ERROR_BYTES = 8192
_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class FcmOptions(ProviderOptions):
    service_account_file: str | None = None
    service_account_json: SecretStr | None = None
    project_id: str | None = None  # default: the service account's project_id
    priority: Literal["high", "normal"] = "high"
    normal_priority_categories: frozenset[str] = frozenset()
    base_url: str = Field(default="https://fcm.googleapis.com", pattern=_URL)

    @model_validator(mode="after")
    def _one_key(self) -> FcmOptions:
        if (self.service_account_file is None) == (self.service_account_json is None):
            raise ValueError("set exactly one of service_account_file and service_account_json")
        return self

    @field_validator("service_account_json")
    @classmethod
    def _is_a_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _service_account_info(value.get_secret_value())
        return value


class FcmProvider(HttpProvider):
    type_name: ClassVar[str] = "fcm"
    channels: ClassVar[frozenset[str]] = frozenset({"push"})
    Options: ClassVar[type[ProviderOptions]] = FcmOptions

    options: FcmOptions

    def __init__(self, context: ProviderContext, options: ProviderOptions) -> None:
        from .google_token import TimedRequest

        super().__init__(context, options)
        self._credentials: service_account.Credentials | None = None
        self._token_lock = asyncio.Lock()
        self._token_http = TimedRequest(context.timeout.total_seconds())

    async def close(self) -> None:
        await super().close()
        self._token_http.session.close()

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, PushMessage):
            return Outcome.permanent(f"fcm cannot send {message.channel} messages, only push")
        outcome = await self._send(message)
        token = self._credentials.token if self._credentials else None
        error = redact(outcome.error or "", token, self.options.service_account_json) or None
        return dataclasses.replace(outcome, error=error)

    async def _send(self, message: PushMessage) -> Outcome:
        credentials = await self._access()
        if isinstance(credentials, Outcome):
            return credentials
        project = self.options.project_id or credentials.project_id
        if not project:
            return Outcome.permanent("the service account names no project_id; set project_id")
        url = join_url(self.options.base_url, f"/v1/projects/{project}/messages:send")

        async def send_one(token: str) -> Outcome:
            return await self.exchange(
                lambda session: self._post(session, url, token, message, credentials.token), what="FCM"
            )

        return await send_each(message.tokens, send_one)

    async def _post(
        self, session: aiohttp.ClientSession, url: str, token: str, message: PushMessage, bearer: str
    ) -> Outcome:
        body = {"message": self._message(token, message)}
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {bearer}"}
            async with session.post(url, json=body, headers=headers, allow_redirects=False) as response:
                raw = await response.content.read(_MAX_ERROR_BYTES)
            if response.status == 200:
                return Outcome.sent(_json_object(raw).get("name"))
            error = _GoogleError.parse(raw)
            if response.status == 401 and error.code != "THIRD_PARTY_AUTH_ERROR" and attempt == 1:
                renewed = await self._renew(bearer)  # revoked before it expired: mint a new one, once
                if isinstance(renewed, Outcome):
                    return renewed
                bearer = renewed
                continue
            return classify(response, error, token)
        raise AssertionError("unreachable: the second attempt always returns")

    async def _renew(self, refused: str) -> str | Outcome:
        if self._credentials is not None and self._credentials.token == refused:
            self._credentials.token = None  # another send may have renewed it already
        credentials = await self._access()
        return credentials if isinstance(credentials, Outcome) else credentials.token

    def _message(self, token: str, message: PushMessage) -> dict[str, Any]:
        normal = self.options.priority == "normal" or (
            message.envelope.category in self.options.normal_priority_categories
        )
        fcm: dict[str, Any] = {
            "token": token,
            "notification": {"title": message.title, "body": message.body},
            "android": {"priority": "NORMAL" if normal else "HIGH"},
        }
        if message.data:
            fcm["data"] = {key: str(value) for key, value in message.data.items()}
        return fcm

    async def _access(self) -> service_account.Credentials | Outcome:
        """Valid credentials (a cached access token, refreshed if expired), or why there are none."""
        import google.auth.exceptions

        try:
            if self._credentials is None:
                self._credentials = self._load_credentials()
            credentials = self._credentials
            async with self._token_lock:
                if not credentials.valid:
                    async with asyncio.timeout(self.context.timeout.total_seconds()):
                        await asyncio.to_thread(credentials.refresh, self._token_http)
            return credentials
        except TimeoutError:  # before OSError, its base class
            timeout = self.context.timeout.total_seconds()
            return Outcome.retryable(f"Google's token endpoint did not answer within {timeout:g}s")
        except OSError as exc:
            return Outcome.permanent(f"cannot read service_account_file: {exc}")
        except ValueError as exc:
            return Outcome.permanent(f"not a Google service-account key: {exc}")
        except google.auth.exceptions.RefreshError as exc:
            detail = exc.args[0] if exc.args else exc  # args[1] is the whole response body
            if exc.retryable:
                return Outcome.retryable(f"Google's token endpoint failed: {detail}")
            return Outcome.permanent(
                f"Google refused the service account ({detail}); check the key is not deleted or disabled"
            )
        except google.auth.exceptions.TransportError as exc:
            return Outcome.retryable(f"cannot reach Google's token endpoint: {exc}")

    def _load_credentials(self) -> service_account.Credentials:
        from google.oauth2 import service_account

        if self.options.service_account_file is not None:
            info = _service_account_info(Path(self.options.service_account_file).read_text())
        else:
            assert self.options.service_account_json is not None
            info = _service_account_info(self.options.service_account_json.get_secret_value())
        return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])


@dataclasses.dataclass(frozen=True)
class _GoogleError:
    status: str = ""  # the google.rpc status, e.g. NOT_FOUND
    code: str = ""  # FCM's errorCode, e.g. UNREGISTERED
    message: str = ""
    fields: tuple[str, ...] = ()  # the request fields a BadRequest blames

    @classmethod
    def parse(cls, raw: bytes) -> _GoogleError:
        error = _json_object(raw).get("error")
        if not isinstance(error, dict):
            return cls(message=raw.decode("utf-8", "replace")[:200])
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        code = next((str(d.get("errorCode")) for d in details if d.get("@type") == _FCM_ERROR), "")
        fields = tuple(
            str(violation.get("field"))
            for d in details
            if d.get("@type") == _BAD_REQUEST
            for violation in d.get("fieldViolations") or []
            if isinstance(violation, dict)
        )
        return cls(str(error.get("status", "")), code, str(error.get("message", "")), fields)

    def about_token(self) -> bool:
        return "message.token" in self.fields or "registration token" in self.message.lower()


def classify(response: aiohttp.ClientResponse, error: _GoogleError, token: str) -> Outcome:
    """Sort an FCM refusal for one token by what the delivery engine should do next."""
    text = f"HTTP {response.status} {error.code or error.status}: {error.message}"
    if error.code == "UNREGISTERED":
        return Outcome.invalid_recipient(
            f"token {short(token)} is no longer registered (app removed); {text}"
        )
    if (error.code or error.status) == "INVALID_ARGUMENT":
        if error.about_token():
            return Outcome.invalid_recipient(f"token {short(token)} is not a valid FCM token; {text}")
        return Outcome.permanent(f"FCM refused the message; {text}")
    if error.code == "SENDER_ID_MISMATCH":
        return Outcome.permanent(f"token {short(token)} belongs to another Firebase project; {text}")
    if error.code == "THIRD_PARTY_AUTH_ERROR":
        return Outcome.permanent(f"check the APNs key or web push credentials uploaded to Firebase; {text}")
    if response.status == 403:
        return Outcome.permanent(
            "the service account may not send for this project: enable the FCM API and grant it "
            f"the Firebase Cloud Messaging API Admin role; {text}"
        )
    return common_outcome(response, text) or Outcome.permanent(text)


def _service_account_info(text: str) -> dict[str, Any]:
    try:
        info = json.loads(text)
    except ValueError:
        raise ValueError(
            "the service-account key is not JSON; download it again from the Firebase console"
        ) from None
    missing = sorted(
        {"client_email", "private_key", "token_uri"} - set(info if isinstance(info, dict) else ())
    )
    if not isinstance(info, dict) or info.get("type") != "service_account" or missing:
        raise ValueError(
            'expected a service-account key ({"type": "service_account", ...}) with client_email, '
            f"private_key and token_uri; missing {', '.join(missing) or 'type'}"
        )
    return info


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
