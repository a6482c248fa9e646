"""The apprise provider with real Apprise URLs (`json://`) aimed at a local HTTP endpoint."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from appliance.providers.apprise_provider import AppriseOptions, AppriseProvider
from appliance.providers.base import EmailMessage, Envelope, OutcomeKind, ProviderContext, WebhookMessage

if TYPE_CHECKING:  # conftest is pytest's to import; at runtime these names are only annotations
    from conftest import WebhookEndpoint

PASSWORD = "s3cret-basic-pass"
TOKEN = "tok-8f2b9c1d7e"

MakeProvider = Callable[..., AppriseProvider]


def apprise_url(endpoint: WebhookEndpoint, schema: str = "json") -> str:
    """`json://user:pass@127.0.0.1:PORT/<token>`: Apprise's JSON service, posting to the endpoint."""
    host_and_port = endpoint.url.removeprefix("http://").split("/", 1)[0]
    return f"{schema}://clarion:{PASSWORD}@{host_and_port}/hooks/{TOKEN}"


@pytest.fixture
async def make_provider(context: ProviderContext) -> AsyncIterator[MakeProvider]:
    providers: list[AppriseProvider] = []

    def make(*urls: str, context: ProviderContext = context, **options: Any) -> AppriseProvider:
        provider = AppriseProvider(context, AppriseOptions.model_validate({"urls": list(urls), **options}))
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        await provider.close()


def chat(
    envelope: Envelope, text: str = "Order 1042 shipped\nIt left the warehouse at 10:40."
) -> WebhookMessage:
    return WebhookMessage(envelope=envelope, text=text)


# --- What arrives ------------------------------------------------------------------------


async def test_the_message_text_arrives_as_the_body(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    provider = make_provider(apprise_url(webhook_endpoint))
    await provider.start()

    outcome = await provider.send(chat(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert outcome.provider_message_id == envelope.delivery_id
    [request] = webhook_endpoint.requests
    assert (request.method, request.path) == ("POST", f"/hooks/{TOKEN}")
    body = json.loads(request.body)
    assert body["message"] == "Order 1042 shipped\nIt left the warehouse at 10:40."
    assert body["title"] == ""


@pytest.mark.parametrize(
    ("title", "expected_title", "expected_body"),
    [
        ("template", "receipt", "Order 1042 shipped\nIt left the warehouse at 10:40."),
        ("first_line", "Order 1042 shipped", "It left the warehouse at 10:40."),
    ],
)
async def test_a_title_can_come_from_the_template_or_the_first_line(
    webhook_endpoint: WebhookEndpoint,
    make_provider: MakeProvider,
    envelope: Envelope,
    title: str,
    expected_title: str,
    expected_body: str,
) -> None:
    await make_provider(apprise_url(webhook_endpoint), title=title).send(chat(envelope))

    body = json.loads(webhook_endpoint.requests[0].body)
    assert (body["title"], body["message"]) == (expected_title, expected_body)


# --- How failures are classified ---------------------------------------------------------


@pytest.mark.parametrize("status", [500, 401])
async def test_a_refusal_is_retryable_because_apprise_cannot_say_why(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope, status: int
) -> None:
    webhook_endpoint.reply(status, body="nope")

    outcome = await make_provider(apprise_url(webhook_endpoint)).send(chat(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    error = outcome.error or ""
    assert error.startswith("urls[0] (JSON): Apprise could not deliver")
    assert f"error={status}" in error
    assert "check the URL" in error
    assert PASSWORD not in error and TOKEN not in error


async def test_a_service_that_does_not_answer_is_retryable_within_the_timeout(
    webhook_endpoint: WebhookEndpoint,
    make_provider: MakeProvider,
    context: ProviderContext,
    envelope: Envelope,
) -> None:
    webhook_endpoint.hang()
    quick = replace(context, timeout=timedelta(seconds=1))

    outcome = await make_provider(apprise_url(webhook_endpoint), context=quick).send(chat(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert "no answer within 1s" in (outcome.error or "") or "did not finish within 1s" in (
        outcome.error or ""
    )


async def test_with_several_urls_the_failing_one_is_named(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope, closed_port: int
) -> None:
    unreachable = f"json://127.0.0.1:{closed_port}/hooks/{TOKEN}"

    outcome = await make_provider(apprise_url(webhook_endpoint), unreachable).send(chat(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE
    assert (outcome.error or "").startswith("urls[1] (JSON): ")
    assert "1 of 2 URLs were sent; a retry resends to them" in (outcome.error or "")
    assert len(webhook_endpoint.requests) == 1


async def test_other_channels_and_empty_text_are_permanent(
    webhook_endpoint: WebhookEndpoint, make_provider: MakeProvider, envelope: Envelope
) -> None:
    provider = make_provider(apprise_url(webhook_endpoint))
    mail = EmailMessage(envelope=envelope, to="a@example.org", subject="s", text="t", html=None)

    assert (await provider.send(mail)).kind is OutcomeKind.PERMANENT
    assert (await provider.send(chat(envelope, text="  \n"))).kind is OutcomeKind.PERMANENT
    assert webhook_endpoint.requests == []


async def test_apprise_debug_logs_do_not_reveal_the_url_credentials(
    webhook_endpoint: WebhookEndpoint,
    make_provider: MakeProvider,
    envelope: Envelope,
    caplog: pytest.LogCaptureFixture,
) -> None:
    webhook_endpoint.reply(500, body=f"upstream said {TOKEN}")
    provider = make_provider(apprise_url(webhook_endpoint))
    await provider.start()

    with caplog.at_level(logging.DEBUG, logger="apprise"):
        await provider.send(chat(envelope))

    # Only Apprise's and Clarion's own records: the fake endpoint's access log is the test's, not ours.
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in ("apprise", "appliance")]
    assert any("JSON" in message for message in ours)  # Apprise did log
    assert not any(TOKEN in message or PASSWORD in message for message in ours)


# --- Checked when the config is loaded ---------------------------------------------------


def test_a_url_apprise_does_not_know_is_a_config_error_that_hides_the_url() -> None:
    with pytest.raises(ValidationError) as raised:
        AppriseOptions.model_validate({"urls": ["json://127.0.0.1/ok", f"nosuchservice://{TOKEN}@host"]})

    message = str(raised.value)
    assert "urls[1] (schema 'nosuchservice') is not a URL Apprise can use" in message
    assert TOKEN not in message


def test_without_apprise_installed_the_config_error_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "apprise", None)  # what `import apprise` sees when it is not installed

    with pytest.raises(ValidationError) as raised:
        AppriseOptions.model_validate({"urls": ["json://127.0.0.1/ok"]})

    assert "pip install 'clarion[apprise]'" in str(raised.value)
