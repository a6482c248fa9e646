"""The scheduler's job for a campaign launched for later: at `send_at`, start its fan-out."""

from __future__ import annotations

import uuid

from ..db.types import utcnow
from ..scheduling.context import job_context
from . import operations

#: The job function, by reference, as the scheduler stores it.
LAUNCH_JOB = "appliance.campaigns.launch:launch_job"


def job_id(campaign_id: uuid.UUID) -> str:
    return f"campaign:{campaign_id}"


async def launch_job(campaign_id: str) -> None:
    context = job_context()
    async with context.database.transaction() as session:
        started = await operations.start_scheduled(session, uuid.UUID(campaign_id), now=utcnow())
    if started:  # not when it was cancelled (or launched by hand) before its time
        context.dispatcher.fan_out(uuid.UUID(campaign_id))
