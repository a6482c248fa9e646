"""The campaign pages: the list, the new-campaign form, and one campaign's live progress and controls.

Every change goes through `campaigns.operations`, the same checks and state moves as the API;
each POST redirects (303) to the campaign's page, which reloads itself while the campaign sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, Parameter
from litestar.response import Redirect, Template
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ...analytics.campaign_timeline import timeline
from ...audiences.segments import list_segments
from ...campaigns import operations
from ...campaigns.audience import audience_size
from ...campaigns.engagement import engagement
from ...campaigns.fanout import campaign_weights
from ...campaigns.progress import progress
from ...campaigns.requests import CampaignIn
from ...catalog import Catalog
from ...db.models import Campaign, Topic
from ...db.types import utcnow
from ...errors import NotFound, RequestRejected
from ...pipeline.requests import msgspec_field
from ..api.campaigns import set_going
from ..services import Services, ServicesDep
from .auth import Operator, may_change, require_change
from .campaign_views import (
    CampaignForm,
    CampaignsPage,
    VariantWeights,
    campaign_page,
    campaign_row,
)
from .views import Layout, Option

AnyRequest = Request[Any, Any, Any]
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

#: What a redirect after an action says on the campaign's page (a fixed list: nothing echoed).
NOTICES = {
    "created": "Draft saved. Check it over, then send it now or schedule it.",
    "launched": "Launched: the fan-out has started.",
    "scheduled": "Scheduled. It starts by itself at its time, even if Clarion restarts meanwhile.",
    "paused": "Paused: nobody else is planned until you resume. Messages already queued still go out.",
    "resumed": "Resumed where it stopped.",
    "cancelled": "Cancelled: messages not yet sent were stood down.",
}
_DONE = {"launch": "launched", "pause": "paused", "resume": "resumed", "cancel": "cancelled"}
_AUDIENCES = ("everyone", "topic", "segment")


def _operator(request: AnyRequest) -> Operator | None:
    return getattr(request.state, "operator", None)


def _layout(request: AnyRequest, services: Services) -> Layout:
    name = services.catalog.config.server.product_name
    return Layout(product_name=name, operator=_operator(request), active="campaigns")


@get("/campaigns", name="ui:campaigns")
async def campaigns(request: AnyRequest, services: ServicesDep) -> Template:
    async with services.database.sessions() as session:
        rows = await session.scalars(select(Campaign).order_by(Campaign.created_at.desc()).limit(200))
        view = CampaignsPage(
            _layout(request, services), [campaign_row(row) for row in rows], may_change(request)
        )
    return Template(template_name="campaigns.html", context={"page": view})


@get("/campaigns/new", name="ui:campaign-new")
async def new_campaign(request: AnyRequest, services: ServicesDep) -> Template:
    return await _form(request, services, _defaults(services.catalog))


@post("/campaigns", name="ui:campaign-create")
async def create_campaign(request: AnyRequest, services: ServicesDep, data: FormBody) -> Template | Redirect:
    operator = require_change(request, "campaigns")
    values = {key: str(value) for key, value in data.items()}
    try:
        wanted, send_at = campaign_in(values), _send_at(values)
        now = utcnow()
        async with services.database.transaction() as session:
            campaign = await operations.create(
                session, services.catalog, wanted, author=f"ui:{operator.username}", now=now
            )
            if values.get("when") in ("now", "at"):
                await session.flush()
                campaign = await operations.launch(session, campaign.id, send_at, now=now)
    except (RequestRejected, NotFound) as exc:
        field, message = (exc.field, exc.message) if isinstance(exc, RequestRejected) else ("", str(exc))
        return await _form(request, services, values, error=message, error_field=field, status_code=422)
    await set_going(services, campaign)
    notice = {"draft": "created", "now": "launched"}.get(values.get("when", ""), "scheduled")
    return Redirect(f"/ui/campaigns/{campaign.id}?notice={notice}", status_code=303)


@get("/campaigns/{campaign_id:uuid}", name="ui:campaign")
async def campaign_detail(
    request: AnyRequest,
    services: ServicesDep,
    campaign_id: FromPath[uuid.UUID],
    notice: Annotated[str, Parameter(max_length=32)] = "",
) -> Template:
    async with services.database.sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFoundException(f"There is no campaign {campaign_id}.")
        view = campaign_page(
            _layout(request, services),
            campaign,
            await progress(session, campaign_id),
            weights=campaign_weights(services.catalog, campaign),
            audience_size=await audience_size(session, services.catalog.config, campaign.audience),
            engagement=await engagement(session, campaign_id),
            may_change=may_change(request),
            message=NOTICES.get(notice, ""),
            timeline=await timeline(session, campaign_id, campaign.started_at, utcnow())
            if campaign.started_at
            else None,
        )
    return Template(template_name="campaign.html", context={"page": view})


@post("/campaigns/{campaign_id:uuid}/{action:str}", name="ui:campaign-act")
async def campaign_act(
    request: AnyRequest,
    services: ServicesDep,
    campaign_id: FromPath[uuid.UUID],
    action: FromPath[Literal["launch", "pause", "resume", "cancel"]],
) -> Redirect:
    require_change(request, "campaigns")
    now = utcnow()
    async with services.database.transaction() as session:
        if action == "launch":
            campaign = await operations.launch(session, campaign_id, None, now=now)
        else:
            campaign = await operations.act(session, campaign_id, action, now=now)
    await set_going(services, campaign)
    return Redirect(f"/ui/campaigns/{campaign_id}?notice={_DONE[action]}", status_code=303)


def _defaults(catalog: Catalog) -> dict[str, str]:
    """A campaign's likely choices: the first bulk category users may leave, a template with variants."""
    categories = catalog.config.categories
    category = next((name for name, c in categories.items() if c.opt_out and c.priority == "bulk"), "")
    templates = list(catalog.config.templates)
    template = next((name for name in templates if catalog.templates.variants(name)), "")
    return {"category": category, "template": template, "audience": "everyone", "when": "draft", "data": "{}"}


