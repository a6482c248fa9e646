"""The smtp provider against a real aiosmtpd relay: what arrives, and how failures are classified."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from appliance.providers.base import (
    EmailMessage,
    Envelope,
    Outcome,
    OutcomeKind,
    ProviderContext,
    WebhookMessage,
)
from appliance.providers.smtp import SmtpOptions, SmtpProvider

if TYPE_CHECKING:  # conftest is pytest's to import; at runtime these names are only annotations
    from conftest import StartSmtp, Tls

PASSWORD = "hunter2-correct-horse"


def provider(context: ProviderContext, port: int, **options: Any) -> SmtpProvider:
    raw = {"host": "127.0.0.1", "port": port, "from": "Clarion <no-reply@example.com>", **options}
    return SmtpProvider(context, SmtpOptions.model_validate(raw))


def email(envelope: Envelope, **fields: Any) -> EmailMessage:
    defaults: dict[str, Any] = {
        "to": "alice@example.org",
        "subject": "Your receipt for order 1042",
        "text": "Thanks for your order. Total: 19.90 €",
        "html": "<p>Thanks for your order. Total: <b>19.90 €</b></p>",
        "headers": {"List-Unsubscribe": "<https://clarion.example/u/abc>", "X-Clarion-Category": "orders"},
    }
    return EmailMessage(envelope=envelope, **{**defaults, **fields})


def parsed(raw: bytes | str) -> MimeMessage:
    data = raw.encode() if isinstance(raw, str) else raw
    message = message_from_bytes(data, policy=policy.default)
    assert isinstance(message, MimeMessage)
    return message


# --- Delivery ----------------------------------------------------------------------------


async def test_plain_delivery_sends_a_multipart_alternative_email(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope
) -> None:
    server = smtp_server()
    sender = provider(context, server.port, security="none", reply_to="support@example.com")

    outcome = await sender.send(email(envelope))

    assert outcome.kind is OutcomeKind.SENT
    [received] = server.relay.received
    assert received.mail_from == "no-reply@example.com"
    assert received.rcpt_tos == ["alice@example.org"]
    mime = parsed(received.original_content or received.content or b"")
    assert mime.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in mime.iter_parts()] == ["text/plain", "text/html"]
    assert mime.get_body(("plain",)).get_content().strip() == "Thanks for your order. Total: 19.90 €"
    assert "<b>19.90 €</b>" in mime.get_body(("html",)).get_content()
    assert mime["Subject"] == "Your receipt for order 1042"
    assert mime["To"] == "alice@example.org"
    assert mime["From"] == "Clarion <no-reply@example.com>"
    assert mime["Reply-To"] == "support@example.com"
    assert mime["List-Unsubscribe"] == "<https://clarion.example/u/abc>"
    assert mime["X-Clarion-Category"] == "orders"
    assert mime["Date"] is not None
    assert mime["Message-ID"] == outcome.provider_message_id
    assert mime["Message-ID"].endswith("@example.com>")


@pytest.mark.parametrize(
    ("text", "html", "content_type"),
    [("Just text", None, "text/plain"), (None, "<p>Just HTML</p>", "text/html")],
)
async def test_a_single_body_is_sent_as_a_single_part(
    smtp_server: StartSmtp,
    context: ProviderContext,
    envelope: Envelope,
    text: str | None,
    html: str | None,
    content_type: str,
) -> None:
    server = smtp_server()

    outcome = await provider(context, server.port, security="none").send(
        email(envelope, text=text, html=html)
    )

    assert outcome.kind is OutcomeKind.SENT
    mime = parsed(server.relay.received[0].original_content or b"")
    assert not mime.is_multipart()
    assert mime.get_content_type() == content_type


async def test_a_template_header_replaces_the_configured_reply_to(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope
) -> None:
    server = smtp_server()
    sender = provider(context, server.port, security="none", reply_to="support@example.com")

    await sender.send(email(envelope, headers={"Reply-To": "orders@example.com"}))

    mime = parsed(server.relay.received[0].original_content or b"")
    assert mime.get_all("Reply-To") == ["orders@example.com"]


async def test_starttls_with_a_private_ca_delivers(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope, tls: Tls
) -> None:
    server = smtp_server(starttls=True)

    outcome = await provider(context, server.port, security="starttls", ca_file=tls.ca_file).send(
        email(envelope)
    )

    assert outcome.kind is OutcomeKind.SENT
    assert len(server.relay.received) == 1


async def test_implicit_tls_delivers(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope, tls: Tls
) -> None:
    server = smtp_server(implicit_tls=True)

    outcome = await provider(context, server.port, security="ssl", ca_file=tls.ca_file).send(email(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert len(server.relay.received) == 1


async def test_an_untrusted_certificate_is_permanent_and_names_the_fix(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope
) -> None:
    server = smtp_server(implicit_tls=True)

    outcome = await provider(context, server.port, security="ssl").send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "ca_file" in (outcome.error or "")
    assert server.relay.received == []


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_correct_credentials_authenticate(
    smtp_server: StartSmtp,
    context: ProviderContext,
    envelope: Envelope,
    tls: Tls,
    security: str,
    mechanism: str,
) -> None:
    server = smtp_server(
        starttls=security == "starttls",
        implicit_tls=security == "ssl",
        credentials=("clarion", PASSWORD),
        auth_mechanisms=frozenset({mechanism}),
    )
    sender = provider(
        context, server.port, security=security, ca_file=tls.ca_file, username="clarion", password=PASSWORD
    )

    outcome = await sender.send(email(envelope))

    assert outcome.kind is OutcomeKind.SENT
    assert server.relay.logins == [f"{mechanism} clarion"]


async def test_wrong_credentials_are_permanent_and_never_leak_the_password(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope, tls: Tls
) -> None:
    server = smtp_server(starttls=True, credentials=("clarion", "the-real-one"))
    sender = provider(context, server.port, ca_file=tls.ca_file, username="clarion", password=PASSWORD)

    outcome = await sender.send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "credentials" in (outcome.error or "")
    assert_no_secret(outcome)
    assert server.relay.received == []


# --- Refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rcpt_reply", "data_reply", "expected"),
    [
        ("550 5.1.1 User unknown", None, OutcomeKind.INVALID_RECIPIENT),
        ("553 5.1.3 Bad recipient address syntax", None, OutcomeKind.INVALID_RECIPIENT),
        ("550 5.7.1 Relaying denied", None, OutcomeKind.PERMANENT),
        ("450 4.2.1 Mailbox busy", None, OutcomeKind.RETRYABLE),
        (None, "451 4.3.0 try later", OutcomeKind.RETRYABLE),
        (None, "554 5.6.0 Message content rejected", OutcomeKind.PERMANENT),
    ],
    ids=["user-unknown", "bad-syntax", "relay-denied", "mailbox-busy", "data-deferred", "data-rejected"],
)
async def test_relay_replies_are_classified(
    smtp_server: StartSmtp,
    context: ProviderContext,
    envelope: Envelope,
    rcpt_reply: str | None,
    data_reply: str | None,
    expected: OutcomeKind,
) -> None:
    server = smtp_server()
    if rcpt_reply:
        server.relay.refuse_rcpt["alice@example.org"] = rcpt_reply
    server.relay.data_reply = data_reply

    outcome = await provider(context, server.port, security="none").send(email(envelope))

    assert outcome.kind is expected
    reply = rcpt_reply or data_reply or ""
    assert reply.split(" ", 1)[1] in (outcome.error or "")  # the relay's words, for the operator


async def test_a_closed_port_is_retryable(
    closed_port: int, context: ProviderContext, envelope: Envelope
) -> None:
    outcome = await provider(context, closed_port, security="none").send(email(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE


async def test_a_relay_that_never_greets_times_out_as_retryable(
    silent_smtp_server: int, context: ProviderContext, envelope: Envelope
) -> None:
    impatient = replace(context, timeout=timedelta(seconds=0.3))

    outcome = await provider(impatient, silent_smtp_server, security="none").send(email(envelope))

    assert outcome.kind is OutcomeKind.RETRYABLE


# --- Messages that cannot be built -------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"text": None, "html": None},
        {"subject": "Hello\r\nBcc: victim@example.net"},
        {"headers": {"X-Campaign\r\nBcc": "victim@example.net"}},
        {"headers": {"Content-Type": "text/plain"}},
    ],
    ids=["no-body", "header-injection", "header-name-injection", "structural-header"],
)
async def test_a_message_that_cannot_be_built_is_permanent_and_nothing_is_sent(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope, fields: dict[str, Any]
) -> None:
    server = smtp_server()

    outcome = await provider(context, server.port, security="none").send(email(envelope, **fields))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert server.relay.received == []


async def test_other_channels_are_refused(context: ProviderContext, envelope: Envelope) -> None:
    outcome = await provider(context, 25).send(WebhookMessage(envelope=envelope, text="hi"))

    assert outcome.kind is OutcomeKind.PERMANENT


# --- Options -----------------------------------------------------------------------------


def test_options_read_the_yaml_from_key_and_default_to_starttls_on_587() -> None:
    options = SmtpOptions.model_validate({"host": "smtp.example.com", "from": "no-reply@example.com"})

    assert options.from_address == "no-reply@example.com"
    assert (options.port, options.security, options.validate_certs) == (587, "starttls", True)


@pytest.mark.parametrize(
    "raw",
    [
        {"host": "smtp.example.com"},
        {"host": "smtp.example.com", "from": "not an address"},
        {"host": "smtp.example.com", "from": "a@example.com", "username": "only-me"},
        {"host": "smtp.example.com", "from": "a@example.com", "security": "tls"},
        {"host": "smtp.example.com", "from": "a@example.com", "pasword": "typo"},
    ],
    ids=["missing-from", "bad-from", "username-without-password", "unknown-security", "unknown-key"],
)
def test_invalid_options_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SmtpOptions.model_validate(raw)


def test_the_password_is_not_shown_in_the_options_repr() -> None:
    options = SmtpOptions.model_validate(
        {"host": "h", "from": "a@example.com", "username": "u", "password": PASSWORD}
    )

    assert PASSWORD not in repr(options)


def assert_no_secret(outcome: Outcome) -> None:
    assert PASSWORD not in (outcome.error or "")
    assert PASSWORD not in repr(outcome)
