"""DKIM signing in the smtp provider: what a real relay receives verifies against the published key."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from appliance.providers.base import EmailMessage, Envelope, OutcomeKind, ProviderContext
from appliance.providers.smtp import SmtpOptions, SmtpProvider

if TYPE_CHECKING:  # conftest is pytest's to import; at runtime these names are only annotations
    from conftest import StartSmtp


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: Any, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


def dns_for(key: rsa.RSAPrivateKey, name: bytes = b"mail2025._domainkey.example.com.") -> Any:
    """A `dnsfunc` for dkim.verify: the TXT record the operator publishes, without DNS."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    def lookup(queried: bytes, timeout: int = 5) -> bytes | None:
        return record if queried == name else None

    return lookup


def provider(context: ProviderContext, port: int, **dkim_options: Any) -> SmtpProvider:
    raw = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "Clarion <no-reply@example.com>",
        "dkim": {"domain": "example.com", "selector": "mail2025", **dkim_options},
    }
    return SmtpProvider(context, SmtpOptions.model_validate(raw))


def email(envelope: Envelope, **fields: Any) -> EmailMessage:
    defaults: dict[str, Any] = {
        "to": "Zoë <zoe@example.org>",
        "subject": "Votre reçu — commande 1042",
        "text": "Merci pour votre commande. Total : 19,90 €\n" + "ligne longue " * 20,
        "html": "<p>Merci ! Total : <b>19,90 €</b></p>",
        "headers": {"List-Unsubscribe": "<https://clarion.example/u/abc>"},
    }
    return EmailMessage(envelope=envelope, **{**defaults, **fields})


@pytest.mark.parametrize(
    "key_format", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL]
)
async def test_the_relay_receives_a_message_whose_signature_verifies(
    smtp_server: StartSmtp,
    context: ProviderContext,
    envelope: Envelope,
    rsa_key: rsa.RSAPrivateKey,
    key_format: serialization.PrivateFormat,
) -> None:
    server = smtp_server()
    sender = provider(context, server.port, private_key=private_pem(rsa_key, key_format))

    outcome = await sender.send(email(envelope))

    assert outcome.kind is OutcomeKind.SENT
    raw = server.relay.received[0].original_content or b""
    assert raw.startswith(b"DKIM-Signature: ")
    assert dkim.verify(raw, dnsfunc=dns_for(rsa_key))
    signature = dkim.DKIM(raw)
    signature.verify(dnsfunc=dns_for(rsa_key))
    assert signature.signature_fields[b"a"] == b"rsa-sha256"
    assert signature.signature_fields[b"c"] == b"relaxed/relaxed"
    assert signature.signature_fields[b"d"] == b"example.com"
    signed = {name.strip() for name in b"".join(signature.signature_fields[b"h"].split()).split(b":")}
    assert {b"from", b"to", b"subject", b"date", b"message-id", b"list-unsubscribe"} <= signed


