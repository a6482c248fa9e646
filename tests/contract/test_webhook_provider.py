"""The webhook provider against a real local HTTP endpoint: what it posts, how it signs, how it classifies."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from appliance.providers.base import (
    EmailMessage,
    Envelope,
    OutcomeKind,
    ProviderContext,
    WebhookMessage,
)
from appliance.providers.http import parse_retry_after
from appliance.providers.webhook import (
    WebhookOptions,
    WebhookProvider,
    sign,
    verify_signature,
)

if TYPE_CHECKING:  # conftest is pytest's to import; at runtime these names are only annotations
    from conftest import WebhookEndpoint

SECRET = "whsec_5b1e0c1f9a7d4e2b"

MakeProvider = Callable[..., WebhookProvider]


@pytest.fixture
async def make_provider(context: ProviderContext) -> AsyncIterator[MakeProvider]:
    """Providers for a URL, started like the worker starts them, closed after the test."""
    providers: list[WebhookProvider] = []

    def make(url: str, *, context: ProviderContext = context, **options: Any) -> WebhookProvider:
        raw = {"url": url, "secret": SECRET, **options}
        provider = WebhookProvider(context, WebhookOptions.model_validate(raw))
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        await provider.close()


def hook(envelope: Envelope) -> WebhookMessage:
    return WebhookMessage(envelope=envelope, text="Your order 1042 has shipped")


# --- What is posted ----------------------------------------------------------------------


async def test_the_post_carries_the_event_as_json(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    provider = make_provider(webhook_endpoint.url, headers={"Authorization": "Bearer receiver-token"})
    await provider.start()
    before = datetime.now(UTC).replace(microsecond=0)

    outcome = await provider.send(hook(envelope))

    assert outcome.kind is OutcomeKind.SENT
    [request] = webhook_endpoint.requests
    assert (request.method, request.path) == ("POST", "/hooks/clarion")
    body = json.loads(request.body)
    sent_at = datetime.fromisoformat(body.pop("sent_at").replace("Z", "+00:00"))
    assert body == {
        "id": envelope.delivery_id,
        "notification_id": envelope.notification_id,
        "recipient_id": "alice",
        "category": "orders",
        "template": "receipt",
        "text": "Your order 1042 has shipped",
        "data": {"order": {"id": 1042, "total": "19.90"}, "items": ["mug", "tea"]},
    }
    assert sent_at.tzinfo is not None
    assert before <= sent_at <= datetime.now(UTC)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "Clarion-Webhook/1"
    assert request.headers["X-Clarion-Delivery"] == envelope.delivery_id
    assert request.headers["Authorization"] == "Bearer receiver-token"


async def test_the_signature_verifies_and_a_tampered_body_does_not(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    await make_provider(webhook_endpoint.url).send(hook(envelope))

    [request] = webhook_endpoint.requests
    header = request.headers["X-Clarion-Signature"]
    now = time.time()
    assert verify_signature(SECRET, header, request.body, now=now)
    tampered = request.body.replace(b"shipped", b"refunded")
    assert not verify_signature(SECRET, header, tampered, now=now)
    assert not verify_signature("another-secret", header, request.body, now=now)
    assert not verify_signature(SECRET, header, request.body, now=now + 301)  # a replay, too late


async def test_the_secret_is_never_sent(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    await make_provider(webhook_endpoint.url).send(hook(envelope))

    [request] = webhook_endpoint.requests
    assert SECRET.encode() not in request.body
    assert all(SECRET not in value for value in request.headers.values())


async def test_send_works_without_start(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    outcome = await make_provider(webhook_endpoint.url).send(hook(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.provider_message_id == envelope.delivery_id


async def test_one_pooled_session_serves_every_send(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    provider = make_provider(webhook_endpoint.url)
    await provider.start()
    session = provider._session

    for number in range(3):
        await provider.send(hook(replace(envelope, delivery_id=f"d-{number}")))

    assert provider._session is session
    assert [r.headers["X-Clarion-Delivery"] for r in webhook_endpoint.requests] == ["d-0", "d-1", "d-2"]
    await provider.close()
    assert provider._session is None


# --- How answers are classified ----------------------------------------------------------


async def test_a_request_id_from_the_receiver_becomes_the_provider_message_id(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    webhook_endpoint.reply(202, headers={"X-Request-Id": "req_81f2"})

    outcome = await make_provider(webhook_endpoint.url).send(hook(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.provider_message_id == "req_81f2"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, OutcomeKind.SENT),
        (204, OutcomeKind.SENT),
        (408, OutcomeKind.RETRYABLE),
        (500, OutcomeKind.RETRYABLE),
        (502, OutcomeKind.RETRYABLE),
        (503, OutcomeKind.RETRYABLE),
        (429, OutcomeKind.RATE_LIMITED),
        (410, OutcomeKind.INVALID_RECIPIENT),
        (400, OutcomeKind.PERMANENT),
        (401, OutcomeKind.PERMANENT),
        (404, OutcomeKind.PERMANENT),
        (302, OutcomeKind.PERMANENT),
    ],
)
async def test_statuses_are_classified(
    webhook_endpoint: WebhookEndpoint,
    make_provider: MakeProvider,
    envelope: Envelope,
    status: int,
    expected: OutcomeKind,
) -> None:
    headers = {"Location": "https://elsewhere.example/hooks"} if status == 302 else {}
    webhook_endpoint.reply(status, headers=headers, body="" if status == 204 else "nope")

    outcome = await make_provider(webhook_endpoint.url).send(hook(envelope))

    assert outcome.kind is expected
    if expected is not OutcomeKind.SENT:
        assert str(status) in (outcome.error or "")
        assert SECRET not in (outcome.error or "")


async def test_a_client_error_quotes_at_most_200_characters_of_the_body(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    webhook_endpoint.reply(400, body='{"error": "unknown field category"}' + "x" * 5000)

    outcome = await make_provider(webhook_endpoint.url).send(hook(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    error = outcome.error or ""
    assert error.startswith('HTTP 400: {"error": "unknown field category"}')
    assert error.count("x") <= 200


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("30", timedelta(seconds=30)),
        ("0", timedelta(0)),
        (None, None),
        ("soon", None),
    ],
)
async def test_429_honours_retry_after_seconds(
    webhook_endpoint: WebhookEndpoint,
    make_provider: MakeProvider,
    envelope: Envelope,
    retry_after: str | None,
    expected: timedelta | None,
) -> None:
    webhook_endpoint.reply(429, headers={"Retry-After": retry_after} if retry_after else {})

    outcome = await make_provider(webhook_endpoint.url).send(hook(envelope))

    assert outcome.kind is OutcomeKind.RATE_LIMITED
    assert outcome.retry_after == expected


async def test_429_honours_retry_after_as_an_http_date(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    in_two_minutes = datetime.now(UTC) + timedelta(minutes=2)
    webhook_endpoint.reply(429, headers={"Retry-After": in_two_minutes.strftime("%a, %d %b %Y %H:%M:%S GMT")})

    outcome = await make_provider(webhook_endpoint.url).send(hook(envelope))

    assert outcome.kind is OutcomeKind.RATE_LIMITED
    assert outcome.retry_after is not None
    assert timedelta(seconds=110) <= outcome.retry_after <= timedelta(seconds=120)


async def test_an_endpoint_that_hangs_times_out_as_retryable(
    webhook_endpoint: WebhookEndpoint,
    make_provider: MakeProvider,
    context: ProviderContext,
    envelope: Envelope,
) -> None:
    webhook_endpoint.hang()
    impatient = replace(context, timeout=timedelta(seconds=0.3))

    started = time.monotonic()
    outcome = await make_provider(webhook_endpoint.url, context=impatient).send(hook(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert outcome.error == "the endpoint did not answer within 0.3s"
    assert time.monotonic() - started < 2


async def test_a_refused_connection_is_retryable(
    closed_port: int, make_provider: MakeProvider, envelope: Envelope
) -> None:
    outcome = await make_provider(f"http://127.0.0.1:{closed_port}/hooks").send(hook(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert SECRET not in (outcome.error or "")


async def test_data_that_is_not_json_is_permanent(make_provider: MakeProvider, envelope: Envelope) -> None:
    for data in ({"when": object()}, {"total": float("nan")}):
        outcome = await make_provider("http://127.0.0.1:9/hooks").send(hook(replace(envelope, data=data)))

        assert outcome.kind is OutcomeKind.PERMANENT


async def test_other_channels_are_refused(make_provider: MakeProvider, envelope: Envelope) -> None:
    email = EmailMessage(envelope=envelope, to="a@example.org", subject="s", text="t", html=None)

    outcome = await make_provider("http://127.0.0.1:9/hooks").send(email)

    assert outcome.kind is OutcomeKind.PERMANENT


# --- Options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"url": "ftp://example.com/hooks", "secret": SECRET},
        {"url": "example.com/hooks", "secret": SECRET},
        {"url": "https:///hooks", "secret": SECRET},
        {"url": "https://example.com/hooks"},
        {"url": "https://example.com/hooks", "secret": ""},
        {"url": "https://example.com/hooks", "secret": SECRET, "headers": {"x-clarion-signature": "forged"}},
        {"url": "https://example.com/hooks", "secret": SECRET, "headers": {"X-Env": "prod\r\nX-Evil: 1"}},
        {"url": "https://example.com/hooks", "secret": SECRET, "method": "PUT"},
    ],
    ids=[
        "ftp",
        "no-scheme",
        "no-host",
        "no-secret",
        "empty-secret",
        "own-header",
        "multiline-header",
        "unknown-key",
    ],
)
def test_invalid_options_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WebhookOptions.model_validate(raw)


def test_the_secret_is_not_shown_in_the_options_repr() -> None:
    options = WebhookOptions.model_validate({"url": "https://example.com/hooks", "secret": SECRET})

    assert SECRET not in repr(options)


# --- Pure functions ----------------------------------------------------------------------


@given(
    body=st.binary(max_size=2048),
    secret=st.text(min_size=1),
    timestamp=st.integers(0, 2**40),
    data=st.data(),
)
def test_a_signature_verifies_and_flipping_any_body_byte_breaks_it(
    body: bytes, secret: str, timestamp: int, data: st.DataObject
) -> None:
    header = sign(secret, body, timestamp=timestamp)

    assert verify_signature(secret, header, body, now=timestamp)
    if body:
        index = data.draw(st.integers(0, len(body) - 1), label="index")
        flip = data.draw(st.integers(1, 255), label="xor")
        tampered = body[:index] + bytes([body[index] ^ flip]) + body[index + 1 :]
        assert not verify_signature(secret, header, tampered, now=timestamp)


@given(header=st.text(max_size=200), body=st.binary(max_size=64))
def test_verify_signature_never_raises_on_garbage_headers(header: str, body: bytes) -> None:
    assert verify_signature(SECRET, header, body, now=time.time()) in (True, False)


def test_a_signature_outside_the_tolerance_is_refused() -> None:
    header = sign(SECRET, b"{}", timestamp=1_000)

    assert verify_signature(SECRET, header, b"{}", now=1_300)
    assert not verify_signature(SECRET, header, b"{}", now=1_301)
    assert not verify_signature(SECRET, header, b"{}", now=699)
    assert verify_signature(SECRET, header, b"{}", now=1_500, tolerance_s=600)


def test_any_matching_v1_signature_is_accepted_during_secret_rotation() -> None:
    old = sign("old-secret", b"{}", timestamp=1_000).split(",")[1]
    new = sign(SECRET, b"{}", timestamp=1_000)

    assert verify_signature(SECRET, f"{new},{old}", b"{}", now=1_000)
    assert verify_signature("old-secret", f"{new},{old}", b"{}", now=1_000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", timedelta(seconds=120)),
        (" 5 ", timedelta(seconds=5)),
        ("Wed, 21 Oct 2015 07:28:30 GMT", timedelta(seconds=30)),
        ("Wed, 21 Oct 2015 07:27:00 GMT", timedelta(0)),  # already past: retry now
        ("-5", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: timedelta | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, tzinfo=UTC)

    assert parse_retry_after(value, now=now) == expected
