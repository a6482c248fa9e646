"""Campaigns: create a draft, launch it now or at a time, pause, resume, cancel, watch progress."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from ...campaigns import operations
from ...campaigns.launch import LAUNCH_JOB, job_id
from ...campaigns.progress import Progress, progress
from ...campaigns.requests import CampaignIn, LaunchIn
from ...db.models import Campaign, CampaignState
from ...db.types import utcnow
from ...errors import NotFound
from ..services import Services, ServicesDep


class ProgressOut(msgspec.Struct):
    recipients: int  # planned so far
    deliveries: dict[str, int]  # by status
    skipped: dict[str, int]  # by reason: preference, suppression, no address, fallback, cancelled
    variants: dict[str, dict[str, int]]  # variant -> deliveries by status


class CampaignOut(msgspec.Struct):
    id: str
    name: str
    state: str
    category: str
    template: str
    audience: dict[str, Any]
    variants: dict[str, Any]
    data: dict[str, Any]
    local_time: str | None
    rate: str | None
    winner_test: dict[str, Any] | None  # {"test_share": %, "wait_s": s, "metric": "opens"|"clicks"}
    winner: str | None  # the variant the rest of the audience gets, once picked
    tested_at: datetime | None  # when the last test delivery went out: the wait starts then
    send_at: datetime | None
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    progress: ProgressOut | None = None


class CampaignsOut(msgspec.Struct):
    campaigns: list[CampaignOut]


class CampaignsController(Controller):
    path = "/v1/campaigns"
    tags = ["campaigns"]

    @post("/", summary="Create a campaign (a draft until launched)")
    async def create(
        self, request: Request[Any, Any, Any], services: ServicesDep, data: JSONBody[CampaignIn]
    ) -> CampaignOut:
        async with services.database.transaction() as session:
            campaign = await operations.create(
                session, services.catalog, data, author=f"api:{request.state.caller}", now=utcnow()
            )
        return campaign_out(campaign)

    @get("/", summary="Campaigns, newest first")
    async def list_campaigns(self, services: ServicesDep) -> CampaignsOut:
        async with services.database.sessions() as session:
            rows = await session.scalars(select(Campaign).order_by(Campaign.created_at.desc()).limit(200))
            return CampaignsOut([campaign_out(row) for row in rows])

    @get("/{campaign_id:uuid}", summary="A campaign with its live progress")
    async def read(self, services: ServicesDep, campaign_id: FromPath[uuid.UUID]) -> CampaignOut:
        async with services.database.sessions() as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is None:
                raise NotFound("campaign", str(campaign_id))
            return campaign_out(campaign, await progress(session, campaign_id))

    @post(
        "/{campaign_id:uuid}/launch",
        status_code=200,
        summary="Send now, or schedule for `send_at`",
        description="Without `send_at` (or with a past one) the fan-out starts at once.",
    )
    async def launch(
        self, services: ServicesDep, campaign_id: FromPath[uuid.UUID], data: JSONBody[LaunchIn]
    ) -> CampaignOut:
        async with services.database.transaction() as session:
            campaign = await operations.launch(session, campaign_id, data.send_at, now=utcnow())
        await set_going(services, campaign)
        return campaign_out(campaign)

    @post("/{campaign_id:uuid}/{action:str}", status_code=200, summary="pause, resume or cancel")
    async def steer(
        self,
        services: ServicesDep,
        campaign_id: FromPath[uuid.UUID],
        action: FromPath[Literal["pause", "resume", "cancel"]],
    ) -> CampaignOut:
        async with services.database.transaction() as session:
            campaign = await operations.act(session, campaign_id, action, now=utcnow())
        await set_going(services, campaign)
        return campaign_out(campaign)


async def set_going(services: Services, campaign: Campaign) -> None:
    """After the commit: the fan-out for a campaign now sending, the scheduler for a later one."""
    if campaign.state == CampaignState.SENDING:
        services.dispatcher.fan_out(campaign.id)
    elif campaign.state == CampaignState.SCHEDULED and campaign.send_at is not None:
        await services.scheduler.schedule_once(
            job_id(campaign.id), campaign.send_at, LAUNCH_JOB, campaign_id=str(campaign.id)
        )


def campaign_out(campaign: Campaign, found: Progress | None = None) -> CampaignOut:
    return CampaignOut(
        id=str(campaign.id),
        name=campaign.name,
        state=campaign.state,
        category=campaign.category,
        template=campaign.template,
        audience=campaign.audience,
        variants=campaign.variants,
        data=campaign.data,
        local_time=campaign.local_time,
        rate=campaign.rate,
        winner_test=campaign.winner_test,
        winner=campaign.winner,
        tested_at=campaign.tested_at,
        send_at=campaign.send_at,
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        progress=ProgressOut(found.recipients, found.statuses, found.skipped, found.variants)
        if found
        else None,
    )
