"""GET /v1/sandbox/messages: what `sandbox` providers captured, newest first."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import Parameter
from sqlalchemy import select

from ...db.models import MAX_ROW_ID, SandboxMessage
from ..services import Services, ServicesDep
from .schemas import SandboxMessageOut, SandboxPage


async def latest_sandbox_messages(
    services: Services, *, limit: int, channel: str | None = None, before: int | None = None
) -> list[SandboxMessage]:
    query = select(SandboxMessage).order_by(SandboxMessage.id.desc()).limit(limit)
    if channel:
        query = query.where(SandboxMessage.channel == channel)
    if before:
        query = query.where(SandboxMessage.id < before)
    async with services.database.sessions() as session:
        return list(await session.scalars(query))


@get("/v1/sandbox/messages", tags=["sandbox"], summary="Messages captured by sandbox providers, newest first")
async def list_sandbox_messages(
    services: ServicesDep,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
    channel: Annotated[str | None, Parameter(pattern=r"^(email|sms|push|in_app|webhook)$")] = None,
    before: Annotated[
        int | None, Parameter(ge=1, le=MAX_ROW_ID, description="page: only messages with a smaller id")
    ] = None,
) -> SandboxPage:
    rows = await latest_sandbox_messages(services, limit=limit, channel=channel, before=before)
    return SandboxPage(
        messages=[
            SandboxMessageOut(
                id=row.id,
                created_at=row.created_at,
                provider=row.provider,
                channel=row.channel,
                to=row.to_address,
                subject=row.subject,
                text=row.text,
                html=row.html,
                payload=row.payload,
                delivery_id=str(row.delivery_id),
                notification_id=str(row.notification_id),
            )
            for row in rows
        ]
    )
