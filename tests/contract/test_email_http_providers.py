"""The email API providers (SendGrid, Mailgun, Postmark, SES v2) against local fakes of their APIs.

One table-driven contract runs over all four: the same situation must be classified the same way
whoever the provider is. Then, per provider, the exact request it makes and the answers only it gives.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header
from typing import Any

import aiohttp
import pytest
from fake_email_apis import (
    FakeEmailApi,
    Fault,
    MailgunApi,
    PostmarkApi,
    SendGridApi,
    SesApi,
    ses_fault,
)
from pydantic import ValidationError

from appliance.providers.base import (
    EmailMessage,
    Envelope,
    Outcome,
    OutcomeKind,
    Provider,
    ProviderContext,
    SmsMessage,
)
from appliance.providers.email_address import Mailbox, as_email, parse_mailbox, recipient, split_reply_to
from appliance.providers.http import HttpProvider
from appliance.providers.mailgun import MailgunOptions, MailgunProvider
from appliance.providers.postmark import PostmarkOptions, PostmarkProvider
from appliance.providers.sendgrid import SendGridOptions, SendGridProvider
from appliance.providers.ses import SesOptions, SesProvider, error_type

SENDER = "Clarion <no-reply@example.com>"
TO = "alice@example.org"
SENDGRID_KEY = "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"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
MAILGUN_DOMAIN = "mg.example.com"
POSTMARK_TOKEN = "f3c9e2a4-6b1d-4e8f-9a07-5d2c8b1e4f60"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_REGION = "eu-west-1"


# --- The four providers, each with its fake -----------------------------------------------


@dataclass(frozen=True)
class Case:
    provider: type[HttpProvider]
    fake: Callable[[], FakeEmailApi]
    options: Callable[[str], dict[str, Any]]  # base_url → options that work against the fake
    bad_credentials: dict[str, Any]
    secrets: tuple[str, ...]


CASES = {
    "sendgrid": Case(
        SendGridProvider,
        lambda: SendGridApi(api_key=SENDGRID_KEY, verified_senders={"no-reply@example.com"}),
        lambda url: {"api_key": SENDGRID_KEY, "from": SENDER, "base_url": url},
        {"api_key": "SG.revoked-key"},
        (SENDGRID_KEY,),
    ),
    "mailgun": Case(
        MailgunProvider,
        lambda: MailgunApi(api_key=MAILGUN_KEY, domain=MAILGUN_DOMAIN),
        lambda url: {"api_key": MAILGUN_KEY, "domain": MAILGUN_DOMAIN, "from": SENDER, "base_url": url},
        {"api_key": "key-revoked"},
        (MAILGUN_KEY,),
    ),
    "postmark": Case(
        PostmarkProvider,
        lambda: PostmarkApi(
            server_token=POSTMARK_TOKEN,
            sender_signatures={"no-reply@example.com"},
            inactive={"bounced@example.org"},
            streams={"outbound", "broadcast"},
        ),
        lambda url: {"server_token": POSTMARK_TOKEN, "from": SENDER, "base_url": url},
        {"server_token": "not-the-server-token"},
        (POSTMARK_TOKEN,),
    ),
    "ses": Case(
        SesProvider,
        lambda: SesApi(
            region=AWS_REGION,
            access_key_id=AWS_KEY_ID,
            secret_access_key=AWS_SECRET,
            verified_identities={"example.com"},
            configuration_sets=frozenset({"clarion"}),
        ),
        lambda url: {
            "region": AWS_REGION,
            "access_key_id": AWS_KEY_ID,
            "secret_access_key": AWS_SECRET,
            "from": SENDER,
            "base_url": url,
        },
        {"secret_access_key": "not/the/secret/key/of/this/access/key"},
        (AWS_SECRET,),
    ),
}


@dataclass
class Harness:
    """A running fake and a factory for providers pointed at it, closed after the test."""

    case: Case
    api: FakeEmailApi
    context: ProviderContext
    closed_port: int
    providers: list[Provider] = field(default_factory=list)

    def provider(self, *, context: ProviderContext | None = None, **overrides: Any) -> Provider:
        raw = {**self.case.options(self.api.base_url), **overrides}
        options = self.case.provider.Options.model_validate(raw)
        provider = self.case.provider(context or self.context, options)
        self.providers.append(provider)
        return provider

    def answering(self, fault: Fault) -> Provider:
        self.api.inject(fault)
        return self.provider()

    def hung(self) -> Provider:
        self.api.delay(5)
        return self.provider(context=replace(self.context, timeout=timedelta(seconds=0.3)))

    def unreachable(self) -> Provider:
        return self.provider(base_url=f"http://127.0.0.1:{self.closed_port}")


@pytest.fixture(params=sorted(CASES))
async def harness(
    request: pytest.FixtureRequest, context: ProviderContext, closed_port: int
) -> AsyncIterator[Harness]:
    async with running(CASES[request.param], context, closed_port=closed_port) as harness:
        yield harness


@contextlib.asynccontextmanager
async def running(
    case: Case, context: ProviderContext, *, api: FakeEmailApi | None = None, closed_port: int = 0
) -> AsyncIterator[Harness]:
    """The case's fake (or `api`) serving, and a Harness whose providers are closed afterwards."""
    async with api or case.fake() as served:
        harness = Harness(case, served, context, closed_port)
        try:
            yield harness
        finally:
            for provider in harness.providers:
                await provider.close()


