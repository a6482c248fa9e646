"""Servers the integration tests deliver to: a webhook receiver and an SMTP sink, on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import time
from collections import Counter
from dataclasses import dataclass, field
from email.message import Message

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class HookReceiver:
    """Answers `status` after `delay_s`, and counts every delivery id it received."""

    status: int = 200
    delay_s: float = 0.0
    received: Counter[str] = field(default_factory=Counter)
    bodies: list[dict] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic seconds, as requests come in

    async def handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        body = await request.json()
        await asyncio.sleep(self.delay_s)
        if self.status < 300:
            self.received[request.headers["X-Clarion-Delivery"]] += 1
            self.bodies.append(body)
        return web.Response(status=self.status, text="ok" if self.status < 300 else "failing on purpose")

    async def start(self, port: int) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner


class SmtpSink:
    """A real SMTP server (aiosmtpd) keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.reject_rcpt: str | None = None  # an SMTP reply to refuse every recipient with

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.reject_rcpt:
            return self.reject_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))  # type: ignore[arg-type]
        return "250 OK"

    def start(self, port: int) -> Controller:
        controller = Controller(self, hostname="127.0.0.1", port=port)
        controller.start()
        return controller
