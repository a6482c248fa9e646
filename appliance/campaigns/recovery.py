"""The campaign duties that run in the background: bringing back a fan-out whose message was
lost (a broker restart, a worker killed mid-batch), and picking the winner of a finished A/B test.

A sending campaign records every batch in `updated_at`; one that has been quiet for longer than
a batch can take gets its fan-out message again, which restarts every lane still open. A
duplicate message is harmless: a batch moves its lane's cursor only if no other copy did first.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from ..catalog import Catalog
from ..config.schema import Channel
from ..config.units import parse_rate
from ..db.engine import Database
from ..db.models import Campaign, CampaignState
from ..db.types import utcnow
from . import winner
from .engagement import engagement, scores
from .fanout import BATCH, campaign_weights

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


async def pick_due_winners(database: Database, catalog: Catalog, *, now: datetime) -> list[uuid.UUID]:
    """Every campaign whose test is over gets its winner; the ids to resume the fan-out of."""
    await winner.mark_tested(database, now=now)
    picked = []
    for campaign_id in await winner.due(database, now=now):
        async with database.transaction() as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None or campaign.winner_test is None:
                continue
            variants = [name for name, weight in campaign_weights(catalog, campaign).items() if weight]
            found = scores(await engagement(session, campaign_id), variants, campaign.winner_test["metric"])
            chosen = await winner.choose(session, campaign_id, found, now=now)
        if chosen is not None:
            log.info(
                "campaign %s: variant %s won the test (%s); sending it to the rest",
                campaign_id,
                chosen,
                found,
            )
            picked.append(campaign_id)
    return picked


async def watch(
    database: Database,
    catalog: Catalog,
    resume: Callable[[uuid.UUID], None],
    *,
    interval: timedelta,
    quiet_for: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Forever: hand every stalled campaign, and every one whose winner was just picked, to
    `resume` (which enqueues its fan-out)."""
    while True:
        try:
            for campaign_id in await stalled(database, now=clock(), quiet_for=quiet_for):
                log.warning("campaign %s: fan-out stalled; resuming it", campaign_id)
                resume(campaign_id)
            for campaign_id in await pick_due_winners(database, catalog, now=clock()):
                resume(campaign_id)
        except Exception:
            log.exception("campaign watch failed; will try again in %s", interval)
        await asyncio.sleep(interval.total_seconds())
