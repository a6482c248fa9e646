"""Twilio, Vonage, FCM, APNs and Slack against real local fakes of their APIs.

One contract suite runs over all five (sent, outage, throttling, hangs, unreachable hosts,
pooling, redaction); provider tables then cover each API's own error codes, auth and request shape.
"""

from __future__ import annotations

import json
import re
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fake_messaging_apis import (
    FakeApi,
    FakeApns,
    FakeGoogle,
    FakeSlack,
    FakeTwilio,
    FakeVonage,
    Reply,
    apns_error,
    google_error,
    serve_h2,
    serve_http,
    twilio_error,
    vonage_refusal,
)
from pydantic import ValidationError

from appliance.providers.apns import ApnsOptions, ApnsProvider
from appliance.providers.base import (
    Envelope,
    Message,
    Outcome,
    OutcomeKind,
    Provider,
    ProviderContext,
    PushMessage,
    SmsMessage,
    WebhookMessage,
)
from appliance.providers.fcm import FcmOptions, FcmProvider
from appliance.providers.push_tokens import combine
from appliance.providers.slack import SlackOptions, SlackProvider
from appliance.providers.twilio import TwilioOptions, TwilioProvider
from appliance.providers.vonage import VonageOptions, VonageProvider

ACCOUNT_SID = "AC" + "a1" * 16
AUTH_TOKEN = "twilio-auth-token-3c5e9a41"
API_KEY_SID = "SK" + "b2" * 16
API_KEY_SECRET = "twilio-key-secret-77f1d0"
SERVICE_SID = "MG" + "c3" * 16
VONAGE_KEY = "a1b2c3d4"
VONAGE_SECRET = "vonage-secret-9f8e7d6c"
PROJECT_ID = "clarion-test"
CLIENT_EMAIL = f"clarion@{PROJECT_ID}.iam.gserviceaccount.com"
TEAM_ID = "TEAM123456"
KEY_ID = "KEY1234567"
TOPIC = "com.example.clarion"
SLACK_PATH = "/services/T0001/B0002/slackSecret0a1b2c3d4e5f"
SLACK_URL = "https://hooks.slack.com" + SLACK_PATH
STATUS_URL = "http://127.0.0.1:8000/v1/webhooks/under-test"


# --- Keys, TLS and device tokens ---------------------------------------------------------


@pytest.fixture(scope="session")
def google_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def apple_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@dataclass(frozen=True)
class H2Tls:
    server_context: ssl.SSLContext
    ca_file: str