def email(envelope: Envelope, *, to: str = TO, **changes: Any) -> EmailMessage:
    message = EmailMessage(
        envelope=envelope,
        to=to,
        subject="Your receipt for order 1042",
        text="Thanks! Order 1042: 19.90",
        html="<p>Thanks! Order <b>1042</b>: 19.90</p>",
    )
    return replace(message, **changes)


def assert_no_secret(outcome: Outcome, secrets: tuple[str, ...]) -> None:
    assert all(secret not in (outcome.error or "") for secret in secrets)


# --- One contract, every provider ----------------------------------------------------------


async def test_an_accepted_message_is_sent_with_the_providers_message_id(
    harness: Harness, envelope: Envelope
) -> None:
    outcome = await harness.provider().send(email(envelope))

    assert outcome.kind is OutcomeKind.SENT, outcome.error
    assert outcome.provider_message_id == harness.api.issued_ids[-1]


@dataclass(frozen=True)
class Scenario:
    arrange: Callable[[Harness], Provider]
    expected: OutcomeKind
    to: str = TO
    retry_after: timedelta | None = None


SCENARIOS = {
    "500-is-retryable": Scenario(lambda h: h.answering(h.api.internal_error(500)), OutcomeKind.RETRYABLE),
    "503-is-retryable": Scenario(lambda h: h.answering(h.api.internal_error(503)), OutcomeKind.RETRYABLE),
    "429-is-rate-limited-for-retry-after": Scenario(
        lambda h: h.answering(h.api.throttled("7")),
        OutcomeKind.RATE_LIMITED,
        retry_after=timedelta(seconds=7),
    ),
    "a-timeout-is-retryable": Scenario(Harness.hung, OutcomeKind.RETRYABLE),
    "a-refused-connection-is-retryable": Scenario(Harness.unreachable, OutcomeKind.RETRYABLE),
    "bad-credentials-are-permanent": Scenario(
        lambda h: h.provider(**h.case.bad_credentials), OutcomeKind.PERMANENT
    ),
    "a-malformed-address-is-an-invalid-recipient": Scenario(
        lambda h: h.provider(), OutcomeKind.INVALID_RECIPIENT, to="alice.example.org"
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
async def test_every_provider_classifies_the_same_situation_alike(
    harness: Harness, envelope: Envelope, scenario: Scenario
) -> None:
    provider = scenario.arrange(harness)

    started = time.monotonic()
    outcome = await provider.send(email(envelope, to=scenario.to))

    assert outcome.kind is scenario.expected, outcome.error
    assert outcome.retry_after == scenario.retry_after
    assert outcome.error
    assert_no_secret(outcome, harness.case.secrets)
    assert time.monotonic() - started < 2


async def test_a_secret_echoed_by_the_api_is_masked(harness: Harness, envelope: Envelope) -> None:
    [secret] = harness.case.secrets
    provider = harness.answering(Fault(400, f'{{"message": "bad key {secret}", "Message": "{secret}"}}'))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "***" in (outcome.error or "")
    assert_no_secret(outcome, harness.case.secrets)


async def test_a_proxy_error_page_is_quoted_briefly(harness: Harness, envelope: Envelope) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1>" + "x" * 5000 + "</body></html>"
    provider = harness.answering(Fault(502, page, content_type="text/html"))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert "502 Bad Gateway" in (outcome.error or "")
    assert (outcome.error or "").count("x") <= 200


async def test_a_redirect_is_permanent_and_not_followed(harness: Harness, envelope: Envelope) -> None:
    provider = harness.answering(Fault(301, headers={"Location": "https://elsewhere.example/"}))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert len(harness.api.requests) == 1


@pytest.mark.parametrize(
    "message",
    [
        lambda e: SmsMessage(envelope=e, to="+15550100", text="hi"),
        lambda e: email(e, text=None, html=None),
        lambda e: email(e, text="", html=""),
        lambda e: email(e, headers={"X-Campaign": "spring\r\nBcc: everyone@example.org"}),
        lambda e: email(e, headers={"Bad Name": "x"}),
    ],
    ids=["sms", "no-body", "empty-bodies", "multiline-header", "bad-header-name"],
)
async def test_what_no_email_api_accepts_is_permanent_and_never_sent(
    harness: Harness, envelope: Envelope, message: Callable[[Envelope], Any]
) -> None:
    outcome = await harness.provider().send(message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert harness.api.requests == []


async def test_one_pooled_session_serves_every_send(harness: Harness, envelope: Envelope) -> None:
    provider = harness.provider()
    await provider.start()
    session = provider._session  # type: ignore[attr-defined]

    outcomes = [await provider.send(email(envelope, subject=f"#{n}")) for n in range(3)]

    assert [o.kind for o in outcomes] == [OutcomeKind.SENT] * 3
    assert provider._session is session  # type: ignore[attr-defined]
    assert len(harness.api.requests) == 3


async def test_an_html_only_message_is_sent(harness: Harness, envelope: Envelope) -> None:
    outcome = await harness.provider().send(email(envelope, text=None))

    assert outcome.kind is OutcomeKind.SENT, outcome.error


async def test_a_named_recipient_is_accepted(harness: Harness, envelope: Envelope) -> None:
    outcome = await harness.provider().send(email(envelope, to='"Liddell, Alice" <alice@example.org>'))

    assert outcome.kind is OutcomeKind.SENT, outcome.error


# --- SendGrid ------------------------------------------------------------------------------


@pytest.fixture
async def sendgrid(context: ProviderContext) -> AsyncIterator[Harness]:
    async with running(CASES["sendgrid"], context) as harness:
        yield harness


async def test_sendgrid_receives_the_v3_mail_send_request(sendgrid: Harness, envelope: Envelope) -> None:
    message = email(envelope, headers={"X-Campaign": "receipts", "Reply-To": "Help <help@example.com>"})

    await sendgrid.provider().send(message)

    [request] = sendgrid.api.requests
    assert (request.method, request.path) == ("POST", "/v3/mail/send")
    assert request.headers["Authorization"] == f"Bearer {SENDGRID_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "personalizations": [{"to": [{"email": "alice@example.org"}]}],
        "from": {"email": "no-reply@example.com", "name": "Clarion"},
        "reply_to": {"email": "help@example.com", "name": "Help"},
        "subject": "Your receipt for order 1042",
        "content": [
            {"type": "text/plain", "value": "Thanks! Order 1042: 19.90"},
            {"type": "text/html", "value": "<p>Thanks! Order <b>1042</b>: 19.90</p>"},
        ],
        "headers": {"X-Campaign": "receipts"},
        "custom_args": {
            "clarion_delivery_id": envelope.delivery_id,
            "clarion_notification_id": envelope.notification_id,
        },
    }


async def test_sendgrid_splits_a_named_recipient(sendgrid: Harness, envelope: Envelope) -> None:
    await sendgrid.provider().send(email(envelope, to="Alice Liddell <alice@example.org>"))

    [request] = sendgrid.api.requests
    assert request.json()["personalizations"] == [
        {"to": [{"email": "alice@example.org", "name": "Alice Liddell"}]}
    ]


async def test_sendgrid_an_unverified_sender_is_permanent_and_says_so(
    sendgrid: Harness, envelope: Envelope
) -> None:
    outcome = await sendgrid.provider(**{"from": "Other <other@example.net>"}).send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "verified Sender Identity" in (outcome.error or "")
    assert "verified sender" in (outcome.error or "")


async def test_sendgrid_quotes_every_error_message(sendgrid: Harness, envelope: Envelope) -> None:
    outcome = await sendgrid.provider().send(email(envelope, subject="", headers={"To": "x@example.org"}))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "The subject is required." in (outcome.error or "")
    assert "The header To is reserved" in (outcome.error or "")


async def test_sendgrid_413_is_permanent(sendgrid: Harness, envelope: Envelope) -> None:
    provider = sendgrid.answering(Fault(413, '{"errors":[{"field":null,"message":"Payload Too Large"}]}'))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "30 MB" in (outcome.error or "")


async def test_sendgrid_429_without_retry_after_waits_for_the_rate_limit_reset(
    sendgrid: Harness, envelope: Envelope
) -> None:
    reset = int(datetime.now(UTC).timestamp()) + 60
    provider = sendgrid.answering(
        Fault(429, '{"errors":[{"message":"too many requests"}]}', {"X-RateLimit-Reset": str(reset)})
    )

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.RATE_LIMITED
    assert outcome.retry_after is not None
    assert timedelta(seconds=55) <= outcome.retry_after <= timedelta(seconds=60)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, OutcomeKind.PERMANENT), (403, OutcomeKind.PERMANENT), (404, OutcomeKind.PERMANENT)],
)
async def test_sendgrid_client_errors_are_permanent(
    sendgrid: Harness, envelope: Envelope, status: int, expected: OutcomeKind
) -> None:
    provider = sendgrid.answering(Fault(status, '{"errors":[{"field":null,"message":"nope"}]}'))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is expected
    assert f"HTTP {status}: nope" in (outcome.error or "")


