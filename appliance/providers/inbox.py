"""`inbox`: the in-app channel's own provider. It stores the message in the recipient's inbox
(the database is the source of truth) and rings the feed, so the recipient's open streams
(the bell widget) show it at once, in whichever `clarion serve` they are connected to.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import ClassVar

from ..config.units import DurationField
from ..db.types import utcnow
from ..inbox import store
from .base import InAppMessage, Message, Outcome, Provider, ProviderOptions

log = logging.getLogger(__name__)


class InboxOptions(ProviderOptions):
    expire_after: DurationField | None = timedelta(days=90)  # then it leaves the inbox; null: never


class InboxProvider(Provider):
    type_name: ClassVar[str] = "inbox"
    channels: ClassVar[frozenset[str]] = frozenset({"in_app"})
    Options: ClassVar[type[ProviderOptions]] = InboxOptions
    options: InboxOptions

    async def send(self, message: Message) -> Outcome:
        if not isinstance(message, InAppMessage):
            return Outcome.permanent(f"the inbox keeps in-app messages, not {message.channel}")
        now = utcnow()
        expire_after = self.options.expire_after
        new = store.NewMessage(
            recipient_id=message.envelope.recipient_id,
            delivery_id=uuid.UUID(message.envelope.delivery_id),
            category=message.envelope.category,
            title=message.title,
            body=message.body,
            action_url=message.action_url or None,
            expires_at=now + expire_after if expire_after else None,
        )
        async with self.context.database.transaction() as session:
            message_id = await store.add(session, new, now)
        await self._ring(new.recipient_id)
        return Outcome.sent(f"inbox-{message_id}")

    async def _ring(self, recipient_id: str) -> None:
        try:
            await self.context.feed.ring(recipient_id)
        except Exception as exc:  # the message is stored; its streams look again on their own soon
            log.warning("inbox: could not ring the feed for a new message (%s)", exc)
