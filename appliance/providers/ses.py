"""`ses`: email through Amazon SES v2 `SendEmail` (POST /v2/email/outbound-emails).

Each request is signed with AWS Signature Version 4 by botocore's own signer, then sent through
the pooled aiohttp session. Errors name their type in the `x-amzn-ErrorType` header (or the
body's `__type`), e.g. "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/".

Events: a configuration set publishes Delivery, Bounce and Complaint events to an SNS topic whose
HTTPS subscription is Clarion's webhook. Each SNS message is verified (sns.py) and must come from
one of `sns_topic_arns`; our EmailTags come back in `mail.tags`.

botocore is imported where it is first used, to sign a send: a scaled API replica loads this module
to check the options and to read events, and sends nothing (docs/benchmarks.md, G6).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import AfterValidator, Field

from . import sns
from .base import EmailMessage, Message, Outcome, ProviderContext, ProviderOptions
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
from .events import (
    EventKind,
    EventsNotConfigured,
    InboundRequest,
    ProviderEvent,
    SignatureInvalid,
    iso_time,
    text,
)
from .http import HttpProvider, common_outcome, join_url, parse_retry_after

if TYPE_CHECKING:  # aiohttp loads when a provider first sends (http.py), not with the options
    import aiohttp

PATH = "/v2/email/outbound-emails"
_THROTTLED = frozenset({"TooManyRequestsException", "LimitExceededException", "ThrottlingException"})
# What to do about each refusal that retrying cannot fix.
_FIXES = {
    "MessageRejected": "check that `from` is a verified identity (in the SES sandbox, the recipient too)",
    "MailFromDomainNotVerifiedException": "verify the custom MAIL FROM domain of the `from` identity",
    "AccountSuspendedException": "Amazon suspended this account's SES sending; see the SES console",
    "SendingPausedException": "sending is paused for the account or the configuration set; resume it",
    "NotFoundException": "check configuration_set: it must exist in this region",
}
# Address parser messages SES answers a malformed address with (BadRequestException).
_BAD_ADDRESS = re.compile(
    r"missing final '@domain'|illegal address|invalid (?:email )?address|not a valid (?:email )?address"
    r"|local address contains|domain (?:contains|starts with|ends with)",
    re.IGNORECASE,
)
# Message tag values may hold ASCII letters, digits, underscores and dashes only.
_NOT_TAG_CHARACTER = re.compile(r"[^A-Za-z0-9_-]")


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"is not a regular expression: {exc}") from exc
    return pattern


class SesOptions(EmailApiOptions):
    region: str = Field(pattern=r"^[a-z]{2}(?:-[a-z]+)+-\d{1,2}$")
    access_key_id: str = Field(min_length=1)
    secret_access_key: Secret
    session_token: Secret | None = None
    configuration_set: str | None = None
    base_url: BaseUrl | None = None  # https://email.<region>.amazonaws.com
    sns_topic_arns: tuple[Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:sns:")], ...] = ()
    sns_certificate_host_pattern: Annotated[str, AfterValidator(_regex)] = sns.DEFAULT_HOST_PATTERN
    sns_ca_file: str | None = None  # CA bundle to trust for SigningCertURL (tests); default: the system's

    @property
    def endpoint(self) -> str:
        return self.base_url or f"https://email.{self.region}.amazonaws.com"


class SesProvider(HttpProvider):
    type_name: ClassVar[str] = "ses"
    channels: ClassVar[frozenset[str]] = frozenset({"email"})
    Options: ClassVar[type[ProviderOptions]] = SesOptions

    options: SesOptions

    def __init__(self, context: ProviderContext, options: ProviderOptions) -> None:
        super().__init__(context, options)
        self._certificates: sns.Certificates | None = None

    async def send(self, message: Message) -> Outcome:
        email = as_email(message, self.type_name)
        if isinstance(email, Outcome):
            return email
        url = join_url(self.options.endpoint, PATH)
        body = json.dumps(send_email_body(email, self.options)).encode()

        async def post(session: aiohttp.ClientSession) -> Outcome:
            headers = self.signed_headers(url, body)  # signed now: a signature expires after 5 minutes
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                return await classify(response)

        options = self.options
        outcome = await self.exchange(post, what="SES")
        return redacted(outcome, options.secret_access_key, options.session_token)

    async def parse_events(self, request: InboundRequest) -> list[ProviderEvent]:
        options = self.options
        if not options.sns_topic_arns:
            raise EventsNotConfigured(
                f"set sns_topic_arns on provider {self.name}: the SNS topic(s) its configuration set "
                "publishes events to"
            )
        message = request.json()
        if not isinstance(message, dict) or message.get("TopicArn") not in options.sns_topic_arns:
            raise SignatureInvalid("the SNS message is not from a topic in sns_topic_arns")
        if self._certificates is None:
            self._certificates = sns.Certificates(
                timeout_s=self.context.timeout.total_seconds(), ca_file=options.sns_ca_file
            )
        pattern = options.sns_certificate_host_pattern
        await sns.verify(message, host_pattern=pattern, certificates=self._certificates)
        if message["Type"] == "SubscriptionConfirmation":
            url = sns.check_url(message.get("SubscribeURL"), pattern, what="SubscribeURL")
            status = await self._certificates.get(url)
            if status != 200:
                raise SignatureInvalid(f"confirming the SNS subscription answered HTTP {status}")
            return []
        if message["Type"] != "Notification":
            return []
        try:
            event = json.loads(str(message.get("Message")))
        except ValueError:
            return []  # a test notification from the console, say
        return events_of(event) if isinstance(event, dict) else []

    def signed_headers(self, url: str, body: bytes) -> dict[str, str]:
        """Content-Type, X-Amz-Date, X-Amz-Security-Token (with a session token) and Authorization."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        options = self.options
        credentials = Credentials(
            options.access_key_id,
            options.secret_access_key.get_secret_value(),
            options.session_token.get_secret_value() if options.session_token else None,
        )
        request = AWSRequest(method="POST", url=url, data=body, headers={"Content-Type": "application/json"})
        SigV4Auth(credentials, "ses", options.region).add_auth(request)
        return dict(request.headers.items())