# --- Mailgun -------------------------------------------------------------------------------


@pytest.fixture
async def mailgun(context: ProviderContext) -> AsyncIterator[Harness]:
    async with running(CASES["mailgun"], context) as harness:
        yield harness


async def test_mailgun_receives_a_multipart_form_with_basic_auth(
    mailgun: Harness, envelope: Envelope
) -> None:
    message = email(envelope, to="Alice <alice@example.org>", headers={"X-Campaign": "receipts"})

    outcome = await mailgun.provider().send(message)

    assert outcome.kind is OutcomeKind.SENT
    assert (outcome.provider_message_id or "").endswith(f"@{MAILGUN_DOMAIN}>")
    [request] = mailgun.api.requests
    assert (request.method, request.path) == ("POST", f"/v3/{MAILGUN_DOMAIN}/messages")
    assert request.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert request.headers["Authorization"] == "Basic " + _b64(f"api:{MAILGUN_KEY}")
    assert request.form() == {
        "from": [SENDER],
        "to": ["Alice <alice@example.org>"],
        "subject": ["Your receipt for order 1042"],
        "text": ["Thanks! Order 1042: 19.90"],
        "html": ["<p>Thanks! Order <b>1042</b>: 19.90</p>"],
        "h:X-Campaign": ["receipts"],
        "v:clarion_delivery_id": [envelope.delivery_id],
        "v:clarion_notification_id": [envelope.notification_id],
    }


