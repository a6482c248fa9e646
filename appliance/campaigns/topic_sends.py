"""A notification addressed to a topic: one campaign to its subscribers, launched at once.

A topic may have millions of subscribers, more than one request can plan; the campaign fan-out
already reaches an audience in resumable batches, once per recipient, with every policy check.
So a topic send *is* a campaign (named after it, made by the API key), and its answer points at
the campaign's progress. An `Idempotency-Key` is kept on the campaign: a repeat with the same
body answers the same campaign, another body with that key is refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..catalog import Catalog
from ..db.models import Campaign
from ..errors import IdempotencyConflict, RequestRejected
from ..pipeline.intake import request_hash
from ..pipeline.requests import NotificationIn
from . import operations
from .requests import AudienceIn, CampaignIn


async def send_to_topic(
    session: AsyncSession,
    catalog: Catalog,
    request: NotificationIn,
    *,
    caller: str,
    idempotency_key: str | None,
    now: datetime,
) -> tuple[Campaign, bool]:
    """The topic's campaign, launched (or scheduled for `send_at`), and whether it is a replay."""
    topic = request.to.topic
    assert topic is not None
    if request.to.profile_fields() or request.to.id is not None:
        raise RequestRejected(
            "to", "a notification to a topic names only `topic`; profiles are per recipient"
        )
    key = idempotency_key or request.idempotency_key
    scoped = f"{caller}:{key}" if key else None
    digest = request_hash(request)
    if scoped is not None:
        earlier = await session.scalar(select(Campaign).where(Campaign.idempotency_key == scoped))
        if earlier is not None:
            if earlier.request_hash != digest:
                raise IdempotencyConflict()
            return earlier, True
    wanted = CampaignIn(
        name=f"{request.template} to topic {topic}",
        category=request.category,
        template=request.template,
        data=request.data,
        audience=AudienceIn(topic=topic),
    )
    try:
        campaign = await operations.create(session, catalog, wanted, author=f"api:{caller}", now=now)
    except RequestRejected as exc:
        raise RequestRejected(exc.field.replace("audience.topic", "to.topic"), exc.message) from None
    campaign.idempotency_key, campaign.request_hash = scoped, digest
    await session.flush()
    return await operations.launch(session, campaign.id, request.send_at, now=now), False