@pytest.fixture(scope="session")
def h2_tls(tmp_path_factory: pytest.TempPathFactory) -> H2Tls:
    """A private CA and a 127.0.0.1 certificate whose server offers only HTTP/2, like APNs."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2"])
    ca_file = tmp_path_factory.mktemp("h2-tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return H2Tls(context, str(ca_file))


def fcm_token() -> str:
    return "fcm-" + secrets.token_urlsafe(40)


def apns_token() -> str:
    return secrets.token_hex(32)


# --- Harnesses: one per provider, the same shape for the shared contract ------------------


@dataclass
class Harness:
    fake: FakeApi
    make: Callable[..., Provider]  # make(context=..., **option overrides)
    message: Callable[[Envelope], Message]
    secrets: tuple[str, ...]
    sent_id: str | None  # a regex; None: the delivery id
    honours_retry_after: bool  # the API's own "slow down" carries Retry-After
    base_url_option: str = "base_url"
    tokens: dict[str, Callable[[], str]] = field(default_factory=dict)  # push only: good/dead/junk
    token_uri: str = ""  # fcm only: the fake OAuth endpoint
    # What the API sees of our credential, which a careless API might echo in an error.
    credential: Callable[[Any], str] = lambda fake: ""


@pytest.fixture
async def opened() -> AsyncIterator[list[Provider]]:
    providers: list[Provider] = []
    yield providers
    for provider in providers:
        await provider.close()


def maker(
    cls: type[Provider], base: dict[str, Any], opened: list[Provider], default: ProviderContext
) -> Callable[..., Provider]:
    def make(*, context: ProviderContext = default, **overrides: Any) -> Provider:
        provider = cls(context, cls.Options.model_validate({**base, **overrides}))
        opened.append(provider)
        return provider

    return make


@pytest.fixture
async def twilio(opened: list[Provider], context: ProviderContext) -> AsyncIterator[Harness]:
    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_key=(API_KEY_SID, API_KEY_SECRET))
    async with serve_http(fake) as base_url:
        options = {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from": "+15005550006",
            "base_url": base_url,
        }
        yield Harness(
            fake,
            maker(TwilioProvider, options, opened, context),
            lambda envelope: SmsMessage(envelope, to="+14155550100", text="Your order has shipped"),
            secrets=(AUTH_TOKEN, API_KEY_SECRET),
            credential=lambda fake: AUTH_TOKEN,
            sent_id=r"SM[0-9a-f]{32}",
            honours_retry_after=True,
        )


@pytest.fixture
async def vonage(opened: list[Provider], context: ProviderContext) -> AsyncIterator[Harness]:
    fake = FakeVonage(api_key=VONAGE_KEY, api_secret=VONAGE_SECRET)
    async with serve_http(fake) as base_url:
        options = {
            "api_key": VONAGE_KEY,
            "api_secret": VONAGE_SECRET,
            "from": "Clarion",
            "base_url": base_url,
        }
        yield Harness(
            fake,
            maker(VonageProvider, options, opened, context),
            lambda envelope: SmsMessage(envelope, to="+447700900000", text="Your order has shipped"),
            secrets=(VONAGE_SECRET,),
            credential=lambda fake: VONAGE_SECRET,
            sent_id=r"[0-9A-F]{16}",
            honours_retry_after=False,  # Vonage throttles with status "1" in a 200
        )


def service_account(key: rsa.RSAPrivateKey, token_uri: str) -> dict[str, str]:
    return {
        "type": "service_account",
        "project_id": PROJECT_ID,
        "private_key_id": "0123456789abcdef",
        "private_key": pem(key),
        "client_email": CLIENT_EMAIL,
        "client_id": "103948576012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }


@pytest.fixture
async def fcm(
    opened: list[Provider], context: ProviderContext, google_key: rsa.RSAPrivateKey
) -> AsyncIterator[Harness]:
    fake = FakeGoogle(project_id=PROJECT_ID, client_email=CLIENT_EMAIL, public_key=google_key.public_key())
    async with serve_http(fake) as base_url:
        token_uri = base_url + FakeGoogle.TOKEN_PATH
        account = json.dumps(service_account(google_key, token_uri))
        options = {"service_account_json": account, "base_url": base_url}

        def dead() -> str:
            token = fcm_token()
            fake.unregistered.add(token)
            return token

        yield Harness(
            fake,
            maker(FcmProvider, options, opened, context),
            lambda envelope: PushMessage(envelope, tokens=(fcm_token(),), title="Shipped", body="On its way"),
            secrets=(pem(google_key).splitlines()[1],),
            credential=lambda fake: next(iter(fake.access_tokens)),
            sent_id=rf"projects/{PROJECT_ID}/messages/0:\d+%31bd1c96",
            honours_retry_after=True,
            tokens={"good": fcm_token, "dead": dead, "junk": lambda: "not a token"},
            token_uri=token_uri,
        )


@pytest.fixture
async def apns(
    opened: list[Provider], context: ProviderContext, apple_key: ec.EllipticCurvePrivateKey, h2_tls: H2Tls
) -> AsyncIterator[Harness]:
    fake = FakeApns(team_id=TEAM_ID, key_id=KEY_ID, public_key=apple_key.public_key(), topic=TOPIC)
    async with serve_h2(fake, h2_tls.server_context) as base_url:
        options = {
            "team_id": TEAM_ID,
            "key_id": KEY_ID,
            "key_pem": pem(apple_key),
            "topic": TOPIC,
            "base_url": base_url,
            "ca_file": h2_tls.ca_file,
        }

        def dead() -> str:
            token = apns_token()
            fake.unregistered.add(token)
            return token

        yield Harness(
            fake,
            maker(ApnsProvider, options, opened, context),
            lambda envelope: PushMessage(
                envelope, tokens=(apns_token(),), title="Shipped", body="On its way", data={"order": "1042"}
            ),
            secrets=(pem(apple_key).splitlines()[1],),
            credential=lambda fake: fake.provider_tokens()[-1],
            sent_id=r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}",
            honours_retry_after=False,  # APNs sends no Retry-After
            tokens={"good": apns_token, "dead": dead, "junk": lambda: "not-hex"},
        )


@pytest.fixture
async def slack(opened: list[Provider], context: ProviderContext) -> AsyncIterator[Harness]:
    fake = FakeSlack(webhook_path=SLACK_PATH)
    async with serve_http(fake) as base_url:
        yield Harness(
            fake,
            maker(SlackProvider, {"webhook_url": SLACK_URL, "base_url": base_url}, opened, context),
            lambda envelope: WebhookMessage(envelope, text="Deploy finished"),
            secrets=(SLACK_PATH, "slackSecret0a1b2c3d4e5f"),
            credential=lambda fake: SLACK_PATH,
            sent_id=None,
            honours_retry_after=True,
        )


ALL = ["twilio", "vonage", "fcm", "apns", "slack"]
PUSH = ["fcm", "apns"]


@pytest.fixture(params=ALL)
def harness(request: pytest.FixtureRequest) -> Harness:
    return request.getfixturevalue(request.param)


@pytest.fixture(params=PUSH)
def push(request: pytest.FixtureRequest) -> Harness:
    return request.getfixturevalue(request.param)


def assert_no_secrets(outcome: Outcome, harness: Harness) -> None:
    for secret in harness.secrets:
        assert secret not in (outcome.error or "")


# --- The shared contract -----------------------------------------------------------------


async def test_a_message_is_sent_and_named_by_the_provider(harness: Harness, envelope: Envelope) -> None:
    outcome = await harness.make().send(harness.message(envelope))

    assert outcome.kind is OutcomeKind.SENT, outcome.error
    expected = harness.sent_id or re.escape(envelope.delivery_id)
    assert re.fullmatch(expected, outcome.provider_message_id or ""), outcome.provider_message_id
    assert len(harness.fake.requests) == 1


async def test_an_outage_is_retryable(harness: Harness, envelope: Envelope) -> None:
    harness.fake.reply_next(harness.fake.unavailable())

    outcome = await harness.make().send(harness.message(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert "503" in (outcome.error or "")
    assert_no_secrets(outcome, harness)


async def test_throttling_is_rate_limited_and_keeps_retry_after(harness: Harness, envelope: Envelope) -> None:
    harness.fake.reply_next(harness.fake.throttled(retry_after="30"))

    outcome = await harness.make().send(harness.message(envelope))

    assert outcome.kind is OutcomeKind.RATE_LIMITED
    assert outcome.retry_after == (timedelta(seconds=30) if harness.honours_retry_after else None)
    assert_no_secrets(outcome, harness)


async def test_an_api_that_hangs_times_out_as_retryable(
    harness: Harness, context: ProviderContext, envelope: Envelope
) -> None:
    harness.fake.hang_next()
    impatient = replace(context, timeout=timedelta(seconds=0.3))

    started = time.monotonic()
    outcome = await harness.make(context=impatient).send(harness.message(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert "0.3s" in (outcome.error or "")
    assert time.monotonic() - started < 2


async def test_an_unreachable_api_is_retryable(
    harness: Harness, closed_port: int, envelope: Envelope
) -> None:
    scheme = "https" if isinstance(harness.fake, FakeApns) else "http"
    provider = harness.make(**{harness.base_url_option: f"{scheme}://127.0.0.1:{closed_port}"})

    outcome = await provider.send(harness.message(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert_no_secrets(outcome, harness)


async def test_a_refusal_that_echoes_a_credential_is_redacted(harness: Harness, envelope: Envelope) -> None:
    provider = harness.make()
    await provider.send(harness.message(envelope))  # FCM and APNs mint their bearer token here
    credential = harness.credential(harness.fake)
    harness.fake.reply_next(Reply.text(400, f"rejected {credential}"))

    outcome = await provider.send(harness.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "rejected ***" in (outcome.error or "")
    assert credential not in (outcome.error or "")


async def test_other_channels_are_refused_without_a_request(harness: Harness, envelope: Envelope) -> None:
    sms = SmsMessage(envelope, to="+14155550100", text="hi")
    other = WebhookMessage(envelope, text="hi") if isinstance(harness.message(envelope), SmsMessage) else sms

    outcome = await harness.make().send(other)

    assert outcome.kind is OutcomeKind.PERMANENT
    assert harness.fake.requests == []


async def test_one_pooled_client_serves_every_send(harness: Harness, envelope: Envelope) -> None:
    provider = harness.make()
    await provider.start()
    pool = getattr(provider, "_session", None) or getattr(provider, "_client", None)

    for number in range(3):
        outcome = await provider.send(harness.message(replace(envelope, delivery_id=f"d-{number}")))
        assert outcome.kind is OutcomeKind.SENT, outcome.error

    assert pool is not None
    assert (getattr(provider, "_session", None) or getattr(provider, "_client", None)) is pool
    if isinstance(harness.fake, FakeApns):  # HTTP/2: every send on one multiplexed connection
        assert harness.fake.connections == 1
    await provider.close()


# --- Multi-token push: the rule fcm and apns share ---------------------------------------


@pytest.mark.parametrize(
    ("tokens", "expected", "requests"),
    [
        (["good"], OutcomeKind.SENT, 1),
        (["good", "good"], OutcomeKind.SENT, 2),
        (["dead", "good"], OutcomeKind.SENT, 2),
        (["good", "junk"], OutcomeKind.SENT, 2),
        (["dead"], OutcomeKind.INVALID_RECIPIENT, 1),
        (["dead", "junk"], OutcomeKind.INVALID_RECIPIENT, 2),
        ([], OutcomeKind.INVALID_RECIPIENT, 0),
    ],
)
async def test_a_push_is_sent_if_any_token_gets_it(
    push: Harness, envelope: Envelope, tokens: list[str], expected: OutcomeKind, requests: int
) -> None:
    device_tokens = tuple(push.tokens[kind]() for kind in tokens)
    message = PushMessage(envelope, tokens=device_tokens, title="Shipped", body="On its way")

    outcome = await push.make().send(message)

    assert outcome.kind is expected
    assert len(push.fake.requests) == requests
    dead = [token for kind, token in zip(tokens, device_tokens, strict=True) if kind != "good"]
    for token in dead:  # dead tokens are named (shortened) so an operator can prune them
        assert token[:12] in (outcome.error or "")
    if expected is OutcomeKind.SENT:
        assert outcome.provider_message_id
        assert (outcome.error is None) == (not dead)


async def test_a_provider_failure_stops_the_remaining_tokens(push: Harness, envelope: Envelope) -> None:
    push.fake.reply_next(push.fake.unavailable())
    message = PushMessage(
        envelope, tokens=tuple(push.tokens["good"]() for _ in range(3)), title="t", body="b"
    )

    outcome = await push.make().send(message)

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert len(push.fake.requests) == 1


def test_combine_prefers_a_success_and_otherwise_the_provider_failure() -> None:
    dead = Outcome.invalid_recipient("Unregistered")
    down = Outcome.retryable("HTTP 503")

    sent = combine([("a" * 20, dead), ("b" * 20, Outcome.sent("m-2"))])
    assert (sent.kind, sent.provider_message_id) == (OutcomeKind.SENT, "m-2")
    assert sent.invalid_tokens == ("a" * 20,)
    failed = combine([("a" * 20, dead), ("b" * 20, down)])
    assert (failed.kind, failed.error, failed.invalid_tokens) == (down.kind, down.error, ("a" * 20,))
    gone = combine([("a" * 20, dead)])
    assert (gone.kind, gone.invalid_tokens) == (OutcomeKind.INVALID_RECIPIENT, ("a" * 20,))


# --- Twilio ------------------------------------------------------------------------------


async def test_twilio_posts_the_form_with_basic_auth(twilio: Harness, envelope: Envelope) -> None:
    await twilio.make().send(SmsMessage(envelope, to="+14155550100", text="Ünïcode ok 👋"))

    [request] = twilio.fake.requests
    assert request.path == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.form() == {
        "To": "+14155550100",
        "Body": "Ünïcode ok 👋",
        "From": "+15005550006",
        "StatusCallback": STATUS_URL,
    }


async def test_twilio_can_use_an_api_key_and_a_messaging_service(twilio: Harness, envelope: Envelope) -> None:
    provider = twilio.make(
        auth_token=None,
        api_key_sid=API_KEY_SID,
        api_key_secret=API_KEY_SECRET,
        messaging_service_sid=SERVICE_SID,
        status_callback=False,
        **{"from": None},
    )

    outcome = await provider.send(twilio.message(envelope))

    assert outcome.kind is OutcomeKind.SENT, outcome.error
    [request] = twilio.fake.requests
    assert request.form() == {
        "To": "+14155550100",
        "Body": "Your order has shipped",
        "MessagingServiceSid": SERVICE_SID,
    }


@pytest.mark.parametrize(
    ("to", "expected", "code"),
    [
        ("+15005550001", OutcomeKind.INVALID_RECIPIENT, "21211"),
        ("+15005550002", OutcomeKind.INVALID_RECIPIENT, "21612"),
        ("+15005550004", OutcomeKind.INVALID_RECIPIENT, "21610"),
        ("+15005550009", OutcomeKind.INVALID_RECIPIENT, "21614"),
        ("+15005550003", OutcomeKind.PERMANENT, "21408"),
    ],
)
async def test_twilio_magic_numbers_are_classified(
    twilio: Harness, envelope: Envelope, to: str, expected: OutcomeKind, code: str
) -> None:
    outcome = await twilio.make().send(SmsMessage(envelope, to=to, text="hi"))

    assert outcome.kind is expected
    assert f"Twilio error {code}" in (outcome.error or "")
    assert f"https://www.twilio.com/docs/errors/{code}" in (outcome.error or "")


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            twilio_error(400, 21611, "This 'From' number has exceeded the maximum number of queued messages"),
            "rate_limited",
        ),
        (twilio_error(400, 30001, "Queue overflow"), "rate_limited"),
        (twilio_error(500, 20500, "An internal server error has occurred"), "retryable"),
        (
            twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit"),
            "permanent",
        ),
        (Reply.text(502, "<html>Bad Gateway</html>"), "retryable"),
    ],
)
async def test_twilio_error_codes_are_classified(
    twilio: Harness, envelope: Envelope, reply: Reply, expected: str
) -> None:
    twilio.fake.reply_next(reply)

    outcome = await twilio.make().send(twilio.message(envelope))

    assert outcome.kind is OutcomeKind(expected)


async def test_twilio_bad_credentials_are_permanent_and_not_echoed(
    twilio: Harness, envelope: Envelope
) -> None:
    outcome = await twilio.make(auth_token="wrong-token-0000").send(twilio.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "20003" in (outcome.error or "") and "auth_token" in (outcome.error or "")
    assert "wrong-token-0000" not in (outcome.error or "")


# --- Vonage ------------------------------------------------------------------------------


async def test_vonage_posts_the_form_with_digits_only(vonage: Harness, envelope: Envelope) -> None:
    await vonage.make().send(SmsMessage(envelope, to="+44 7700 900000", text="Your order has shipped"))

    [request] = vonage.fake.requests
    assert request.path == "/sms/json"
    assert request.form() == {
        "api_key": VONAGE_KEY,
        "api_secret": VONAGE_SECRET,
        "from": "Clarion",
        "to": "447700900000",
        "text": "Your order has shipped",
        "type": "text",
        "client-ref": envelope.delivery_id,
        "callback": STATUS_URL,
    }


@pytest.mark.parametrize(
    ("text", "kind"), [("Grüße, café €5", "text"), ("Shipped 👋", "unicode"), ("价格", "unicode")]
)
async def test_vonage_sends_non_gsm_text_as_unicode(
    vonage: Harness, envelope: Envelope, text: str, kind: str
) -> None:
    await vonage.make().send(SmsMessage(envelope, to="+447700900000", text=text))

    assert vonage.fake.requests[0].form()["type"] == kind


@pytest.mark.parametrize("to", ["07700 900000", "+44", "call me", "+0447700900000"])
async def test_vonage_refuses_a_number_that_is_not_e164_without_a_request(
    vonage: Harness, envelope: Envelope, to: str
) -> None:
    outcome = await vonage.make().send(SmsMessage(envelope, to=to, text="hi"))

    assert outcome.kind is OutcomeKind.INVALID_RECIPIENT
    assert vonage.fake.requests == []


async def test_vonage_long_text_is_sent_in_parts_named_by_the_first(
    vonage: Harness, envelope: Envelope
) -> None:
    outcome = await vonage.make().send(SmsMessage(envelope, to="+447700900000", text="x" * 400))

    assert outcome.kind is OutcomeKind.SENT
    assert re.fullmatch(r"[0-9A-F]{16}", outcome.provider_message_id or "")


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        ("+447700900001", OutcomeKind.INVALID_RECIPIENT),  # 7 number barred
        ("+447700900002", OutcomeKind.INVALID_RECIPIENT),  # 33 number de-activated
        ("+447700900003", OutcomeKind.PERMANENT),  # 29 non-whitelisted destination
        ("+447700900004", OutcomeKind.PERMANENT),  # 6 unroutable
    ],
)
async def test_vonage_refused_destinations_are_classified(
    vonage: Harness, envelope: Envelope, to: str, expected: OutcomeKind
) -> None:
    outcome = await vonage.make().send(SmsMessage(envelope, to=to, text="hi"))

    assert outcome.kind is expected
    assert "Vonage status" in (outcome.error or "")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("1", OutcomeKind.RATE_LIMITED),
        ("2", OutcomeKind.PERMANENT),
        ("3", OutcomeKind.PERMANENT),
        ("5", OutcomeKind.RETRYABLE),
        ("8", OutcomeKind.PERMANENT),
        ("9", OutcomeKind.PERMANENT),
        ("10", OutcomeKind.RATE_LIMITED),
        ("15", OutcomeKind.PERMANENT),
        ("23", OutcomeKind.PERMANENT),
        ("99", OutcomeKind.PERMANENT),
    ],
)
async def test_vonage_statuses_are_classified(
    vonage: Harness, envelope: Envelope, status: str, expected: OutcomeKind
) -> None:
    vonage.fake.reply_next(vonage_refusal(status, "refused"))

    outcome = await vonage.make().send(vonage.message(envelope))

    assert outcome.kind is expected
    assert f"Vonage status {status}" in (outcome.error or "")


async def test_vonage_a_refused_later_part_decides(vonage: Harness, envelope: Envelope) -> None:
    parts = [{"status": "0", "message-id": "0A0000001"}, {"status": "5", "error-text": "Internal Error"}]
    vonage.fake.reply_next(Reply.json(200, {"message-count": "2", "messages": parts}))

    outcome = await vonage.make().send(vonage.message(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE


async def test_vonage_bad_credentials_are_permanent_and_not_echoed(
    vonage: Harness, envelope: Envelope
) -> None:
    outcome = await vonage.make(api_secret="wrong-secret-1234").send(vonage.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "check api_key and api_secret" in (outcome.error or "")
    assert "wrong-secret-1234" not in (outcome.error or "")


# --- FCM ---------------------------------------------------------------------------------


async def test_fcm_posts_one_v1_message_per_token(fcm: Harness, envelope: Envelope) -> None:
    tokens = (fcm_token(), fcm_token())
    message = PushMessage(envelope, tokens=tokens, title="Shipped", body="On its way", data={"order": "1042"})

    await fcm.make().send(message)

    assert [r.path for r in fcm.fake.requests] == [f"/v1/projects/{PROJECT_ID}/messages:send"] * 2
    assert [r.json() for r in fcm.fake.requests] == [
        {
            "message": {
                "token": token,
                "notification": {"title": "Shipped", "body": "On its way"},
                "android": {"priority": "HIGH"},
                "data": {"order": "1042"},
            }
        }
        for token in tokens
    ]
    assert all(r.headers["authorization"].startswith("Bearer ya29.fake-") for r in fcm.fake.requests)


@pytest.mark.parametrize(
    ("options", "category", "priority"),
    [
        ({}, "orders", "HIGH"),
        ({"priority": "normal"}, "orders", "NORMAL"),
        ({"normal_priority_categories": ["digest"]}, "digest", "NORMAL"),
    ],
)
async def test_fcm_android_priority(
    fcm: Harness, envelope: Envelope, options: dict[str, Any], category: str, priority: str
) -> None:
    await fcm.make(**options).send(fcm.message(replace(envelope, category=category)))

    assert fcm.fake.requests[0].json()["message"]["android"] == {"priority": priority}


async def test_fcm_caches_the_access_token_until_it_expires(fcm: Harness, envelope: Envelope) -> None:
    assert isinstance(fcm.fake, FakeGoogle)
    provider = fcm.make()

    for _ in range(3):
        assert (await provider.send(fcm.message(envelope))).kind is OutcomeKind.SENT

    assert fcm.fake.token_fetches == 1
    assert len({r.headers["authorization"] for r in fcm.fake.requests}) == 1


async def test_fcm_refreshes_a_token_that_is_about_to_expire(fcm: Harness, envelope: Envelope) -> None:
    assert isinstance(fcm.fake, FakeGoogle)
    fcm.fake.expires_in = 60  # inside google-auth's refresh margin: stale as soon as it arrives
    provider = fcm.make()

    for _ in range(2):
        assert (await provider.send(fcm.message(envelope))).kind is OutcomeKind.SENT

    assert fcm.fake.token_fetches == 2


async def test_fcm_fetches_a_new_token_once_when_fcm_rejects_it(fcm: Harness, envelope: Envelope) -> None:
    assert isinstance(fcm.fake, FakeGoogle)
    provider = fcm.make()
    await provider.send(fcm.message(envelope))
    fcm.fake.revoke_access_tokens()

    outcome = await provider.send(fcm.message(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert fcm.fake.token_fetches == 2
    assert len(fcm.fake.requests) == 3


async def test_fcm_a_key_google_does_not_know_is_permanent(
    fcm: Harness, envelope: Envelope, tmp_path: Path
) -> None:
    assert isinstance(fcm.fake, FakeGoogle)
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = _write(tmp_path / "key.json", service_account(impostor, fcm.token_uri))
    provider = fcm.make(service_account_json=None, service_account_file=str(key_file))

    outcome = await provider.send(fcm.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "invalid_grant" in (outcome.error or "")
    assert fcm.fake.token_fetches == 1
    assert [r for r in fcm.fake.requests if "messages:send" in r.path] == []


async def test_fcm_reads_the_key_from_service_account_file(
    fcm: Harness, envelope: Envelope, tmp_path: Path, google_key: rsa.RSAPrivateKey
) -> None:
    key_file = _write(tmp_path / "key.json", service_account(google_key, fcm.token_uri))

    outcome = await fcm.make(service_account_json=None, service_account_file=str(key_file)).send(
        fcm.message(envelope)
    )

    assert outcome.kind is OutcomeKind.SENT, outcome.error


def _write(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


async def test_fcm_a_missing_key_file_is_permanent(fcm: Harness, envelope: Envelope, tmp_path: Path) -> None:
    provider = fcm.make(service_account_json=None, service_account_file=str(tmp_path / "missing.json"))

    outcome = await provider.send(fcm.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "service_account_file" in (outcome.error or "")


async def test_fcm_a_hung_token_endpoint_is_retryable(
    fcm: Harness, envelope: Envelope, context: ProviderContext
) -> None:
    assert isinstance(fcm.fake, FakeGoogle)
    fcm.fake.token_replies.append(Reply(0, hang=True))

    outcome = await fcm.make(context=replace(context, timeout=timedelta(seconds=0.3))).send(
        fcm.message(envelope)
    )

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert "token endpoint" in (outcome.error or "")


async def test_fcm_a_token_endpoint_refusal_is_permanent(fcm: Harness, envelope: Envelope) -> None:
    assert isinstance(fcm.fake, FakeGoogle)
    fcm.fake.token_replies.append(
        Reply.json(400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"})
    )

    outcome = await fcm.make().send(fcm.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "account not found" in (outcome.error or "")


@pytest.mark.parametrize(
    ("reply", "expected", "says"),
    [
        (
            google_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH"),
            "permanent",
            "another Firebase project",
        ),
        (
            google_error(
                401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR"
            ),
            "permanent",
            "APNs key",
        ),
        (
            google_error(
                400, "INVALID_ARGUMENT", "Invalid value at 'message.android.ttl'", "INVALID_ARGUMENT"
            ),
            "permanent",
            "refused the message",
        ),
        (google_error(500, "INTERNAL", "Internal error encountered.", "INTERNAL"), "retryable", "INTERNAL"),
        (
            google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED"),
            "invalid_recipient",
            "no longer registered",
        ),
    ],
)
async def test_fcm_errors_are_classified(
    fcm: Harness, envelope: Envelope, reply: Reply, expected: str, says: str
) -> None:
    fcm.fake.reply_next(reply)

    outcome = await fcm.make().send(fcm.message(envelope))

    assert outcome.kind is OutcomeKind(expected)
    assert says in (outcome.error or "")
    assert len(fcm.fake.requests) == 1  # THIRD_PARTY_AUTH_ERROR is not our token: no second try


async def test_fcm_a_project_the_account_may_not_use_is_permanent(fcm: Harness, envelope: Envelope) -> None:
    outcome = await fcm.make(project_id="someone-elses").send(fcm.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "Firebase Cloud Messaging API Admin" in (outcome.error or "")


# --- APNs --------------------------------------------------------------------------------


async def test_apns_posts_the_alert_with_apple_headers_over_http2(
    apns: Harness, envelope: Envelope, apple_key: ec.EllipticCurvePrivateKey
) -> None:
    token = apns_token()
    message = PushMessage(
        envelope, tokens=(token,), title="Shipped", body="On its way", data={"order": "1042"}
    )

    outcome = await apns.make().send(message)

    assert outcome.kind is OutcomeKind.SENT, outcome.error
    [request] = apns.fake.requests
    assert request.path == f"/3/device/{token}"
    assert request.json() == {
        "order": "1042",
        "aps": {"alert": {"title": "Shipped", "body": "On its way"}, "sound": "default"},
    }
    assert request.headers["apns-topic"] == TOPIC
    assert request.headers["apns-push-type"] == "alert"
    assert request.headers["apns-priority"] == "10"
    assert abs(int(request.headers["apns-expiration"]) - (time.time() + 86400)) < 5
    assert "apns-collapse-id" not in request.headers
    bearer = request.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(bearer) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    claims = jwt.decode(bearer, apple_key.public_key(), algorithms=["ES256"])
    assert claims["iss"] == TEAM_ID and abs(claims["iat"] - time.time()) < 5


@pytest.mark.parametrize(
    ("options", "category", "headers"),
    [
        ({"priority": "normal"}, "orders", {"apns-priority": "5"}),
        ({"normal_priority_categories": ["digest"]}, "digest", {"apns-priority": "5"}),
        ({"normal_priority_categories": ["digest"]}, "orders", {"apns-priority": "10"}),
        ({"collapse_by_template": True}, "orders", {"apns-collapse-id": "receipt"}),
        ({"ttl_s": 0}, "orders", {"apns-expiration": "0"}),
    ],
)
async def test_apns_options_set_headers(
    apns: Harness, envelope: Envelope, options: dict[str, Any], category: str, headers: dict[str, str]
) -> None:
    await apns.make(**options).send(apns.message(replace(envelope, category=category)))

    sent = apns.fake.requests[0].headers
    assert {name: sent.get(name) for name in headers} == headers


async def test_apns_reuses_its_jwt_for_50_minutes_then_mints_a_new_one(
    apns: Harness, envelope: Envelope
) -> None:
    assert isinstance(apns.fake, FakeApns)
    provider = apns.make()
    assert isinstance(provider, ApnsProvider)
    start = time.time() - 51 * 60  # Apple accepts a JWT for an hour; ours is 51 minutes old at the end
    clock = {"now": start}
    provider.clock = lambda: clock["now"]

    for offset_min in (0, 20, 49):
        clock["now"] = start + offset_min * 60
        assert (await provider.send(apns.message(envelope))).kind is OutcomeKind.SENT
    assert len(apns.fake.provider_tokens()) == 1

    clock["now"] = start + 51 * 60
    assert (await provider.send(apns.message(envelope))).kind is OutcomeKind.SENT
    assert len(apns.fake.provider_tokens()) == 2


async def test_apns_an_expired_provider_token_is_reminted_and_retried_once(
    apns: Harness, envelope: Envelope
) -> None:
    assert isinstance(apns.fake, FakeApns)
    provider = apns.make()
    await provider.send(apns.message(envelope))
    apns.fake.expire_provider_tokens_seen()

    outcome = await provider.send(apns.message(envelope))
    await provider.send(apns.message(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert apns.fake.requests[1].path == apns.fake.requests[2].path  # the same device, twice
    assert len(apns.fake.requests) == 4
    assert len(apns.fake.provider_tokens()) == 2  # the new JWT is then reused


async def test_apns_a_provider_token_refused_twice_is_permanent(apns: Harness, envelope: Envelope) -> None:
    outcome = await apns.make(team_id="OTHERTEAM1").send(apns.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "InvalidProviderToken" in (outcome.error or "") and "team_id" in (outcome.error or "")
    assert len(apns.fake.requests) == 2
    assert isinstance(apns.fake, FakeApns) and len(apns.fake.provider_tokens()) == 2


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (apns_error(400, "BadDeviceToken"), "invalid_recipient"),
        (apns_error(400, "DeviceTokenNotForTopic"), "invalid_recipient"),
        (apns_error(410, "Unregistered", timestamp=1454402113000), "invalid_recipient"),
        (apns_error(429, "TooManyRequests"), "rate_limited"),
        (apns_error(500, "InternalServerError"), "retryable"),
        (apns_error(503, "Shutdown"), "retryable"),
        (apns_error(403, "BadEnvironmentKeyIdInToken"), "permanent"),
        (apns_error(400, "TopicDisallowed"), "permanent"),
        (apns_error(413, "PayloadTooLarge"), "permanent"),
    ],
)
async def test_apns_reasons_are_classified(
    apns: Harness, envelope: Envelope, reply: Reply, expected: str
) -> None:
    apns.fake.reply_next(reply)

    outcome = await apns.make().send(apns.message(envelope))

    assert outcome.kind is OutcomeKind(expected)
    assert json.loads(reply.body)["reason"] in (outcome.error or "")


async def test_apns_a_token_for_another_app_is_an_invalid_recipient(
    apns: Harness, envelope: Envelope
) -> None:
    outcome = await apns.make(topic="com.example.other").send(apns.message(envelope))

    assert outcome.kind is OutcomeKind.INVALID_RECIPIENT
    assert "DeviceTokenNotForTopic" in (outcome.error or "")


async def test_apns_an_untrusted_certificate_is_permanent(apns: Harness, envelope: Envelope) -> None:
    outcome = await apns.make(ca_file=None).send(apns.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "not trusted" in (outcome.error or "")


async def test_apns_reads_the_key_from_key_file(
    apns: Harness, envelope: Envelope, tmp_path: Path, apple_key: ec.EllipticCurvePrivateKey
) -> None:
    key_file = tmp_path / f"AuthKey_{KEY_ID}.p8"
    key_file.write_text(pem(apple_key))

    outcome = await apns.make(key_pem=None, key_file=str(key_file)).send(apns.message(envelope))

    assert outcome.kind is OutcomeKind.SENT, outcome.error


# --- Slack -------------------------------------------------------------------------------


async def test_slack_posts_the_text_as_json(slack: Harness, envelope: Envelope) -> None:
    await slack.make().send(WebhookMessage(envelope, text="Deploy *finished*"))

    [request] = slack.fake.requests
    assert (request.method, request.path) == ("POST", SLACK_PATH)
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"text": "Deploy *finished*"}


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (404, "no_service"),
        (404, "channel_not_found"),
        (410, "channel_is_archived"),
        (403, "action_prohibited"),
        (403, "invalid_token"),
    ],
)
async def test_slack_a_dead_webhook_is_permanent_and_says_so(
    slack: Harness, envelope: Envelope, status: int, code: str
) -> None:
    assert isinstance(slack.fake, FakeSlack)
    slack.fake.dead[SLACK_PATH] = (status, code)

    outcome = await slack.make().send(slack.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "webhook is dead" in (outcome.error or "") and code in (outcome.error or "")
    assert_no_secrets(outcome, slack)


async def test_slack_a_bad_payload_is_permanent_but_the_webhook_lives(
    slack: Harness, envelope: Envelope
) -> None:
    slack.fake.reply_next(Reply.text(400, "invalid_payload"))

    outcome = await slack.make().send(slack.message(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "invalid_payload" in (outcome.error or "") and "dead" not in (outcome.error or "")


def test_slack_without_base_url_posts_to_the_webhook_url_itself(context: ProviderContext) -> None:
    provider = SlackProvider(context, SlackOptions.model_validate({"webhook_url": SLACK_URL}))

    assert provider.url() == SLACK_URL


# --- Options -----------------------------------------------------------------------------

TWILIO = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": "+15005550006"}
VONAGE = {"api_key": VONAGE_KEY, "api_secret": VONAGE_SECRET, "from": "Clarion"}
APNS = {"team_id": TEAM_ID, "key_id": KEY_ID, "topic": TOPIC}


@pytest.mark.parametrize(
    ("options", "raw"),
    [
        (TwilioOptions, {**TWILIO, "account_sid": "AC123"}),
        (TwilioOptions, {k: v for k, v in TWILIO.items() if k != "from"}),
        (TwilioOptions, {**TWILIO, "messaging_service_sid": SERVICE_SID}),
        (TwilioOptions, {**TWILIO, "auth_token": None}),
        (TwilioOptions, {**TWILIO, "api_key_sid": API_KEY_SID}),
        (TwilioOptions, {**TWILIO, "base_url": "api.twilio.com"}),
        (TwilioOptions, {**TWILIO, "region": "ie1"}),
        (VonageOptions, {k: v for k, v in VONAGE.items() if k != "api_secret"}),
        (VonageOptions, {**VONAGE, "from": ""}),
        (FcmOptions, {}),
        (FcmOptions, {"service_account_file": "a.json", "service_account_json": "{}"}),
        (FcmOptions, {"service_account_json": "not json"}),
        (FcmOptions, {"service_account_json": '{"type": "authorized_user"}'}),
        (ApnsOptions, {**APNS, "key_pem": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}),
        (ApnsOptions, {**APNS}),
        (ApnsOptions, {**APNS, "key_file": "k.p8", "team_id": "team"}),
        (ApnsOptions, {**APNS, "key_file": "k.p8", "ttl_s": -1}),
        (SlackOptions, {"webhook_url": "http://hooks.slack.com/services/T/B/x"}),
        (SlackOptions, {"webhook_url": "hooks.slack.com/services/T/B/x"}),
    ],
    ids=[
        "twilio-bad-sid",
        "twilio-no-sender",
        "twilio-two-senders",
        "twilio-no-credentials",
        "twilio-half-api-key",
        "twilio-base-url-without-scheme",
        "twilio-unknown-key",
        "vonage-no-secret",
        "vonage-empty-from",
        "fcm-no-key",
        "fcm-two-keys",
        "fcm-key-not-json",
        "fcm-not-a-service-account",
        "apns-not-a-p8-key",
        "apns-no-key",
        "apns-bad-team-id",
        "apns-negative-ttl",
        "slack-plain-http",
        "slack-no-scheme",
    ],
)
def test_invalid_options_are_refused(options: type[Any], raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        options.model_validate(raw)


def test_an_rsa_key_is_not_an_apns_key(google_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ValidationError, match="P-256"):
        ApnsOptions.model_validate({**APNS, "key_pem": pem(google_key)})


@pytest.mark.parametrize("name", ALL)
def test_secrets_are_not_shown_in_the_options_repr(name: str, request: pytest.FixtureRequest) -> None:
    harness: Harness = request.getfixturevalue(name)
    provider = harness.make()

    for secret in harness.secrets:
        assert secret not in repr(provider.options)