async def test_mailgun_an_unknown_domain_is_permanent_and_names_the_region(
    mailgun: Harness, envelope: Envelope
) -> None:
    outcome = await mailgun.provider(domain="eu.example.com").send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "Domain not found: eu.example.com" in (outcome.error or "")
    assert "https://api.eu.mailgun.net" in (outcome.error or "")


async def test_mailgun_an_invalid_sender_is_permanent_not_an_invalid_recipient(
    mailgun: Harness, envelope: Envelope
) -> None:
    provider = mailgun.answering(
        Fault(400, '{"message": "from parameter is not a valid address. please check documentation"}')
    )

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT


async def test_mailgun_the_quoted_to_message_is_an_invalid_recipient(
    mailgun: Harness, envelope: Envelope
) -> None:
    provider = mailgun.answering(
        Fault(400, """{"message": "'to' parameter is not a valid address. please check documentation"}""")
    )

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.INVALID_RECIPIENT


async def test_mailgun_a_non_ascii_sender_name_is_encoded(mailgun: Harness, envelope: Envelope) -> None:
    await mailgun.provider(**{"from": "Zoë's Shop <no-reply@example.com>"}).send(email(envelope))

    [request] = mailgun.api.requests
    [sender] = request.form()["from"]
    assert sender.isascii()
    assert str(make_header(decode_header(sender))) == "Zoë's Shop <no-reply@example.com>"


