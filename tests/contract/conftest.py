"""Real servers for the provider contract tests: an aiosmtpd relay and an aiohttp endpoint.

Each fixture listens on 127.0.0.1 on a free port, records what it receives, and can be told
how to answer, so a test reads as "given the server says X, the provider classifies Y".
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope

from appliance.providers.base import Envelope, ProviderContext


@pytest.fixture
def context() -> ProviderContext:
    return ProviderContext(
        name="under-test", timeout=timedelta(seconds=2), database=None, public_url="http://127.0.0.1:8000"
    )


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(
        delivery_id=str(uuid4()),
        notification_id=str(uuid4()),
        recipient_id="alice",
        category="orders",
        template="receipt",
        data={"order": {"id": 1042, "total": "19.90"}, "items": ["mug", "tea"]},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on: connecting to it is refused."""
    return free_port()


# --- TLS ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    server_context: ssl.SSLContext
    ca_file: str


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A private CA and a certificate for 127.0.0.1, like an operator's internal relay."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    ca_file = Path(tmp_path_factory.mktemp("tls")) / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(server_context=server_context, ca_file=str(ca_file))


# --- SMTP --------------------------------------------------------------------------------


@dataclass
class RecordingRelay:
    """An aiosmtpd handler that accepts mail, unless told to refuse an address or the data."""

    received: list[SmtpEnvelope] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # "<mechanism> <login>" per authenticated message
    refuse_rcpt: dict[str, str] = field(default_factory=dict)
    data_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SmtpEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SmtpEnvelope) -> str:
        if self.data_reply is not None:
            return self.data_reply
        self.received.append(envelope)
        if session.authenticated:
            mechanism, login = session.auth_data
            self.logins.append(f"{mechanism} {login}")
        return "250 2.0.0 Message accepted for delivery"


@dataclass(frozen=True)
class SmtpServer:
    port: int
    relay: RecordingRelay


StartSmtp = Callable[..., SmtpServer]


@pytest.fixture
def smtp_server(tls: Tls) -> Iterator[StartSmtp]:
    """Start a real SMTP server, e.g. `smtp_server(starttls=True, credentials=("user", "pass"))`.

    `auth_mechanisms` limits what the server offers, to exercise each one the client may pick.
    """
    controllers: list[Controller] = []

    def start(
        *,
        starttls: bool = False,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
        auth_mechanisms: frozenset[str] = frozenset({"LOGIN", "PLAIN"}),
    ) -> SmtpServer:
        relay = RecordingRelay()
        port = free_port()
        controller = Controller(
            relay,
            hostname="127.0.0.1",
            port=port,
            ssl_context=tls.server_context if implicit_tls else None,
            tls_context=tls.server_context if starttls else None,
            authenticator=_authenticator(credentials) if credentials else None,
            # aiosmtpd only counts STARTTLS as TLS; an implicit-TLS session is encrypted too.
            auth_require_tls=not implicit_tls,
            auth_exclude_mechanism={"LOGIN", "PLAIN"} - auth_mechanisms,
        )
        controller.start()
        controllers.append(controller)
        return SmtpServer(port=port, relay=relay)

    yield start
    for controller in controllers:
        controller.stop()


def _authenticator(credentials: tuple[str, str]) -> Callable[..., AuthResult]:
    def authenticate(
        server: SMTP,
        session: Session,
        envelope: SmtpEnvelope,
        mechanism: str,
        auth_data: LoginPassword | None,
    ) -> AuthResult:
        given = (auth_data.login.decode(), auth_data.password.decode()) if auth_data else None
        if given != credentials:  # handled=False: aiosmtpd answers 535 itself
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=(mechanism, credentials[0]))

    return authenticate


@pytest.fixture
async def silent_smtp_server() -> AsyncIterator[int]:
    """Accepts TCP connections and never sends the SMTP greeting: a hung relay."""
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    release.set()
    server.close()
    await server.wait_closed()


# --- Webhook endpoint --------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookEndpoint:
    """A local HTTP endpoint that records each request and answers as it was told."""

    url: str
    requests: list[ReceivedRequest] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    hanging: bool = False
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def reply(self, status: int, *, headers: dict[str, str] | None = None, body: str = "") -> None:
        self.status, self.headers, self.body = status, headers or {}, body

    def hang(self) -> None:
        self.hanging = True

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            ReceivedRequest(request.method, request.path, dict(request.headers), await request.read())
        )
        if self.hanging:
            await self.release.wait()
        return web.Response(status=self.status, headers=self.headers, text=self.body)


@pytest.fixture
async def webhook_endpoint() -> AsyncIterator[WebhookEndpoint]:
    app = web.Application()
    server = TestServer(app, host="127.0.0.1")
    endpoint = WebhookEndpoint(url="")
    app.router.add_route("*", "/{tail:.*}", endpoint.handle)
    await server.start_server()
    endpoint.url = str(server.make_url("/hooks/clarion"))
    yield endpoint
    endpoint.release.set()  # let a hanging handler finish so shutdown does not wait on it
    await server.close()
