"""Test, then send the winner: which variant won, and moving the campaign on to the rest.

The test group is `test_share` percent of the audience, chosen by a hash of (campaign, recipient)
so a repeated batch picks the same people. Once it is all planned the campaign is `testing`; the
wait starts when the last test delivery has gone out (`tested_at`: a slow provider or a paced send
must not eat into the time people have to open). After it, the variant with the best unique open
(or click) rate among the recipients it reached wins, and the fan-out starts again from the
beginning of the audience for everyone outside the test group.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.models import Campaign, CampaignState, Delivery, DeliveryStatus, Notification
from .assignment import in_share
from .locking import for_change
from .significance import rate


@dataclass(frozen=True)
class Score:
    successes: int  # recipients who opened (or clicked), bots left out
    trials: int  # recipients the variant reached


def in_test_group(campaign: Campaign, recipient_key: str) -> bool:
    assert campaign.winner_test is not None
    return in_share(f"{campaign.id}:test", recipient_key, int(campaign.winner_test["test_share"]))


def in_this_phase(campaign: Campaign, recipient_key: str) -> bool:
    """Before a winner: only the test group is planned; after: only everyone else."""
    if not campaign.winner_test:
        return True
    return in_test_group(campaign, recipient_key) == (campaign.winner is None)


def pick(scores: Mapping[str, Score]) -> str:
    """The best rate wins; a tie goes to the variant that reached more people, then by name. Pure."""
    return min(
        scores,
        key=lambda name: (-rate(scores[name].successes, scores[name].trials), -scores[name].trials, name),
    )


def wait_of(campaign: Campaign) -> timedelta:
    assert campaign.winner_test is not None
    return timedelta(seconds=float(campaign.winner_test["wait_s"]))


#: A delivery in one of these has not gone out yet.
_OUTSTANDING = (DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.HELD)


async def mark_tested(database: Database, *, now: datetime) -> None:
    """Start the wait of every test whose deliveries have all gone out."""
    outstanding = exists().where(
        Notification.campaign_id == Campaign.id,
        Delivery.notification_id == Notification.id,
        Delivery.status.in_(_OUTSTANDING),
    )
    waiting = (Campaign.state == CampaignState.TESTING, Campaign.tested_at.is_(None))
    # A read first: most passes find no test waiting, and on SQLite an UPDATE of nothing would
    # still take the database's one write lock on every pass of every worker.
    async with database.sessions() as session:
        if await session.scalar(select(Campaign.id).where(*waiting).limit(1)) is None:
            return
    async with database.transaction() as session:
        await session.execute(
            update(Campaign).where(*waiting, ~outstanding).values(tested_at=now, updated_at=now)
        )


async def due(database: Database, *, now: datetime) -> list[uuid.UUID]:
    """Campaigns whose test is over: time to pick their winner."""
    async with database.sessions() as session:
        rows = await session.scalars(select(Campaign).where(Campaign.state == CampaignState.TESTING))
        return [c.id for c in rows if c.tested_at is not None and c.tested_at + wait_of(c) <= now]


async def choose(
    session: AsyncSession, campaign_id: uuid.UUID, scores: Mapping[str, Score], *, now: datetime
) -> str | None:
    """Record the winner and send the campaign on to the rest; None if another process did first."""
    campaign = await session.scalar(for_change(campaign_id))
    if campaign is None or campaign.state != CampaignState.TESTING or not scores:
        return None
    campaign.winner = pick(scores)
    campaign.lanes, campaign.state, campaign.updated_at = None, CampaignState.SENDING, now  # lanes anew
    return campaign.winner
