"""The suppression list: addresses nothing goes to any more (hard bounces, complaints,
addresses a provider called invalid, manual entries), checked when planning and when sending."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from ..config.schema import Channel
from ..db.among import among
from ..db.models import Suppression, SuppressionReason
from ..db.types import utcnow
from ..preferences import ledger

#: Channels whose address is the recipient's own (push tokens are pruned instead; see record.py).
ADDRESSED = frozenset({Channel.EMAIL, Channel.SMS})

Key = tuple[str, str]


def addresses(email: str | None, phone: str | None) -> dict[str, str]:
    """A recipient's own addresses by channel, for the channels it has one on."""
    return {channel: address for channel, address in (("email", email), ("sms", phone)) if address}


def normalize(channel: str, address: str) -> str:
    """Emails compare case-insensitively in practice; phone numbers are already E.164."""
    address = address.strip()
    return address.lower() if channel == Channel.EMAIL else address


async def reasons(session: AsyncSession, keys: Iterable[Key]) -> dict[Key, str]:
    """(channel, address) -> why it is suppressed, for those that are."""
    by_channel: dict[str, set[str]] = defaultdict(set)
    for channel, address in keys:
        by_channel[channel].add(normalize(channel, address))
    if not by_channel:
        return {}
    # One array of addresses per channel (db/among.py), each served by the (channel, address) index.
    rows = await session.execute(
        select(Suppression.channel, Suppression.address, Suppression.reason).where(
            or_(
                *(
                    and_(Suppression.channel == channel, among(session, Suppression.address, found))
                    for channel, found in sorted(by_channel.items())
                )
            )
        )
    )
    return {(channel, address): reason for channel, address, reason in rows}


async def suppress(
    session: AsyncSession,
    channel: str,
    address: str,
    reason: SuppressionReason,
    *,
    detail: str | None,
    source: str,
    recipient_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> None:
    """Add the address; an address already suppressed keeps its first reason.

    Given the recipient it belongs to, a new suppression is written to their consent log too.
    """
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    added = await session.execute(
        dialect.insert(Suppression)
        .values(
            channel=channel, address=normalize(channel, address), reason=reason, detail=detail, source=source
        )
        .on_conflict_do_nothing()
    )
    if recipient_id is not None and added.rowcount:  # type: ignore[attr-defined]
        ledger.log_suppression(
            session, recipient_id, channel, reason.value, source=source, now=now or utcnow()
        )


async def unsuppress(session: AsyncSession, channel: str, address: str) -> bool:
    result = await session.execute(
        delete(Suppression).where(
            Suppression.channel == channel, Suppression.address == normalize(channel, address)
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
