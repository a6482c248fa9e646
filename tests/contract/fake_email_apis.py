"""Local stand-ins for SendGrid, Mailgun, Postmark and Amazon SES v2, for the contract tests.

Each fake is a real aiohttp server on 127.0.0.1 (a free port) used as an async context manager.
It checks what the real API checks — method, path, credentials, content type, required fields,
and for SES the SigV4 signature, recomputed with botocore — and answers with the real API's
bodies, including its errors for a bad key, an invalid recipient or a suppressed one. Tests
inject faults: `inject(Fault(...))` answers every request with it, `delay(s)` makes the server
sleep before answering (a hung provider).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from email.utils import parseaddr
from typing import Any, ClassVar, Self
from urllib.parse import parse_qs

from aiohttp import web
from aiohttp.test_utils import TestServer
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


@dataclass(frozen=True)
class Fault:
    status: int
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_form(self.headers.get("Content-Type", ""), self.body)


def parse_form(content_type: str, body: bytes) -> dict[str, list[str]]:
    """The fields of a multipart/form-data or urlencoded body, parsed independently of aiohttp."""
    if content_type.startswith("application/x-www-form-urlencoded"):
        return parse_qs(body.decode(), keep_blank_values=True)
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    fields: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields.setdefault(str(name), []).append(part.get_content())
    return fields


def is_address(text: str) -> bool:
    _name, address = parseaddr(text)
    local, _, domain = address.rpartition("@")
    return bool(local) and "." in domain


class FakeEmailApi:
    """What every fake shares: the server, the recorded requests, the faults, the issued ids."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.issued_ids: list[str] = []
        self.base_url = ""
        self._fault: Fault | None = None
        self._delay_s = 0.0
        self._release = asyncio.Event()
        self._server: TestServer | None = None

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()
        self.base_url = str(self._server.make_url("")).rstrip("/")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._release.set()  # wake a sleeping handler so shutdown does not wait for it
        assert self._server is not None
        await self._server.close()

    def inject(self, fault: Fault) -> None:
        self._fault = fault

    def delay(self, seconds: float) -> None:
        self._delay_s = seconds

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        recorded = Recorded(request.method, request.path, dict(request.headers), body)
        self.requests.append(recorded)
        if self._delay_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self._delay_s)
        if self._fault is not None:
            fault = self._fault
            return web.Response(
                status=fault.status, text=fault.body, headers=fault.headers, content_type=fault.content_type
            )
        return await self.answer(request, recorded)

    async def answer(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        raise NotImplementedError

    # The provider's own bodies for the faults every contract test injects.
    def internal_error(self, status: int = 500) -> Fault:
        raise NotImplementedError

    def throttled(self, retry_after: str) -> Fault:
        raise NotImplementedError


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


# --- SendGrid v3 Mail Send ---------------------------------------------------------------


def sendgrid_errors(*errors: tuple[str | None, str]) -> dict[str, Any]:
    return {"errors": [{"field": name, "message": message, "help": None} for name, message in errors]}


class SendGridApi(FakeEmailApi):
    """POST /v3/mail/send with `Authorization: Bearer <key>`; 202 and X-Message-Id when queued."""

    # Headers SendGrid sets itself and refuses in `headers` (its Mail Send reference lists them).
    RESERVED_HEADERS: ClassVar[frozenset[str]] = frozenset(
        {
            *("x-sg-id", "x-sg-eid", "received", "dkim-signature", "content-type"),
            *("content-transfer-encoding", "to", "from", "subject", "reply-to", "cc", "bcc"),
        }
    )

    def __init__(self, *, api_key: str, verified_senders: set[str]) -> None:
        super().__init__()
        self.api_key = api_key
        self.verified_senders = verified_senders

    async def answer(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if (request.method, request.path) != ("POST", "/v3/mail/send"):
            return _json(404, sendgrid_errors((None, "resource not found")))
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return _json(401, sendgrid_errors((None, "authorization required")))
        if authorization != f"Bearer {self.api_key}":
            return _json(
                401,
                sendgrid_errors((None, "The provided authorization grant is invalid, expired, or revoked")),
            )
        if request.content_type != "application/json":
            return _json(400, sendgrid_errors((None, "Content-Type should be application/json.")))
        try:
            mail = json.loads(recorded.body)
        except ValueError:
            return _json(400, sendgrid_errors((None, "Bad Request")))
        if problems := self._problems(mail):
            return _json(400, sendgrid_errors(*problems))
        if mail["from"]["email"] not in self.verified_senders:
            message = (
                "The from address does not match a verified Sender Identity. Mail cannot be sent until "
                "this error is resolved. Visit https://sendgrid.com/docs/for-developers/sending-email/"
                "sender-identity/ to see the Sender Identity requirements"
            )
            return _json(403, sendgrid_errors((None, message)))
        message_id = secrets.token_urlsafe(16)[:22]
        self.issued_ids.append(message_id)
        return web.Response(status=202, headers={"X-Message-Id": message_id})

    def _problems(self, mail: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        personalizations = mail.get("personalizations") or []
        if not personalizations:
            problems.append(("personalizations", "The personalizations field is required."))
        for p, personalization in enumerate(personalizations):
            for t, to in enumerate(personalization.get("to") or []):
                if not is_address(to.get("email", "")):
                    problems.append(
                        (f"personalizations.{p}.to.{t}.email", "Does not contain a valid address.")
                    )
        if not is_address((mail.get("from") or {}).get("email", "")):
            problems.append(("from.email", "The from email does not contain a valid address."))
        if not mail.get("subject"):
            problems.append(("subject", "The subject is required."))
        content = mail.get("content") or []
        if not content or any(not part.get("value") for part in content):
            problems.append(
                ("content", "The content value must be a string at least one character in length.")
            )
        types = [part.get("type") for part in content]
        if "text/plain" in types and types.index("text/plain") != 0:
            problems.append(
                ("content", "If present, text/plain content must be first, followed by text/html.")
            )
        for name in mail.get("headers") or {}:
            if name.lower() in self.RESERVED_HEADERS:
                problems.append(("headers", f"The header {name} is reserved and cannot be set."))
        if any(not isinstance(v, str) for v in (mail.get("custom_args") or {}).values()):
            problems.append(("custom_args", "Custom args values must be strings."))
        return problems

    def internal_error(self, status: int = 500) -> Fault:
        return Fault(status, json.dumps(sendgrid_errors((None, "internal error"))))

    def throttled(self, retry_after: str) -> Fault:
        reset = int((datetime.now(UTC) + timedelta(seconds=int(retry_after))).timestamp())
        headers = {
            "Retry-After": retry_after,
            "X-RateLimit-Limit": "600",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(reset),
        }
        return Fault(429, json.dumps(sendgrid_errors((None, "too many requests"))), headers)


# --- Mailgun Messages API ----------------------------------------------------------------


class MailgunApi(FakeEmailApi):
    """POST /v3/<domain>/messages with basic auth api:<key> and a form; 200 {"id", "message"}."""

    def __init__(self, *, api_key: str, domain: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.domain = domain

    async def answer(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        if auth != _basic("api", self.api_key):
            return web.Response(status=401, text="Forbidden")
        match = re.fullmatch(r"/v3/([^/]+)/messages", request.path)
        if request.method != "POST" or match is None:
            return _json(404, {"message": "Not Found"})
        if match[1] != self.domain:
            return _json(404, {"message": f"Domain not found: {match[1]}"})
        if request.content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            return _json(400, {"message": "Content-Type must be multipart/form-data"})
        form = recorded.form()
        for name in ("from", "to", "subject"):
            if not form.get(name):
                return _json(400, {"message": f"{name} parameter is missing"})
        if not is_address(form["from"][0]):
            return _json(
                400, {"message": "from parameter is not a valid address. please check documentation"}
            )
        if not all(is_address(to) for to in form["to"]):
            return _json(400, {"message": "to parameter is not a valid address. please check documentation"})
        if not form.get("text") and not form.get("html"):
            needed = "Need at least one of 'text', 'html', 'amp-html' or 'template' parameters specified"
            return _json(400, {"message": needed})
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        message_id = f"<{stamp}.{secrets.token_hex(8).upper()}@{self.domain}>"
        self.issued_ids.append(message_id)
        return _json(200, {"id": message_id, "message": "Queued. Thank you."})

    def internal_error(self, status: int = 500) -> Fault:
        return Fault(status, "Internal Server Error", content_type="text/plain")

    def throttled(self, retry_after: str) -> Fault:
        return Fault(429, json.dumps({"message": "Too many requests"}), {"Retry-After": retry_after})


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- Postmark Email API ------------------------------------------------------------------


def postmark_error(code: int, message: str, status: int = 422) -> web.Response:
    return _json(status, {"ErrorCode": code, "Message": message})


class PostmarkApi(FakeEmailApi):
    """POST /email with X-Postmark-Server-Token; every answer has ErrorCode (0 is success)."""

    def __init__(
        self, *, server_token: str, sender_signatures: set[str], inactive: set[str], streams: set[str]
    ) -> None:
        super().__init__()
        self.server_token = server_token
        self.sender_signatures = sender_signatures
        self.inactive = inactive
        self.streams = streams

    async def answer(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        token = request.headers.get("X-Postmark-Server-Token")
        if token is None:
            return postmark_error(
                10,
                "No Account or Server API tokens were supplied in the HTTP headers. Please add a header "
                "for either X-Postmark-Server-Token or X-Postmark-Account-Token.",
                status=401,
            )
        if token != self.server_token:
            return postmark_error(
                10,
                "The Server Token you provided in the X-Postmark-Server-Token request header was invalid. "
                "Please verify that you are using a valid token.",
                status=401,
            )
        if (request.method, request.path) != ("POST", "/email"):
            return _json(404, {"ErrorCode": 404, "Message": "Not found"})
        if request.content_type != "application/json" or "application/json" not in request.headers.get(
            "Accept", ""
        ):
            return postmark_error(409, "JSON data required: send Accept and Content-Type application/json.")
        try:
            mail = json.loads(recorded.body)
        except ValueError:
            return postmark_error(402, "Received invalid JSON input.")
        return self._send(mail)

    def _send(self, mail: dict[str, Any]) -> web.Response:
        sender, to = mail.get("From", ""), mail.get("To", "")
        if not is_address(sender):
            return postmark_error(300, f"Invalid 'From' address: '{sender}'.")
        if not to:
            return postmark_error(300, "Zero recipients specified")
        if not is_address(to):
            return postmark_error(300, f"Invalid 'To' address: '{to}'.")
        if not mail.get("TextBody") and not mail.get("HtmlBody"):
            return postmark_error(300, "Provide either email TextBody or HtmlBody or both.")
        if parseaddr(sender)[1] not in self.sender_signatures:
            return postmark_error(
                400,
                f"The 'From' address you supplied ({sender}) is not a Sender Signature on your account. "
                "Please add and confirm this address in order to be able to use it in the 'From' field "
                "of your messages.",
            )
        if mail.get("MessageStream", "outbound") not in self.streams:
            return postmark_error(1235, "The 'MessageStream' provided does not exist on this server.")
        if (address := parseaddr(to)[1]) in self.inactive:
            return postmark_error(
                406,
                f"You tried to send to recipient(s) that have been marked as inactive. Found inactive "
                f"addresses: {address}. Inactive recipients are ones that have generated a hard bounce, "
                "a spam complaint, or a manual suppression.",
            )
        message_id = str(uuid.uuid4())
        self.issued_ids.append(message_id)
        submitted = datetime.now(UTC).isoformat()
        return _json(
            200,
            {"To": to, "SubmittedAt": submitted, "MessageID": message_id, "ErrorCode": 0, "Message": "OK"},
        )

    def internal_error(self, status: int = 500) -> Fault:
        return Fault(status, json.dumps({"ErrorCode": 500, "Message": "Internal server error"}))

    def throttled(self, retry_after: str) -> Fault:
        return Fault(
            429,
            json.dumps({"ErrorCode": 429, "Message": "Rate limit exceeded"}),
            {"Retry-After": retry_after},
        )


# --- Amazon SES v2 SendEmail -------------------------------------------------------------

_AWS_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<scope>[^,]+), "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)
SES_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazonaws.sesv2/"


def ses_error(status: int, kind: str, message: str) -> web.Response:
    return _json(status, {"message": message}, {"x-amzn-ErrorType": f"{kind}:{SES_ERROR_NAMESPACE}"})


def ses_fault(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Fault:
    return Fault(
        status,
        json.dumps({"message": message}),
        {"x-amzn-ErrorType": f"{kind}:{SES_ERROR_NAMESPACE}", **(headers or {})},
    )


@dataclass
class SignatureCheck:
    """What the SES fake saw of the last request's SigV4 Authorization header."""

    access_key_id: str
    scope: str
    signed_headers: list[str]
    valid: bool


class SesApi(FakeEmailApi):
    """POST /v2/email/outbound-emails signed with SigV4 for service "ses"; 200 {"MessageId"}."""

    def __init__(
        self,
        *,
        region: str,
        access_key_id: str,
        secret_access_key: str,
        session_token: str | None = None,
        verified_identities: set[str],
        configuration_sets: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self.region = region
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.session_token = session_token
        self.verified_identities = verified_identities
        self.configuration_sets = configuration_sets
        self.signatures: list[SignatureCheck] = []

    async def answer(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if (refusal := self._authenticate(request, recorded)) is not None:
            return refusal
        if (request.method, request.path) != ("POST", "/v2/email/outbound-emails"):
            return ses_error(404, "UnknownOperationException", "Unknown operation")
        try:
            mail = json.loads(recorded.body)
        except ValueError:
            return ses_error(400, "SerializationException", "Could not parse the request body")
        return self._send(mail)

    def _authenticate(self, request: web.Request, recorded: Recorded) -> web.Response | None:
        match = _AWS_AUTH.fullmatch(request.headers.get("Authorization", ""))
        amz_date = request.headers.get("X-Amz-Date", "")
        if match is None or not amz_date:
            return ses_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        signed = match["signed"].split(";")
        check = SignatureCheck(match["key"], match["scope"], signed, valid=False)
        self.signatures.append(check)
        if match["key"] != self.access_key_id:
            return ses_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        expected_scope = f"{amz_date[:8]}/{self.region}/ses/aws4_request"
        if match["scope"] != expected_scope:
            return ses_error(
                403, "InvalidSignatureException", f"Credential should be scoped to {expected_scope}."
            )
        if not {"host", "x-amz-date"} <= set(signed):
            return ses_error(403, "InvalidSignatureException", "host and x-amz-date must be signed.")
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if abs(datetime.now(UTC) - when) > timedelta(minutes=5):
            return ses_error(403, "InvalidSignatureException", "Signature expired.")
        if request.headers.get("X-Amz-Security-Token") != self.session_token or (
            self.session_token and "x-amz-security-token" not in signed
        ):
            return ses_error(
                403, "UnrecognizedClientException", "The security token included in the request is invalid."
            )
        if match["signature"] != self._signature(request, recorded, signed, amz_date):
            return ses_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your "
                "AWS Secret Access Key and signing method. Consult the service documentation for details.",
            )
        check.valid = True
        return None

    def _signature(self, request: web.Request, recorded: Recorded, signed: list[str], amz_date: str) -> str:
        """Recompute the signature with botocore over exactly the headers the client signed."""
        headers = {name: request.headers.get(name, "") for name in signed}
        aws_request = AWSRequest(
            method=request.method,
            url=f"http://{request.host}{request.raw_path}",
            data=recorded.body,
            headers=headers,
        )
        aws_request.context["timestamp"] = amz_date
        credentials = Credentials(self.access_key_id, self.secret_access_key, self.session_token)
        signer = SigV4Auth(credentials, "ses", self.region)
        canonical = signer.canonical_request(aws_request)
        return signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)

    def _send(self, mail: dict[str, Any]) -> web.Response:
        sender = mail.get("FromEmailAddress", "")
        to = (mail.get("Destination") or {}).get("ToAddresses") or []
        simple = (mail.get("Content") or {}).get("Simple") or {}
        if not to:
            return ses_error(400, "BadRequestException", "Missing required field Destination.")
        for address in [sender, *to]:
            if "@" not in parseaddr(address)[1]:
                return ses_error(400, "BadRequestException", "Missing final '@domain'")
        if not (simple.get("Subject") or {}).get("Data") or not simple.get("Body"):
            return ses_error(400, "BadRequestException", "Subject and Body are required.")
        for tag in mail.get("EmailTags") or []:
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", tag.get("Value", "")):
                return ses_error(400, "BadRequestException", f"Invalid tag value {tag.get('Value')!r}.")
        configuration_set = mail.get("ConfigurationSetName")
        if configuration_set is not None and configuration_set not in self.configuration_sets:
            return ses_error(
                404, "NotFoundException", f"Configuration set <{configuration_set}> does not exist."
            )
        address = parseaddr(sender)[1]
        if (
            address not in self.verified_identities
            and address.rpartition("@")[2] not in self.verified_identities
        ):
            return ses_error(
                400,
                "MessageRejected",
                "Email address is not verified. The following identities failed the check in region "
                f"{self.region.upper()}: {address}",
            )
        message_id = f"0102018f{secrets.token_hex(4)}-{uuid.uuid4()}-000000"
        self.issued_ids.append(message_id)
        return _json(200, {"MessageId": message_id})

    def internal_error(self, status: int = 500) -> Fault:
        kind = "InternalFailure" if status == 500 else "ServiceUnavailable"
        return ses_fault(status, kind, "The request processing has failed because of an unknown error.")

    def throttled(self, retry_after: str) -> Fault:
        return ses_fault(429, "TooManyRequestsException", "Too Many Requests", {"Retry-After": retry_after})
