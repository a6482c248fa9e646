"""CSV downloads of the messages list (every page of it, streamed) and of a campaign's funnel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Annotated

from litestar import get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter
from litestar.response import Stream

from ...campaigns.engagement import engagement
from ...campaigns.fanout import campaign_weights
from ...campaigns.progress import progress
from ...db.models import Campaign
from ...pipeline.status import notification_status
from ..services import Services, ServicesDep
from .campaign_views import VariantFunnel, funnels
from .csv_export import Value, csv_download
from .queries import MESSAGE_FILTERS, AskedFiltersDep, Cursor, MessageFilters, recent_notifications

Text = Annotated[str, Parameter(max_length=255)]
BATCH = 500  # notifications read per query while the download streams
MESSAGE_COLUMNS = ["created_at", "id", "recipient", "category", "template", "status", "channels"]
FUNNEL_COLUMNS = ["variant", "weight", "recipients", "sent", "delivered", "reached", "opened", "clicked"]


@get("/messages/export", name="ui:messages-export", dependencies=MESSAGE_FILTERS)
async def messages_export(services: ServicesDep, asked: AskedFiltersDep) -> Stream:
    # Values that could not be read are left out, as on the page, which said so.
    return csv_download("messages.csv", MESSAGE_COLUMNS, _message_rows(services, asked.filters))


async def _message_rows(services: Services, filters: MessageFilters) -> AsyncIterator[Sequence[Value]]:
    cursor: Cursor | None = None
    while True:
        batch = await recent_notifications(services.database, filters, before=cursor, limit=BATCH)
        for n in batch:
            channels = " ".join(f"{d.channel}:{d.status}" for d in n.deliveries)
            status = notification_status(d.status for d in n.deliveries)
            recipient = n.recipient.external_id
            yield [n.created_at.isoformat(), str(n.id), recipient, n.category, n.template, status, channels]
        if len(batch) < BATCH:
            return
        cursor = Cursor(batch[-1].created_at, batch[-1].id)


@get("/campaigns/{campaign_id:uuid}/export", name="ui:campaign-export")
async def campaign_export(services: ServicesDep, campaign_id: FromPath[uuid.UUID]) -> Stream:
    async with services.database.sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFoundException(f"There is no campaign {campaign_id}.")
        rows = funnels(
            campaign_weights(services.catalog, campaign),
            await progress(session, campaign_id),
            await engagement(session, campaign_id),
        )
    return csv_download(f"campaign-{campaign_id}-funnel.csv", FUNNEL_COLUMNS, [_funnel_row(f) for f in rows])


def _funnel_row(f: VariantFunnel) -> list[Value]:
    return [f.name, f.weight, f.recipients, f.sent, f.delivered, f.reached, f.opened, f.clicked]


EXPORT_PAGES = [messages_export, campaign_export]