# --- Postmark ------------------------------------------------------------------------------


@pytest.fixture
async def postmark(context: ProviderContext) -> AsyncIterator[Harness]:
    async with running(CASES["postmark"], context) as harness:
        yield harness


async def test_postmark_receives_the_email_request(postmark: Harness, envelope: Envelope) -> None:
    message = email(envelope, headers={"X-Campaign": "receipts", "reply-to": "help@example.com"})

    await postmark.provider(message_stream="broadcast").send(message)

    [request] = postmark.api.requests
    assert (request.method, request.path) == ("POST", "/email")
    assert request.headers["X-Postmark-Server-Token"] == POSTMARK_TOKEN
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {
        "From": SENDER,
        "To": TO,
        "Subject": "Your receipt for order 1042",
        "TextBody": "Thanks! Order 1042: 19.90",
        "HtmlBody": "<p>Thanks! Order <b>1042</b>: 19.90</p>",
        "ReplyTo": "help@example.com",
        "Headers": [{"Name": "X-Campaign", "Value": "receipts"}],
        "MessageStream": "broadcast",
        "Metadata": {
            "clarion_delivery_id": envelope.delivery_id,
            "clarion_notification_id": envelope.notification_id,
        },
    }


async def test_postmark_the_default_stream_is_outbound(postmark: Harness, envelope: Envelope) -> None:
    await postmark.provider().send(email(envelope))

    [request] = postmark.api.requests
    assert request.json()["MessageStream"] == "outbound"


async def test_postmark_an_inactive_recipient_is_an_invalid_recipient(
    postmark: Harness, envelope: Envelope
) -> None:
    outcome = await postmark.provider().send(email(envelope, to="bounced@example.org"))

    assert outcome.kind is OutcomeKind.INVALID_RECIPIENT
    assert "ErrorCode 406" in (outcome.error or "")


@pytest.mark.parametrize(
    "options",
    [{"from": "Other <other@example.net>"}, {"message_stream": "no-such-stream"}],
    ids=["sender-signature-not-found", "unknown-stream"],
)
async def test_postmark_a_rejected_request_is_permanent(
    postmark: Harness, envelope: Envelope, options: dict[str, str]
) -> None:
    outcome = await postmark.provider(**options).send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "HTTP 422" in (outcome.error or "")


async def test_postmark_error_300_about_the_sender_is_permanent(
    postmark: Harness, envelope: Envelope
) -> None:
    provider = postmark.answering(
        Fault(422, '{"ErrorCode": 300, "Message": "Invalid \'From\' address: \'x\'."}')
    )

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT


async def test_postmark_a_bad_token_says_which_option_to_fix(postmark: Harness, envelope: Envelope) -> None:
    outcome = await postmark.provider(server_token="wrong").send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "check server_token" in (outcome.error or "")
    assert "ErrorCode 10" in (outcome.error or "")


async def test_postmark_maintenance_is_retryable(postmark: Harness, envelope: Envelope) -> None:
    provider = postmark.answering(Fault(503, '{"ErrorCode": 100, "Message": "Maintenance"}'))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE


# --- Amazon SES v2 -------------------------------------------------------------------------

SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////session-token"


@pytest.fixture
async def ses(context: ProviderContext) -> AsyncIterator[Harness]:
    async with running(CASES["ses"], context) as harness:
        yield harness