async def test_a_key_from_a_file_signs_and_a_tampered_message_fails_verification(
    smtp_server: StartSmtp,
    context: ProviderContext,
    envelope: Envelope,
    rsa_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "dkim.pem"
    key_file.write_text(private_pem(rsa_key))
    server = smtp_server()

    outcome = await provider(context, server.port, private_key_file=str(key_file)).send(email(envelope))

    assert outcome.kind is OutcomeKind.SENT
    raw = server.relay.received[0].original_content or b""
    assert dkim.verify(raw, dnsfunc=dns_for(rsa_key))
    tampered = raw.replace(b"Subject: ", b"Subject: FREE MONEY ", 1)
    assert not dkim.verify(tampered, dnsfunc=dns_for(rsa_key))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert not dkim.verify(raw, dnsfunc=dns_for(other_key))


async def test_an_unreadable_key_file_is_permanent_and_names_the_file(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope, tmp_path: Path
) -> None:
    server = smtp_server()
    missing = tmp_path / "missing.pem"

    outcome = await provider(context, server.port, private_key_file=str(missing)).send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert str(missing) in (outcome.error or "")
    assert server.relay.received == []


async def test_a_key_file_that_is_not_a_key_is_permanent(
    smtp_server: StartSmtp, context: ProviderContext, envelope: Envelope, tmp_path: Path
) -> None:
    server = smtp_server()
    key_file = tmp_path / "dkim.pem"
    key_file.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

    outcome = await provider(context, server.port, private_key_file=str(key_file)).send(email(envelope))

    assert outcome.kind is OutcomeKind.PERMANENT
    assert "not a usable DKIM key" in (outcome.error or "")
    assert server.relay.received == []


# --- Checked when the config is loaded ---------------------------------------------------


def invalid(**dkim_options: Any) -> str:
    raw = {"host": "smtp.example.com", "from": "no-reply@example.com", "dkim": dkim_options}
    with pytest.raises(ValidationError) as raised:
        SmtpOptions.model_validate(raw)
    return str(raised.value)


def test_an_inline_key_that_is_not_rsa_is_a_config_error() -> None:
    ec_pem = private_pem(ec.generate_private_key(ec.SECP256R1()))

    message = invalid(domain="example.com", selector="s1", private_key=ec_pem)

    assert "not a usable DKIM key" in message
    assert "openssl genrsa" in message
    assert "BEGIN PRIVATE KEY" not in message  # the key itself is never echoed


# A throwaway 512-bit key: too short for DKIM (and for cryptography to generate).
SHORT_KEY = """-----BEGIN PRIVATE KEY-----
MIIBUwIBADANBgkqhkiG9w0BAQEFAASCAT0wggE5AgEAAkEAtachCjlRul22bnNS
crpjEMPe93E0B2Dn0sUFUS7JRwtyvQ6j3LNjmiIV457vu+xJ5RoPrm5NvtBFY3xh
n+5dkQIDAQABAkBOV03AgwfkQBY1fDbKk+e1i0PVo1S0+e4A0EeCw5K6uFLrGW5N
NG9CBHo34/WWtsHvlrytnVsiIJbyu9uT0SoBAiEA5HD1AZh1F80YgchzGDMMhato
rQYuMChFLAAkTuJS60kCIQDLkS/wUWf+ENNprXvcOGeMzwa0R6SuzUoFSWDIngtY
CQIgIr0CpQF4HOx1Y5cF2ZI5v0H3owgjkfMtwakr3EsSbPECIEcddoDe/5Rrbl/5
wk6ByfMQFAiBCtAiWZyVMOGFDPN5AiAhOr07S/tZ6qXnHRnwNDVk7qi0CBMpgxJg
uRqDtfQPgQ==
-----END PRIVATE KEY-----
"""


def test_a_short_rsa_key_is_a_config_error() -> None:
    assert "512 bits" in invalid(domain="example.com", selector="s1", private_key=SHORT_KEY)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"domain": "example.com", "selector": "s1"}, "set exactly one of private_key_file and private_key"),
        (
            {"domain": "example.com", "selector": "s1", "private_key_file": "a", "private_key": "b"},
            "not a usable DKIM key",
        ),
        ({"domain": "not a domain", "selector": "s1", "private_key_file": "k"}, "must be a domain name"),
        ({"domain": "example.com", "selector": "s 1", "private_key_file": "k"}, "must be a DNS label"),
        (
            {"domain": "example.com", "selector": "s1", "private_key_file": "k", "headers": ["To"]},
            "must include From",
        ),
        (
            {
                "domain": "example.com",
                "selector": "s1",
                "private_key_file": "k",
                "headers": ["From", "Received"],
            },
            "Received must not be signed",
        ),
        ({"domain": "example.com", "selector": "s1", "private_key_file": "k", "algo": "x"}, "Extra inputs"),
    ],
)
def test_dkim_options_are_checked(options: dict[str, Any], message: str) -> None:
    assert message in invalid(**options)
