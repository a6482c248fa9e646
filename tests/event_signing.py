"""How each provider signs its event webhooks, written from the providers' docs (not from our code),
and a local HTTPS server standing in for SNS's certificate and subscription endpoints."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

# --- SendGrid: ECDSA P-256 over timestamp + body ----------------------------------------------


def ecdsa_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The base64 DER form SendGrid shows as the verification key."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sendgrid_signed(
    key: ec.EllipticCurvePrivateKey, events: list[dict[str, Any]], *, timestamp: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events).encode()
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return body, {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


# --- Mailgun: hex HMAC-SHA256(signing key, timestamp + token) ---------------------------------


def mailgun_signed(
    signing_key: str, event_data: dict[str, Any], *, timestamp: int | None = None, token: str | None = None
) -> tuple[bytes, dict[str, str]]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = token or base64.b16encode(hashlib.sha256(str(time.perf_counter_ns()).encode()).digest()).decode()
    digest = hmac.new(signing_key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    payload = {
        "signature": {"timestamp": stamp, "token": token, "signature": digest},
        "event-data": event_data,
    }
    return json.dumps(payload).encode(), {"Content-Type": "application/json"}


# --- Postmark: basic auth from the webhook URL ------------------------------------------------


def postmark_signed(username: str, password: str, record: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps(record).encode(), {"Content-Type": "application/json", "Authorization": f"Basic {auth}"}


# --- Twilio: base64 HMAC-SHA1(auth token, URL + sorted name/value pairs) -----------------------


def twilio_signed(auth_token: str, url: str, form: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    data = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    signature = base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return urlencode(form).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }


# --- SNS: RSA over "name\nvalue\n" lines, certificate at SigningCertURL ------------------------

SNS_FIELDS = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}


def rsa_certificate() -> tuple[rsa.RSAPrivateKey, bytes]:
    """A self-signed signing certificate like SNS's, and its PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-east-1.amazonaws.com")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


def sns_signed(
    key: rsa.RSAPrivateKey, message: dict[str, Any], *, version: str = "1"
) -> tuple[bytes, dict[str, str]]:
    fields = SNS_FIELDS[message["Type"]]
    data = "".join(f"{name}\n{message[name]}\n" for name in fields if name in message)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(data.encode(), padding.PKCS1v15(), digest)
    signed = {**message, "SignatureVersion": version, "Signature": base64.b64encode(signature).decode()}
    return json.dumps(signed).encode(), {"Content-Type": "text/plain; charset=UTF-8"}


@dataclass
class SnsEndpoint:
    """SNS's side, on https://127.0.0.1:<port>: the signing certificate and SubscribeURL."""

    base_url: str
    ca_file: str
    key: rsa.RSAPrivateKey
    certificate_fetches: int = 0
    confirmed_tokens: list[str] = field(default_factory=list)

    @property
    def cert_url(self) -> str:
        return f"{self.base_url}/SimpleNotificationService-test.pem"

    def subscribe_url(self, token: str) -> str:
        return f"{self.base_url}/?Action=ConfirmSubscription&Token={token}"

    def notification(
        self, topic_arn: str, event: dict[str, Any], *, version: str = "1"
    ) -> tuple[bytes, dict]:
        return sns_signed(
            self.key,
            {
                "Type": "Notification",
                "MessageId": f"msg-{time.perf_counter_ns()}",
                "TopicArn": topic_arn,
                "Message": json.dumps(event),
                "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "SigningCertURL": self.cert_url,
            },
            version=version,
        )

    def confirmation(self, topic_arn: str, token: str) -> tuple[bytes, dict]:
        return sns_signed(
            self.key,
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": f"msg-{time.perf_counter_ns()}",
                "Token": token,
                "TopicArn": topic_arn,
                "Message": "You have chosen to subscribe to the topic. To confirm, visit the SubscribeURL.",
                "SubscribeURL": self.subscribe_url(token),
                "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "SigningCertURL": self.cert_url,
            },
        )


@asynccontextmanager
async def sns_endpoint(tmp_path: Path) -> AsyncIterator[SnsEndpoint]:
    """Served from its own thread and loop: the app under test may block the test's loop while it asks."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "sns-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    key, pem = rsa_certificate()
    endpoint = SnsEndpoint(base_url="", ca_file=str(ca_file), key=key)

    async def certificate(request: web.Request) -> web.Response:
        endpoint.certificate_fetches += 1
        return web.Response(body=pem, content_type="application/x-x509-ca-cert")

    async def confirm(request: web.Request) -> web.Response:
        endpoint.confirmed_tokens.append(request.query.get("Token", ""))
        return web.Response(text="<ConfirmSubscriptionResponse/>", content_type="text/xml")

    app = web.Application()
    app.router.add_get("/SimpleNotificationService-test.pem", certificate)
    app.router.add_get("/", confirm)
    server = TestServer(app, host="127.0.0.1")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sns-endpoint", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start_server(ssl=server_context), loop).result(10)
    endpoint.base_url = f"https://127.0.0.1:{server.port}"
    try:
        yield endpoint
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