async def test_ses_receives_a_sigv4_signed_send_email_request(ses: Harness, envelope: Envelope) -> None:
    message = email(envelope, headers={"X-Campaign": "receipts", "Reply-To": "help@example.com"})

    outcome = await ses.provider(configuration_set="clarion").send(message)

    assert outcome.kind is OutcomeKind.SENT, outcome.error
    [request] = ses.api.requests
    assert (request.method, request.path) == ("POST", "/v2/email/outbound-emails")
    assert request.headers["Content-Type"] == "application/json"
    [check] = ses.api.signatures  # type: ignore[attr-defined]
    signed_at = datetime.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - signed_at) < timedelta(minutes=1)
    assert check.access_key_id == AWS_KEY_ID
    assert check.scope == f"{signed_at:%Y%m%d}/{AWS_REGION}/ses/aws4_request"
    assert {"host", "x-amz-date", "content-type"} <= set(check.signed_headers)
    assert check.valid
    assert request.json() == {
        "FromEmailAddress": SENDER,
        "Destination": {"ToAddresses": [TO]},
        "ReplyToAddresses": ["help@example.com"],
        "Content": {
            "Simple": {
                "Subject": {"Data": "Your receipt for order 1042", "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": "Thanks! Order 1042: 19.90", "Charset": "UTF-8"},
                    "Html": {"Data": "<p>Thanks! Order <b>1042</b>: 19.90</p>", "Charset": "UTF-8"},
                },
                "Headers": [{"Name": "X-Campaign", "Value": "receipts"}],
            }
        },
        "ConfigurationSetName": "clarion",
        "EmailTags": [
            {"Name": "clarion_delivery_id", "Value": envelope.delivery_id},
            {"Name": "clarion_notification_id", "Value": envelope.notification_id},
        ],
    }


async def test_ses_a_session_token_is_sent_and_signed(context: ProviderContext, envelope: Envelope) -> None:
    api = SesApi(
        region=AWS_REGION,
        access_key_id=AWS_KEY_ID,
        secret_access_key=AWS_SECRET,
        session_token=SESSION_TOKEN,
        verified_identities={"example.com"},
    )
    async with running(CASES["ses"], context, api=api) as harness:
        without = await harness.provider().send(email(envelope))
        with_token = await harness.provider(session_token=SESSION_TOKEN).send(email(envelope))

    assert without.kind is OutcomeKind.PERMANENT
    assert with_token.kind is OutcomeKind.SENT, with_token.error
    assert api.requests[-1].headers["X-Amz-Security-Token"] == SESSION_TOKEN
    assert "x-amz-security-token" in api.signatures[-1].signed_headers
    assert SESSION_TOKEN not in (without.error or "")


async def test_ses_fake_refuses_a_body_changed_after_signing(ses: Harness, envelope: Envelope) -> None:
    provider = ses.provider()
    url = f"{ses.api.base_url}/v2/email/outbound-emails"
    headers = provider.signed_headers(url, b'{"signed": true}')  # type: ignore[attr-defined]

    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=b'{"signed": false}', headers=headers) as response,
    ):
        assert response.status == 403
        assert response.headers["x-amzn-ErrorType"].startswith("SignatureDoesNotMatch:")
    assert not ses.api.signatures[-1].valid  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "error_type"),
    [
        ({"secret_access_key": "wrong-secret"}, "SignatureDoesNotMatch"),
        ({"access_key_id": "AKIAUNKNOWNKEY000000"}, "UnrecognizedClientException"),
        ({"region": "us-east-1"}, "InvalidSignatureException"),  # signed for the wrong region
    ],
    ids=["wrong-secret", "unknown-key", "wrong-region"],
)
async def test_ses_refused_signatures_are_permanent_and_name_the_options(
    ses: Harness, envelope: Envelope, options: dict[str, str], error_type: str
) -> None:
    outcome = await ses.provider(**options).send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert error_type in (outcome.error or "")
    assert "check access_key_id, secret_access_key" in (outcome.error or "")
    assert "wrong-secret" not in (outcome.error or "")