def campaign_in(values: Mapping[str, str]) -> CampaignIn:
    """The form as the API's request body, checked by the same rules; RequestRejected names the field."""
    try:
        # As the API decodes a body: no NaN, no lone surrogates, nothing the store cannot write back.
        data = msgspec.json.decode(values.get("data") or "{}")
    except msgspec.DecodeError as exc:
        raise RequestRejected("data", f"template data must be JSON: {exc}") from None
    raw: dict[str, Any] = {
        "name": values.get("name", "").strip(),
        "category": values.get("category", ""),
        "template": values.get("template", ""),
        "data": data,
        "audience": _audience(values),
        "variants": _weights(values),
    }
    for optional in ("local_time", "rate"):
        if text := values.get(optional, "").strip():
            raw[optional] = text
    if values.get("winner") == "on":
        share = values.get("winner_share", "").strip()
        raw["winner"] = {
            "test_share": int(share) if share.isdigit() else share,
            "wait": values.get("winner_wait", "").strip(),
            "metric": values.get("winner_metric", "opens"),
        }
    try:
        return msgspec.convert(raw, CampaignIn)
    except msgspec.ValidationError as exc:
        raise RequestRejected(*msgspec_field(str(exc))) from None


def _audience(values: Mapping[str, str]) -> dict[str, str]:
    kind = values.get("audience", "everyone")
    if kind not in _AUDIENCES:
        raise RequestRejected("audience", "choose everyone, a topic or a segment")
    if kind == "everyone":
        return {}
    if not values.get(kind):
        raise RequestRejected(f"audience.{kind}", f"choose which {kind}")
    return {kind: values[kind]}


def _weights(values: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """`weight.<template>.<variant>` and `time.<template>.<variant>` inputs of the chosen template."""
    template = values.get("template", "")
    variants: dict[str, dict[str, Any]] = {}
    for key, text in values.items():
        kind, _, rest = key.partition(".")
        chosen, _, name = rest.partition(".")
        if kind not in ("weight", "time") or chosen != template or not name or not text.strip():
            continue
        if kind == "time":
            variants.setdefault(name, {})["local_time"] = text.strip()
        elif text.strip().isdigit():
            variants.setdefault(name, {})["weight"] = int(text)
        else:
            raise RequestRejected(f"variants.{name}.weight", "a weight is a whole number, 0 or more")
    return variants


def _send_at(values: Mapping[str, str]) -> datetime | None:
    """The form's date and time, read as UTC (as every time in the UI is shown)."""
    if values.get("when") != "at":
        return None
    text = values.get("send_at", "").strip()
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise RequestRejected("send_at", "pick the date and time (UTC) to send at") from None


async def _form(
    request: AnyRequest,
    services: Services,
    values: Mapping[str, str],
    *,
    error: str = "",
    error_field: str = "",
    status_code: int = 200,
) -> Template:
    async with services.database.sessions() as session:
        topics, segments = await _audience_options(session, services)
    catalog = services.catalog
    view = CampaignForm(
        layout=_layout(request, services),
        values=values,
        categories=[Option(name, name) for name in catalog.config.categories],
        templates=[Option(name, name) for name in catalog.config.templates],
        topics=topics,
        segments=segments,
        variants=[
            VariantWeights(name, sorted(catalog.templates.variants(name).items()))
            for name in catalog.config.templates
            if catalog.templates.variants(name)
        ],
        error=error,
        error_field=error_field,
        may_change=may_change(request),
    )
    return Template(template_name="campaign_new.html", context={"page": view}, status_code=status_code)


async def _audience_options(session: AsyncSession, services: Services) -> tuple[list[Option], list[Option]]:
    topics = await session.scalars(select(Topic).order_by(Topic.key))
    segments = await list_segments(session, services.catalog.config)
    return (
        [Option(topic.key, topic.name or topic.key) for topic in topics],
        [Option(segment.key, segment.name) for segment in segments],
    )


CAMPAIGN_PAGES = [campaigns, new_campaign, create_campaign, campaign_detail, campaign_act]