def send_email_body(message: EmailMessage, options: SesOptions) -> dict[str, Any]:
    reply_to, headers = split_reply_to(message.headers)
    simple: dict[str, Any] = {
        "Subject": {"Data": message.subject, "Charset": "UTF-8"},
        "Body": {
            part: {"Data": value, "Charset": "UTF-8"}
            for part, value in (("Text", message.text), ("Html", message.html))
            if value
        },
    }
    if headers:
        simple["Headers"] = [{"Name": name, "Value": value} for name, value in headers.items()]
    body: dict[str, Any] = {
        "FromEmailAddress": str(options.sender),
        "Destination": {"ToAddresses": [str(recipient(message.to))]},
        "Content": {"Simple": simple},
        "EmailTags": [
            {"Name": name, "Value": _NOT_TAG_CHARACTER.sub("_", value)[:256]}
            for name, value in correlation(message).items()
        ],
    }
    if reply_to is not None:
        body["ReplyToAddresses"] = [reply_to]
    if options.configuration_set:
        body["ConfigurationSetName"] = options.configuration_set
    return body


async def classify(response: aiohttp.ClientResponse) -> Outcome:
    """Sort SES's answer by what the delivery engine should do next."""
    status = response.status
    raw = await read_body(response)
    answer = json_object(raw)
    if 200 <= status < 300:
        return Outcome.sent(answer.get("MessageId"))
    kind = error_type(response.headers.get("x-amzn-ErrorType"), answer) or f"HTTP {status}"
    reason = str(answer.get("message") or answer.get("Message") or excerpt(raw))
    error = f"SES answered HTTP {status} {kind}: {reason}"
    if kind in _THROTTLED or status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=datetime.now(UTC))
        return Outcome.rate_limited(error, retry_after)
    if kind in _FIXES:
        return Outcome.permanent(f"{error}; {_FIXES[kind]}")
    if kind == "BadRequestException" and _BAD_ADDRESS.search(reason):
        return Outcome.invalid_recipient(error)
    if status == 403:  # SignatureDoesNotMatch, UnrecognizedClientException, AccessDeniedException...
        return Outcome.permanent(
            f"{error}; check access_key_id, secret_access_key, session_token, region, and that the "
            "key may call ses:SendEmail"
        )
    return common_outcome(response, error) or Outcome.permanent(error)


def events_of(event: dict[str, Any]) -> list[ProviderEvent]:
    """An SES event (event publishing's eventType, or an identity's notificationType): one per address."""
    name = event.get("eventType") or event.get("notificationType")
    mail = event.get("mail") if isinstance(event.get("mail"), dict) else {}
    tags = mail.get("tags") if isinstance(mail.get("tags"), dict) else {}
    delivery_ids = tags.get("clarion_delivery_id") or [None]

    def one(
        kind: EventKind, section: dict[str, Any], address: Any, detail: Any, *, hard: bool = False
    ) -> ProviderEvent:
        return ProviderEvent(
            kind=kind,
            occurred_at=iso_time(section.get("timestamp") or mail.get("timestamp")),
            delivery_id=text(delivery_ids[0], 64),
            provider_message_id=text(mail.get("messageId"), 255),
            address=text(address, 320),
            hard=hard,
            detail=text(detail),
        )

    section = event.get(str(name).lower()) if name else None
    section = section if isinstance(section, dict) else {}
    if name == "Bounce":
        hard = section.get("bounceType") == "Permanent"
        return [
            one(EventKind.BOUNCED, section, r.get("emailAddress"), r.get("diagnosticCode"), hard=hard)
            for r in section.get("bouncedRecipients") or []
            if isinstance(r, dict)
        ]
    if name == "Complaint":
        feedback = section.get("complaintFeedbackType")
        return [
            one(EventKind.COMPLAINED, section, r.get("emailAddress"), feedback)
            for r in section.get("complainedRecipients") or []
            if isinstance(r, dict)
        ]
    if name == "Delivery":
        response = section.get("smtpResponse")
        return [
            one(EventKind.DELIVERED, section, address, response)
            for address in section.get("recipients") or []
        ]
    if name in ("Reject", "Rendering Failure"):
        reason = section.get("reason") or section.get("errorMessage") or name
        return [one(EventKind.FAILED, section, None, reason)]
    return []


def error_type(header: str | None, answer: dict[str, Any]) -> str | None:
    """'MessageRejected' from 'MessageRejected:http://…' or 'com.amazonaws.sesv2#MessageRejected'."""
    raw = header or answer.get("__type") or answer.get("code") or answer.get("Code")
    if not isinstance(raw, str) or not raw:
        return None
    return raw.split(":", 1)[0].rsplit("#", 1)[-1]