@pytest.mark.parametrize(
    ("error", "status", "expected", "names"),
    [
        ("MessageRejected", 400, OutcomeKind.PERMANENT, "verified identity"),
        ("MailFromDomainNotVerifiedException", 400, OutcomeKind.PERMANENT, "MAIL FROM"),
        ("AccountSuspendedException", 400, OutcomeKind.PERMANENT, "suspended"),
        ("SendingPausedException", 400, OutcomeKind.PERMANENT, "paused"),
        ("BadRequestException", 400, OutcomeKind.PERMANENT, "BadRequestException"),
        ("LimitExceededException", 400, OutcomeKind.RATE_LIMITED, "LimitExceededException"),
        ("TooManyRequestsException", 429, OutcomeKind.RATE_LIMITED, "TooManyRequestsException"),
        ("AccessDeniedException", 403, OutcomeKind.PERMANENT, "ses:SendEmail"),
        ("InternalFailure", 500, OutcomeKind.RETRYABLE, "InternalFailure"),
    ],
)
async def test_ses_errors_are_classified_by_their_type(
    ses: Harness, envelope: Envelope, error: str, status: int, expected: OutcomeKind, names: str
) -> None:
    provider = ses.answering(ses_fault(status, error, "Something about the request."))

    outcome = await provider.send(email(envelope))

    assert outcome.kind is expected
    assert names in (outcome.error or "")
    assert "Something about the request." in (outcome.error or "")


async def test_ses_an_unverified_sender_is_rejected(ses: Harness, envelope: Envelope) -> None:
    outcome = await ses.provider(**{"from": "other@example.net"}).send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "MessageRejected" in (outcome.error or "")
    assert "Email address is not verified" in (outcome.error or "")


async def test_ses_an_unknown_configuration_set_is_permanent(ses: Harness, envelope: Envelope) -> None:
    outcome = await ses.provider(configuration_set="missing").send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "check configuration_set" in (outcome.error or "")


async def test_ses_a_tag_value_is_reduced_to_the_characters_ses_allows(
    ses: Harness, envelope: Envelope
) -> None:
    outcome = await ses.provider().send(email(replace(envelope, delivery_id="d:42/retry 1")))

    assert outcome.kind is OutcomeKind.SENT, outcome.error
    assert ses.api.requests[0].json()["EmailTags"][0] == {
        "Name": "clarion_delivery_id",
        "Value": "d_42_retry_1",
    }


@pytest.mark.parametrize(
    ("header", "body", "expected"),
    [
        ("MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/", {}, "MessageRejected"),
        (None, {"__type": "com.amazonaws.sesv2#BadRequestException"}, "BadRequestException"),
        (None, {"code": "TooManyRequestsException"}, "TooManyRequestsException"),
        (None, {"message": "no type"}, None),
    ],
)
def test_ses_error_type_reads_the_header_or_the_body(
    header: str | None, body: dict[str, str], expected: str | None
) -> None:
    assert error_type(header, body) == expected


# --- Options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options_class", "raw", "base_url"),
    [
        (SendGridOptions, {"api_key": "k", "from": SENDER}, "https://api.sendgrid.com"),
        (
            MailgunOptions,
            {"api_key": "k", "domain": "mg.example.com", "from": SENDER},
            "https://api.mailgun.net",
        ),
        (PostmarkOptions, {"server_token": "t", "from": SENDER}, "https://api.postmarkapp.com"),
    ],
)
def test_base_url_defaults_to_the_providers_api_host(
    options_class: Any, raw: dict[str, str], base_url: str
) -> None:
    assert options_class.model_validate(raw).base_url == base_url


def test_ses_endpoint_defaults_to_the_regional_host_and_base_url_overrides_it() -> None:
    raw = {"region": "eu-central-1", "access_key_id": "AKIA", "secret_access_key": "s", "from": SENDER}

    assert SesOptions.model_validate(raw).endpoint == "https://email.eu-central-1.amazonaws.com"
    assert (
        SesOptions.model_validate({**raw, "base_url": "http://proxy:8080/"}).endpoint == "http://proxy:8080"
    )


