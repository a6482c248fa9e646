"""Reading and changing what recipients chose, with every change written to the consent log."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.among import among
from ..db.models import ConsentEvent, Preference, Recipient
from .choices import Choices

ALL = "all"


@dataclass(frozen=True)
class PreferenceChange:
    """What to set: the master switch and/or (category, channel) -> on. Omitted entries stay as they are."""

    unsubscribed_all: bool | None = None
    channels: Mapping[tuple[str, str], bool] = field(default_factory=dict)
    # What each setting is without a choice: a form re-sending a default makes no choice, so a
    # later change of the category's default still reaches the recipient.
    defaults: Mapping[tuple[str, str], bool] = field(default_factory=dict)


class Subscriber(Protocol):
    """What choices are read for: a Recipient row, or the columns a query took of one."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def unsubscribed_all(self) -> bool: ...


async def choices_for(session: AsyncSession, recipients: Iterable[Subscriber]) -> dict[uuid.UUID, Choices]:
    by_id = {recipient.id: recipient for recipient in recipients}
    if not by_id:
        return {}
    explicit: dict[uuid.UUID, dict[tuple[str, str], bool]] = {recipient_id: {} for recipient_id in by_id}
    rows = await session.execute(
        select(Preference.recipient_id, Preference.category, Preference.channel, Preference.enabled).where(
            among(session, Preference.recipient_id, by_id)
        )
    )
    for recipient_id, category, channel, enabled in rows:
        explicit[recipient_id][category, channel] = enabled
    return {
        recipient_id: Choices(
            unsubscribed_all=bool(recipient.unsubscribed_all), explicit=explicit[recipient_id]
        )
        for recipient_id, recipient in by_id.items()
    }


async def change(
    session: AsyncSession,
    recipient: Recipient,
    wanted: PreferenceChange,
    *,
    source: str,
    now: datetime,
    detail: str | None = None,
) -> list[ConsentEvent]:
    """Apply `wanted`; log one consent event per setting that actually changed, and return them."""
    events: list[ConsentEvent] = []

    def log(subject: str, old: str, new: str) -> None:
        events.append(
            ConsentEvent(
                recipient_id=recipient.id,
                subject=subject,
                old=old,
                new=new,
                source=source,
                detail=detail,
                created_at=now,
            )
        )

    if wanted.unsubscribed_all is not None and wanted.unsubscribed_all != bool(recipient.unsubscribed_all):
        log(ALL, _subscription(bool(recipient.unsubscribed_all)), _subscription(wanted.unsubscribed_all))
        recipient.unsubscribed_all = wanted.unsubscribed_all
    current = (await choices_for(session, [recipient]))[recipient.id]
    for (category, channel), enabled in wanted.channels.items():
        old = current.get(category, channel)
        if old == enabled or (old is None and wanted.defaults.get((category, channel)) == enabled):
            continue
        log(f"{category}.{channel}", _choice(old), _choice(enabled))
        await session.merge(
            Preference(
                recipient_id=recipient.id, category=category, channel=channel, enabled=enabled, updated_at=now
            )
        )
    session.add_all(events)
    return events


def log_suppression(
    session: AsyncSession, recipient_id: uuid.UUID, channel: str, reason: str, *, source: str, now: datetime
) -> None:
    """An address of the recipient's stopped receiving (bounce, complaint, invalid, unsubscribe)."""
    session.add(
        ConsentEvent(
            recipient_id=recipient_id,
            subject=f"address.{channel}",
            old="allowed",
            new="suppressed",
            source=source,
            detail=reason,
            created_at=now,
        )
    )


async def consent_log(
    session: AsyncSession, recipient_id: uuid.UUID, *, before: int | None, limit: int
) -> list[ConsentEvent]:
    """Newest first; `before` is the id of the last event of the previous page."""
    query = select(ConsentEvent).where(ConsentEvent.recipient_id == recipient_id)
    if before is not None:
        query = query.where(ConsentEvent.id < before)
    return list(await session.scalars(query.order_by(ConsentEvent.id.desc()).limit(limit)))


def _choice(value: bool | None) -> str:
    return "default" if value is None else "opted_in" if value else "opted_out"


def _subscription(unsubscribed: bool) -> str:
    return "unsubscribed" if unsubscribed else "subscribed"
