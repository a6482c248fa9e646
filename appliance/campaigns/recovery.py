"""Bringing back a fan-out whose message was lost (a broker restart, a worker killed mid-batch).

A sending campaign records every batch in `updated_at`; one that has been quiet for longer than
a batch can take gets its fan-out message again. A duplicate message is harmless: batches take
the campaign's row lock and start after its cursor.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from ..config.schema import Channel
from ..config.units import parse_rate
from ..db.engine import Database
from ..db.models import Campaign, CampaignState
from ..db.types import utcnow
from .fanout import BATCH

log = logging.getLogger(__name__)


async def stalled(database: Database, *, now: datetime, quiet_for: timedelta) -> list[uuid.UUID]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(Campaign.id, Campaign.rate, Campaign.updated_at).where(
                Campaign.state == CampaignState.SENDING, Campaign.updated_at < now - quiet_for
            )
        )
        return [id_ for id_, rate, updated in rows if updated < now - quiet_for - _longest_pause(rate)]


def _longest_pause(rate: str | None) -> timedelta:
    """The longest a paced campaign waits between batches: a full batch on every channel."""
    if rate is None:
        return timedelta(0)
    parsed = parse_rate(rate)
    return timedelta(seconds=parsed.period_s * min(BATCH, parsed.count) * len(Channel) / parsed.count)


async def watch(
    database: Database,
    resume: Callable[[uuid.UUID], None],
    *,
    interval: timedelta,
    quiet_for: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Forever: hand every stalled campaign to `resume` (which enqueues its fan-out)."""
    while True:
        try:
            for campaign_id in await stalled(database, now=clock(), quiet_for=quiet_for):
                log.warning("campaign %s: fan-out stalled; resuming it", campaign_id)
                resume(campaign_id)
        except Exception:
            log.exception("campaign watch failed; will try again in %s", interval)
        await asyncio.sleep(interval.total_seconds())