@pytest.mark.parametrize(
    ("options_class", "raw"),
    [
        (SendGridOptions, {"api_key": "k", "from": SENDER, "api_token": "typo"}),
        (SendGridOptions, {"api_key": "", "from": SENDER}),
        (SendGridOptions, {"api_key": "k", "from": "no-reply"}),
        (SendGridOptions, {"api_key": "k", "from": "a@example.com, b@example.com"}),
        (SendGridOptions, {"api_key": "k", "from": SENDER, "base_url": "api.sendgrid.com"}),
        (SendGridOptions, {"api_key": "k", "from": SENDER, "base_url": "ftp://api.sendgrid.com"}),
        (MailgunOptions, {"api_key": "k", "from": SENDER}),
        (MailgunOptions, {"api_key": "k", "domain": "mg.example.com/../x", "from": SENDER}),
        (PostmarkOptions, {"server_token": "t", "from": SENDER, "message_stream": ""}),
        (SesOptions, {"region": "Ireland", "access_key_id": "A", "secret_access_key": "s", "from": SENDER}),
        (SesOptions, {"region": "eu-west-1", "secret_access_key": "s", "from": SENDER}),
        (SesOptions, {"region": "eu-west-1", "access_key_id": "A", "secret_access_key": "s"}),
    ],
    ids=[
        "unknown-key",
        "empty-secret",
        "from-without-domain",
        "two-senders",
        "base-url-without-scheme",
        "base-url-ftp",
        "mailgun-without-domain",
        "mailgun-domain-with-path",
        "empty-stream",
        "ses-bad-region",
        "ses-without-key-id",
        "ses-without-from",
    ],
)
def test_invalid_options_are_refused(options_class: Any, raw: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        options_class.model_validate(raw)


def test_secrets_are_not_shown_in_the_options_repr() -> None:
    shown = [
        repr(SendGridOptions.model_validate({"api_key": SENDGRID_KEY, "from": SENDER})),
        repr(
            MailgunOptions.model_validate(
                {"api_key": MAILGUN_KEY, "domain": "mg.example.com", "from": SENDER}
            )
        ),
        repr(PostmarkOptions.model_validate({"server_token": POSTMARK_TOKEN, "from": SENDER})),
        repr(
            SesOptions.model_validate(
                {
                    "region": AWS_REGION,
                    "access_key_id": AWS_KEY_ID,
                    "secret_access_key": AWS_SECRET,
                    "session_token": SESSION_TOKEN,
                    "from": SENDER,
                }
            )
        ),
    ]

    for secret in (SENDGRID_KEY, MAILGUN_KEY, POSTMARK_TOKEN, AWS_SECRET, SESSION_TOKEN):
        assert all(secret not in text for text in shown)


# --- Shared helpers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mailbox"),
    [
        ("Clarion <no-reply@example.com>", Mailbox("no-reply@example.com", "Clarion")),
        ("no-reply@example.com", Mailbox("no-reply@example.com")),
        ('"Acme, Inc." <a@example.com>', Mailbox("a@example.com", "Acme, Inc.")),
        ("Zoë <zoë@exämple.org>", Mailbox("zoë@exämple.org", "Zoë")),
    ],
)
def test_parse_mailbox(text: str, mailbox: Mailbox) -> None:
    assert parse_mailbox(text) == mailbox


@pytest.mark.parametrize("text", ["", "no-reply", "x@", "@example.com", "a@example.com, b@example.com"])
def test_parse_mailbox_refuses_anything_but_one_address(text: str) -> None:
    with pytest.raises(ValueError):
        parse_mailbox(text)


@pytest.mark.parametrize(
    ("mailbox", "text"),
    [
        (Mailbox("a@example.com"), "a@example.com"),
        (Mailbox("a@example.com", "Acme"), "Acme <a@example.com>"),
        (Mailbox("a@example.com", "Acme, Inc."), '"Acme, Inc." <a@example.com>'),
        (Mailbox("zoë@exämple.org", "Zoë"), "=?utf-8?q?Zo=C3=AB?= <zoë@exämple.org>"),
    ],
)
def test_a_mailbox_prints_in_rfc_5322_form(mailbox: Mailbox, text: str) -> None:
    assert str(mailbox) == text


def test_an_unparsable_recipient_goes_as_written_for_the_api_to_judge() -> None:
    assert recipient(" alice.example.org ") == Mailbox("alice.example.org")


def test_reply_to_is_split_from_the_other_headers_whatever_its_case() -> None:
    assert split_reply_to({"REPLY-TO": "h@example.com", "X-A": "1"}) == ("h@example.com", {"X-A": "1"})
    assert split_reply_to({"X-A": "1"}) == (None, {"X-A": "1"})


def test_as_email_names_the_provider_that_refuses_another_channel(envelope: Envelope) -> None:
    outcome = as_email(SmsMessage(envelope=envelope, to="+15550100", text="hi"), "postmark")

    assert outcome == Outcome.permanent("postmark cannot send sms messages, only email")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
