"""The dashboard (the page after sign-in) and the category pages, with CSV downloads of their tables.

Every figure comes from `appliance.analytics`, the same as /v1/analytics; any role may look.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream, Template

from ...analytics.overview import by_category, overview
from ...analytics.providers import provider_health
from ...analytics.queues import queue_loads
from ...analytics.windows import LABELS, TimeRange
from ...db.types import utcnow
from ...pipeline.provider_health import WINDOW
from ..services import Services, ServicesDep
from .csv_export import csv_download
from .dashboard_views import (
    CategoriesPage,
    DashboardPage,
    channel_table,
    charts,
    providers_table,
    queues_table,
    range_options,
    rates_table,
    tiles,
)
from .guidance import first_send_command
from .pages import layout
from .tables import Table

AnyRequest = Request[Any, Any, Any]
RangeParam = Annotated[TimeRange, QueryParameter(name="range", description="1h, 24h, 7d or 30d")]
CategoryParam = Annotated[str, QueryParameter(max_length=64)]


async def dashboard_page(
    request: AnyRequest, services: Services, time_range: TimeRange, category: str = ""
) -> DashboardPage:
    now = utcnow()
    found = await overview(services.database, time_range, now=now, category=category or None)
    subject = f"{category} messages" if category else "Messages"
    drawn, series = charts(found, subject)
    providers = queues = None
    if not category:  # a category shares its providers and queues with the others: shown once
        health = await provider_health(services.database, services.circuits, services.catalog.config, now=now)
        providers = providers_table(health, int(WINDOW.total_seconds()))
        names = services.runtime.actors.queue_names()
        queues = queues_table(await asyncio.to_thread(queue_loads, services.runtime.broker, names, now=now))
    query = f"range={time_range.value}" + (f"&category={category}" if category else "")
    return DashboardPage(
        layout=layout(request, services, "categories" if category else "dashboard"),
        title=category or "Dashboard",
        lead=(
            f"How messages in the {category} category went, and who engaged with them."
            if category
            else "What was sent, how it went, and how the providers and queues are doing."
        ),
        ranges=range_options(time_range),
        range=time_range.value,
        range_label=LABELS[time_range],
        category=category,
        tiles=tiles(found.total),
        charts=drawn,
        series=series,
        channels=channel_table(found),
        providers=providers,
        queues=queues,
        empty=found.total.deliveries == 0,
        first_send=first_send_command(services.catalog),
        export_query=query,
    )


@get("/dashboard", name="ui:dashboard")
async def dashboard(
    request: AnyRequest, services: ServicesDep, time_range: RangeParam = TimeRange.DAY
) -> Template:
    view = await dashboard_page(request, services, time_range)
    return Template(template_name="dashboard.html", context={"page": view})


@get("/dashboard/export/{table:str}", name="ui:dashboard-export")
async def dashboard_export(
    request: AnyRequest,
    services: ServicesDep,
    table: FromPath[Literal["series", "channels", "providers", "queues"]],
    time_range: RangeParam = TimeRange.DAY,
    category: CategoryParam = "",
) -> Stream:
    view = await dashboard_page(request, services, time_range, _known(services, category))
    return download(getattr(view, table), f"{category or 'dashboard'}-{table}-{time_range.value}.csv")


async def categories_page(request: AnyRequest, services: Services, time_range: TimeRange) -> CategoriesPage:
    names = list(services.catalog.config.categories)
    found = await by_category(services.database, time_range, now=utcnow(), names=names)
    links = [f"/ui/categories/{name}?range={time_range.value}" for name in found]
    return CategoriesPage(
        layout=layout(request, services, "categories"),
        ranges=range_options(time_range),
        range=time_range.value,
        range_label=LABELS[time_range],
        table=rates_table("categories", "Rates per category", "Category", found, links),
        empty=not any(f.deliveries for f in found.values()),
    )


@get("/categories", name="ui:categories")
async def categories(
    request: AnyRequest, services: ServicesDep, time_range: RangeParam = TimeRange.DAY
) -> Template:
    view = await categories_page(request, services, time_range)
    return Template(template_name="categories.html", context={"page": view})


@get("/categories/export", name="ui:categories-export")
async def categories_export(
    request: AnyRequest, services: ServicesDep, time_range: RangeParam = TimeRange.DAY
) -> Stream:
    view = await categories_page(request, services, time_range)
    return download(view.table, f"categories-{time_range.value}.csv")


@get("/categories/{name:str}", name="ui:category")
async def category_detail(
    request: AnyRequest, services: ServicesDep, name: FromPath[str], time_range: RangeParam = TimeRange.DAY
) -> Template:
    view = await dashboard_page(request, services, time_range, _known(services, name))
    return Template(template_name="dashboard.html", context={"page": view})


def _known(services: Services, category: str) -> str:
    if category and category not in services.catalog.config.categories:
        raise NotFoundException(f"There is no category {category!r} in the config.")
    return category


def download(table: Table | None, filename: str) -> Stream:
    if table is None:
        raise NotFoundException("That table is not on this page.")
    return csv_download(filename, table.columns, table.values())


DASHBOARD_PAGES = [dashboard, dashboard_export, categories, categories_export, category_detail]
