"""`sandbox`: captures every message in the database instead of sending it.

It is what `make run` uses, so a newcomer sees mail, SMS and push "arrive" in the UI
(`/ui/sandbox`) and through `GET /v1/sandbox/messages` without any third-party account.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any, ClassVar

from ..db.models import SandboxMessage
from .base import (
    EmailMessage,
    Message,
    Outcome,
    Provider,
    ProviderOptions,
    PushMessage,
)


class SandboxOptions(ProviderOptions):
    pass


class SandboxProvider(Provider):
    type_name: ClassVar[str] = "sandbox"
    channels: ClassVar[frozenset[str]] = frozenset({"email", "sms", "push", "in_app", "webhook"})
    Options: ClassVar[type[ProviderOptions]] = SandboxOptions

    async def send(self, message: Message) -> Outcome:
        row = SandboxMessage(
            delivery_id=uuid.UUID(message.envelope.delivery_id),
            notification_id=uuid.UUID(message.envelope.notification_id),
            provider=self.name,
            channel=message.channel,
            to_address=message.address,
            subject=_subject(message),
            text=_text(message),
            html=message.html if isinstance(message, EmailMessage) else None,
            payload=_payload(message),
        )
        async with self.context.database.transaction() as session:
            session.add(row)
            await session.flush()
            return Outcome.sent(f"sandbox-{row.id}")


def _subject(message: Message) -> str | None:
    if isinstance(message, EmailMessage):
        return message.subject
    return getattr(message, "title", None)


def _text(message: Message) -> str | None:
    if isinstance(message, EmailMessage):
        return message.text
    return getattr(message, "text", None) or getattr(message, "body", None)


def _payload(message: Message) -> dict[str, Any]:
    fields = asdict(message)
    fields.pop("envelope")
    if isinstance(message, PushMessage):
        fields["tokens"] = list(message.tokens)
    return {key: value for key, value in fields.items() if value not in (None, {}, ())}
