"""Creating, launching and steering campaigns: the checks and state moves the API and UI share."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..audiences.segments import segment_rules
from ..catalog import Catalog
from ..config.units import parse_duration
from ..db.models import Campaign, CampaignState, Delivery, DeliveryStatus, Notification, Topic
from ..db.unindexed import unindexed
from ..errors import NotFound, RequestRejected
from .lifecycle import ACTIONS, can_move, launch_target
from .locking import for_change
from .requests import CampaignIn


async def create(
    session: AsyncSession, catalog: Catalog, data: CampaignIn, *, author: str, now: datetime
) -> Campaign:
    """A draft, once the config can serve it: category, template, variants and audience exist."""
    catalog.require_template(data.template, catalog.category(data.category))
    _check_variants(catalog, data)
    await _check_audience(session, catalog, data)
    campaign = Campaign(
        id=uuid.uuid4(),
        name=data.name,
        category=data.category,
        template=data.template,
        data=data.data,
        audience=msgspec.to_builtins(data.audience),
        variants={
            name: msgspec.to_builtins(variant) | {"weight": variant.weight}
            for name, variant in data.variants.items()
        },
        state=CampaignState.DRAFT,
        local_time=data.local_time,
        rate=data.rate,
        winner_test=_winner_test(data),
        created_by=author,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    return campaign


async def launch(
    session: AsyncSession, campaign_id: uuid.UUID, send_at: datetime | None, *, now: datetime
) -> Campaign:
    """scheduled (a future `send_at`) or sending. The caller, once committed, asks the scheduler
    or enqueues the fan-out: a worker must never find the campaign before its new state."""
    campaign = await locked(session, campaign_id)
    later = send_at is not None and send_at > now
    _move(campaign, launch_target(later), now)
    campaign.send_at = send_at or now
    if not later:
        campaign.started_at = now
    return campaign


async def start_scheduled(session: AsyncSession, campaign_id: uuid.UUID, *, now: datetime) -> bool:
    """The scheduler's side of a launch: scheduled -> sending. False when it was cancelled meanwhile."""
    campaign = await locked(session, campaign_id)
    if campaign.state != CampaignState.SCHEDULED:
        return False
    _move(campaign, CampaignState.SENDING, now)
    campaign.started_at = now
    return True


async def act(session: AsyncSession, campaign_id: uuid.UUID, action: str, *, now: datetime) -> Campaign:
    """pause, resume or cancel. Cancelling also stands down every delivery not yet sent;
    after a resume the caller enqueues the fan-out once committed."""
    campaign = await locked(session, campaign_id)
    _move(campaign, ACTIONS[action], now)
    if action == "cancel":
        await _stand_down(session, campaign.id, now)
    return campaign


async def locked(session: AsyncSession, campaign_id: uuid.UUID) -> Campaign:
    campaign = await session.scalar(for_change(campaign_id))
    if campaign is None:
        raise NotFound("campaign", str(campaign_id))
    return campaign


def _move(campaign: Campaign, target: CampaignState, now: datetime) -> None:
    current = CampaignState(campaign.state)
    if not can_move(current, target):
        raise RequestRejected("state", f"a {current} campaign cannot become {target}")
    campaign.state, campaign.updated_at = target, now
    if target in (CampaignState.CANCELLED, CampaignState.SENT):
        campaign.finished_at = now


async def _stand_down(session: AsyncSession, campaign_id: uuid.UUID, now: datetime) -> None:
    ours = select(Notification.id).where(Notification.campaign_id == campaign_id).scalar_subquery()
    await session.execute(
        update(Delivery)
        .where(
            Delivery.notification_id.in_(ours),
            unindexed(Delivery.status).in_((DeliveryStatus.QUEUED, DeliveryStatus.HELD)),
        )
        .values(
            status=DeliveryStatus.SKIPPED,
            last_error="campaign cancelled",
            lease_expires_at=None,
            updated_at=now,
        )
        # No Delivery in the session to keep in step: without this SQLAlchemy fetched back the id
        # of every delivery skipped, a million for a cancelled campaign of a million.
        .execution_options(synchronize_session=False)
    )


def _check_variants(catalog: Catalog, data: CampaignIn) -> None:
    offered = catalog.templates.variants(data.template)
    for name in data.variants:
        if name not in offered:
            known = ", ".join(offered) or "none"
            raise RequestRejected(
                f"variants.{name}",
                f"template {data.template!r} has no variant {name!r}; its variants: {known}",
            )
    if data.variants and not any(variant.weight for variant in data.variants.values()):
        raise RequestRejected("variants", "at least one variant needs a weight above 0")
    weights = {name: v.weight for name, v in data.variants.items()} or offered
    if data.winner is not None and sum(1 for weight in weights.values() if weight) < 2:
        raise RequestRejected(
            "winner", "a winner needs a contest: give two variants or more a weight above 0"
        )


def _winner_test(data: CampaignIn) -> dict[str, Any] | None:
    if data.winner is None:
        return None
    wait = parse_duration(data.winner.wait)
    return {
        "test_share": data.winner.test_share,
        "wait_s": wait.total_seconds(),
        "metric": data.winner.metric,
    }


async def _check_audience(session: AsyncSession, catalog: Catalog, data: CampaignIn) -> None:
    audience = data.audience
    if audience.topic is not None and audience.segment is not None:
        raise RequestRejected("audience", "give a `topic` or a `segment`, not both")
    if audience.topic is not None and await session.get(Topic, audience.topic) is None:
        raise RequestRejected("audience.topic", f"no topic {audience.topic!r}")
    if (
        audience.segment is not None
        and await segment_rules(session, catalog.config, audience.segment) is None
    ):
        raise RequestRejected("audience.segment", f"no segment {audience.segment!r}")
