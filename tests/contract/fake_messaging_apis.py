"""Local stand-ins for Twilio, Vonage, FCM (with Google's OAuth token endpoint), APNs and Slack.

Each is a real server on 127.0.0.1 that checks what a real one checks (credentials, required
fields, the shape of the request) and answers with the real shapes, success and refusal alike.
A test scripts faults with `reply_next(...)`/`hang_next()`, or uses the documented magic
numbers and tokens each fake knows. APNs speaks HTTP/2 over TLS (ALPN h2), built on `h2`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import ssl
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer

JSON = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode()))

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False

    @classmethod
    def json(cls, status: int, value: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(value).encode(), {**JSON, **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, text.encode(), {"Content-Type": "text/plain", **(headers or {})})


class FakeApi:
    """Records every request; answers as scripted, else as the real API would."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.connections = 0  # counted by the HTTP/2 server
        self._script: deque[Reply] = deque()
        self.release = asyncio.Event()  # set at shutdown so hanging handlers return

    def reply_next(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def hang_next(self) -> None:
        self._script.append(Reply(0, hang=True))

    async def respond(self, received: Received) -> Reply:
        self.requests.append(received)
        if self._script:
            reply = self._script.popleft()
            if reply.hang:
                await self.release.wait()
            return reply
        return await self.answer(received)

    async def answer(self, received: Received) -> Reply:
        raise NotImplementedError

    # The API's own way of saying "down" and "slow down", for the shared contract tests.
    def unavailable(self) -> Reply:
        raise NotImplementedError

    def throttled(self, retry_after: str | None) -> Reply:
        raise NotImplementedError


@asynccontextmanager
async def serve_http(fake: FakeApi) -> AsyncIterator[str]:
    """Serve `fake` over HTTP/1.1 with aiohttp; yields its base URL."""

    async def handle(request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        reply = await fake.respond(Received(request.method, request.path, headers, await request.read()))
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        fake.release.set()
        await server.close()


def _basic_auth(headers: dict[str, str]) -> tuple[str, str] | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    login, _, password = base64.b64decode(value).decode().partition(":")
    return login, password


# --- Twilio ------------------------------------------------------------------------------


def twilio_error(status: int, code: int, message: str) -> Reply:
    more_info = f"https://www.twilio.com/docs/errors/{code}"
    return Reply.json(status, {"code": code, "message": message, "more_info": more_info, "status": status})


class FakeTwilio(FakeApi):
    # Twilio's magic "To" numbers for test credentials, and the error each one triggers.
    MAGIC_TO = {
        "+15005550001": (21211, "Invalid 'To' Phone Number: +15005550001"),
        "+15005550002": (21612, "The 'To' phone number: +15005550002, is not currently reachable via SMS."),
        "+15005550003": (21408, "Permission to send an SMS has not been enabled for the region indicated"),
        "+15005550004": (21610, "Attempt to send to unsubscribed recipient"),
        "+15005550009": (21614, "'To' number +15005550009 is not a valid mobile number"),
    }

    def __init__(self, *, account_sid: str, auth_token: str, api_key: tuple[str, str]) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.credentials = {(account_sid, auth_token), api_key}
        self.sent = 0

    async def answer(self, received: Received) -> Reply:
        path = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"
        if received.method != "POST" or received.path != path:
            return twilio_error(404, 20404, f"The requested resource {received.path} was not found")
        if _basic_auth(received.headers) not in self.credentials:
            return twilio_error(401, 20003, "Authenticate")
        form = received.form()
        if "To" not in form:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return twilio_error(400, 21602, "Message body is required.")
        if "From" not in form and "MessagingServiceSid" not in form:
            return twilio_error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required.")
        if form["To"] in self.MAGIC_TO:
            return twilio_error(400, *self.MAGIC_TO[form["To"]])
        self.sent += 1
        sid = f"SM{uuid.uuid4().hex}"
        return Reply.json(201, self._message(sid, form))

    def _message(self, sid: str, form: dict[str, str]) -> dict[str, Any]:
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": form["Body"],
            "date_created": "Thu, 24 Aug 2023 05:01:45 +0000",
            "date_sent": None,
            "date_updated": "Thu, 24 Aug 2023 05:01:45 +0000",
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "accepted" if "MessagingServiceSid" in form else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": form["To"],
            "uri": f"{uri}.json",
        }

    def unavailable(self) -> Reply:
        return twilio_error(503, 20503, "Service Unavailable")

    def throttled(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after else None
        return Reply.json(
            429,
            {
                "code": 20429,
                "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429,
            },
            headers,
        )


# --- Vonage ------------------------------------------------------------------------------


def vonage_refusal(status: str, error_text: str) -> Reply:
    return Reply.json(200, {"message-count": "1", "messages": [{"status": status, "error-text": error_text}]})


class FakeVonage(FakeApi):
    # Destinations this fake refuses, with Vonage's status and error-text for each.
    MAGIC_TO = {
        "447700900001": ("7", "Number barred."),
        "447700900002": ("33", "Number de-activated."),
        "447700900003": ("29", "Non White-listed Destination - rejected"),
        "447700900004": ("6", "Unroutable message - rejected"),
    }
    PART_CHARS = {"text": 153, "unicode": 67}  # per part of a concatenated SMS

    def __init__(self, *, api_key: str, api_secret: str) -> None:
        super().__init__()
        self.api_key, self.api_secret = api_key, api_secret

    async def answer(self, received: Received) -> Reply:
        if received.method != "POST" or received.path != "/sms/json":
            return Reply.text(404, "Not Found")
        is_json = received.headers.get("content-type", "").startswith("application/json")
        params = received.json() if is_json else received.form()
        for name in ("api_key", "api_secret", "from", "to", "text"):
            if not params.get(name):
                return vonage_refusal("2", f"Missing {name} param")
        if (params["api_key"], params["api_secret"]) != (self.api_key, self.api_secret):
            return vonage_refusal("4", "Bad Credentials")
        to = params["to"]
        if not re.fullmatch(r"\d{7,15}", to):
            return vonage_refusal("3", "Invalid to param")
        if to in self.MAGIC_TO:
            return vonage_refusal(*self.MAGIC_TO[to])
        size = self.PART_CHARS.get(params.get("type", "text"), 153)
        text = params["text"]
        count = 1 if len(text) <= size + 7 else -(-len(text) // size)
        parts = [self._part(to, params.get("client-ref")) for _ in range(count)]
        return Reply.json(200, {"message-count": str(count), "messages": parts})

    def _part(self, to: str, client_ref: str | None) -> dict[str, str]:
        part = {
            "to": to,
            "message-id": uuid.uuid4().hex[:16].upper(),
            "status": "0",
            "remaining-balance": "3.14159265",
            "message-price": "0.03330000",
            "network": "23410",
        }
        if client_ref:
            part["client-ref"] = client_ref
        return part

    def unavailable(self) -> Reply:
        return Reply.text(503, "Service Unavailable")

    def throttled(self, retry_after: str | None) -> Reply:
        return vonage_refusal("1", "Throughput Rate Exceeded - please wait [ 30 ] and retry")


# --- FCM and Google's OAuth token endpoint -----------------------------------------------

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's fixed `aud`
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def google_error(
    status: int, rpc_status: str, message: str, fcm_code: str | None = None, **extra: Any
) -> Reply:
    details: list[dict[str, Any]] = [{"@type": FCM_ERROR, "errorCode": fcm_code}] if fcm_code else []
    if "field" in extra:
        violation = {"field": extra.pop("field"), "description": message}
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [violation]})
    body = {"error": {"code": status, "message": message, "status": rpc_status, "details": details}}
    return Reply.json(status, body, extra.pop("headers", None))


class FakeGoogle(FakeApi):
    """FCM HTTP v1 at /v1/projects/{id}/messages:send and the OAuth2 JWT-bearer grant at /token."""

    TOKEN_PATH = "/token"

    def __init__(self, *, project_id: str, client_email: str, public_key: Any) -> None:
        super().__init__()
        self.project_id, self.client_email, self.public_key = project_id, client_email, public_key
        self.expires_in = 3599
        self.token_fetches = 0
        self.token_replies: deque[Reply] = deque()
        self.access_tokens: set[str] = set()
        self.unregistered: set[str] = set()

    async def respond(self, received: Received) -> Reply:
        if received.path == self.TOKEN_PATH:
            self.token_fetches += 1
            if self.token_replies:
                reply = self.token_replies.popleft()
                if reply.hang:
                    await self.release.wait()
                return reply
            return self._grant(received)
        return await super().respond(received)

    def revoke_access_tokens(self) -> None:
        self.access_tokens.clear()

    def _grant(self, received: Received) -> Reply:
        form = received.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply.json(
                400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}
            )
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.public_key,
                algorithms=["RS256"],
                audience=GOOGLE_TOKEN_AUDIENCE,
                issuer=self.client_email,
                options={"require": ["iat", "exp", "iss", "aud", "scope"]},
            )
        except jwt.PyJWTError:
            return Reply.json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        if FCM_SCOPE not in claims["scope"].split():
            return Reply.json(400, {"error": "invalid_scope", "error_description": "Invalid OAuth scope."})
        token = f"ya29.fake-{uuid.uuid4().hex}"
        self.access_tokens.add(token)
        return Reply.json(200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    async def answer(self, received: Received) -> Reply:
        match = re.fullmatch(r"/v1/projects/([^/]+)/messages:send", received.path)
        if received.method != "POST" or match is None:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.")
        scheme, _, token = received.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.access_tokens:
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token",
            )
        if match[1] != self.project_id:
            return google_error(
                403, "PERMISSION_DENIED", "Permission 'cloudmessaging.messages.create' denied"
            )
        message = received.json().get("message", {})
        device = message.get("token", "")
        if not re.fullmatch(r"[A-Za-z0-9_:\-]{20,}", device):
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
                field="message.token",
            )
        if any(not isinstance(value, str) for value in message.get("data", {}).values()):
            return google_error(
                400, "INVALID_ARGUMENT", "Invalid value at 'message.data'", "INVALID_ARGUMENT"
            )
        if device in self.unregistered:
            return google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        return Reply.json(200, {"name": f"projects/{self.project_id}/messages/0:{time.time_ns()}%31bd1c96"})

    def unavailable(self) -> Reply:
        return google_error(503, "UNAVAILABLE", "The service is currently unavailable.", "UNAVAILABLE")

    def throttled(self, retry_after: str | None) -> Reply:
        headers = {"Retry-After": retry_after} if retry_after else None
        return google_error(
            429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric", "QUOTA_EXCEEDED", headers=headers
        )


# --- APNs (HTTP/2) -----------------------------------------------------------------------


def apns_error(status: int, reason: str, **extra: Any) -> Reply:
    return Reply.json(status, {"reason": reason, **extra}, {"apns-id": str(uuid.uuid4()).upper()})


class FakeApns(FakeApi):
    def __init__(self, *, team_id: str, key_id: str, public_key: Any, topic: str) -> None:
        super().__init__()
        self.team_id, self.key_id, self.public_key, self.topic = team_id, key_id, public_key, topic
        self.unregistered: set[str] = set()
        self.expired_jwts: set[str] = set()  # provider tokens this fake now calls expired

    def expire_provider_tokens_seen(self) -> None:
        self.expired_jwts.update(self.provider_tokens())

    def provider_tokens(self) -> list[str]:
        """The distinct JWTs received, in order."""
        tokens = [r.headers.get("authorization", "").removeprefix("bearer ") for r in self.requests]
        return list(dict.fromkeys(tokens))

    async def answer(self, received: Received) -> Reply:
        match = re.fullmatch(r"/3/device/([^/]+)", received.path)
        if match is None:
            return apns_error(404, "BadPath")
        if received.method != "POST":
            return apns_error(405, "MethodNotAllowed")
        refusal = self._check_provider_token(received.headers.get("authorization"))
        if refusal is not None:
            return apns_error(403, refusal)
        if "apns-topic" not in received.headers:
            return apns_error(400, "MissingTopic")
        if received.headers.get("apns-push-type") not in {"alert", "background", "voip", "liveactivity"}:
            return apns_error(400, "InvalidPushType")
        if received.headers.get("apns-priority", "10") not in {"10", "5", "1"}:
            return apns_error(400, "BadPriority")
        if not re.fullmatch(r"[0-9a-fA-F]{64,200}", match[1]):
            return apns_error(400, "BadDeviceToken")
        if received.headers["apns-topic"] != self.topic:
            return apns_error(400, "DeviceTokenNotForTopic")
        if not received.body or "aps" not in json.loads(received.body):
            return apns_error(400, "PayloadEmpty")
        if match[1] in self.unregistered:
            return apns_error(410, "Unregistered", timestamp=int(time.time() * 1000))
        return Reply(200, headers={"apns-id": str(uuid.uuid4()).upper()})

    def _check_provider_token(self, authorization: str | None) -> str | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "bearer" or not token:
            return "MissingProviderToken"
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token, self.public_key, algorithms=["ES256"], options={"require": ["iat", "iss"]}
            )
        except jwt.PyJWTError:
            return "InvalidProviderToken"
        if header.get("kid") != self.key_id or claims["iss"] != self.team_id:
            return "InvalidProviderToken"
        if token in self.expired_jwts or time.time() - claims["iat"] > 3600:
            return "ExpiredProviderToken"
        return None

    def unavailable(self) -> Reply:
        return apns_error(503, "ServiceUnavailable")

    def throttled(self, retry_after: str | None) -> Reply:
        return apns_error(429, "TooManyRequests")


class _H2Connection(asyncio.Protocol):
    """One HTTP/2 server connection: collect each stream's request, answer it from the fake."""

    def __init__(self, fake: FakeApi, transports: set[asyncio.Transport]) -> None:
        self.fake, self.transports = fake, transports
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        )
        self.streams: dict[int, tuple[dict[str, str], bytearray]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.transports.add(transport)
        self.fake.connections += 1
        self.h2.initiate_connection()
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transports.discard(self.transport)
        for task in self.tasks:
            task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                self.streams[event.stream_id] = (dict(event.headers), bytearray())  # type: ignore[arg-type]
            elif isinstance(event, h2.events.DataReceived):
                self.streams[event.stream_id][1].extend(event.data)
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                task = asyncio.create_task(self.answer(event.stream_id))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
            elif isinstance(event, h2.events.StreamReset):
                self.streams.pop(event.stream_id, None)
        self.flush()

    async def answer(self, stream_id: int) -> None:
        if stream_id not in self.streams:
            return  # reset by the client before we got to it
        headers, body = self.streams[stream_id]
        received = Received(
            headers[":method"],
            headers[":path"],
            {name: value for name, value in headers.items() if not name.startswith(":")},
            bytes(body),
        )
        reply = await self.fake.respond(received)
        if self.streams.pop(stream_id, None) is None:
            return  # the client gave up on this stream meanwhile
        response = [(":status", str(reply.status)), *((k.lower(), v) for k, v in reply.headers.items())]
        with suppress(h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            self.h2.send_headers(stream_id, response, end_stream=not reply.body)
            if reply.body:
                self.h2.send_data(stream_id, reply.body, end_stream=True)
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.transport.is_closing():
            self.transport.write(data)


@asynccontextmanager
async def serve_h2(fake: FakeApi, server_context: ssl.SSLContext) -> AsyncIterator[str]:
    """Serve `fake` over HTTP/2 with TLS (ALPN h2) like APNs; yields its base URL."""
    transports: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _H2Connection(fake, transports), "127.0.0.1", 0, ssl=server_context
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        fake.release.set()
        server.close()
        for transport in list(transports):
            transport.abort()
        await server.wait_closed()


# --- Slack -------------------------------------------------------------------------------


class FakeSlack(FakeApi):
    """Incoming webhooks at /services/T…/B…/<secret>; `dead` maps a webhook path to Slack's error."""

    def __init__(self, *, webhook_path: str) -> None:
        super().__init__()
        self.webhook_path = webhook_path
        self.dead: dict[str, tuple[int, str]] = {}

    async def answer(self, received: Received) -> Reply:
        if received.path in self.dead:
            return Reply.text(*self.dead[received.path])
        if received.method != "POST" or received.path != self.webhook_path:
            return Reply.text(404, "no_service")
        try:
            payload = received.json()
        except ValueError:
            return Reply.text(400, "invalid_payload")
        if not isinstance(payload, dict) or not payload.get("text"):
            return Reply.text(400, "no_text")
        return Reply.text(200, "ok")

    def unavailable(self) -> Reply:
        return Reply.text(503, "service_unavailable")

    def throttled(self, retry_after: str | None) -> Reply:
        return Reply.text(429, "rate_limited", {"Retry-After": retry_after} if retry_after else None)
