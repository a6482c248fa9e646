"""The operator pages: messages, one message, the sandbox (signing in is in `sign_in`).

Each GET builds one view model and renders one template; each POST redirects (303) when it
succeeds, so a reload never resubmits a form.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Request, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, Parameter
from litestar.response import Redirect, Template

from ...db.models import MAX_ROW_ID, DeliveryStatus
from ..api.sandbox import latest_sandbox_messages
from ..services import Services, ServicesDep
from .auth import DEFAULT_NEXT, Operator
from .guidance import first_send_command, sandbox_channels
from .queries import (
    MESSAGE_FILTERS,
    PAGE_SIZE,
    AskedFiltersDep,
    Cursor,
    captured_for,
    notification_by_id,
    recent_notifications,
)
from .views import (
    CHANNEL_LABELS,
    Layout,
    MessagesPage,
    Option,
    SandboxPage,
    captured_view,
    detail_page,
    message_row,
    messages_url,
    sandbox_tabs,
)

AnyRequest = Request[Any, Any, Any]
Text = Annotated[str, Parameter(max_length=255)]


def layout(request: AnyRequest, services: Services, active: str = "") -> Layout:
    operator: Operator | None = getattr(request.state, "operator", None)
    return Layout(product_name=services.catalog.config.server.product_name, operator=operator, active=active)


def page(
    template: str, view: object, status_code: int = 200, headers: dict[str, str] | None = None
) -> Template:
    return Template(template_name=template, context={"page": view}, status_code=status_code, headers=headers)


@get("/", name="ui:home")
async def home() -> Redirect:
    return Redirect(DEFAULT_NEXT)


@get("/messages", name="ui:messages", dependencies=MESSAGE_FILTERS)
async def messages(
    request: AnyRequest, services: ServicesDep, asked: AskedFiltersDep, before: Text = ""
) -> Template:
    filters, errors = asked.filters, asked.errors
    cursor = Cursor.decode(before)
    rows = await recent_notifications(services.database, filters, before=cursor, limit=PAGE_SIZE + 1)
    older = rows[PAGE_SIZE - 1] if len(rows) > PAGE_SIZE else None
    config = services.catalog.config
    view = MessagesPage(
        layout=layout(request, services, "messages"),
        rows=[message_row(n) for n in rows[:PAGE_SIZE]],
        filters=filters,
        categories=[Option(name, name) for name in config.categories],
        statuses=[Option(s.value, s.value) for s in DeliveryStatus],
        older_url=messages_url(filters, Cursor(older.created_at, older.id)) if older else None,
        newest_url=messages_url(filters) if cursor is not None else None,
        first_send=first_send_command(services.catalog),
        errors=errors,
        export_url=messages_url(filters, path="/ui/messages/export"),
    )
    return page("messages.html", view, status_code=422 if errors else 200)


@get("/messages/{notification_id:uuid}", name="ui:message")
async def message_detail(
    request: AnyRequest, services: ServicesDep, notification_id: FromPath[uuid.UUID]
) -> Template:
    notification = await notification_by_id(services.database, notification_id)
    if notification is None:
        raise NotFoundException(f"There is no notification {notification_id}.")
    captured = await captured_for(services.database, notification_id)
    return page("message.html", detail_page(layout(request, services, "messages"), notification, captured))


@get("/sandbox", name="ui:sandbox")
async def sandbox(
    request: AnyRequest,
    services: ServicesDep,
    channel: Annotated[str, Parameter(pattern=r"^(|email|sms|push|in_app|webhook)$")] = "",
    before: Annotated[int | None, Parameter(ge=1, le=MAX_ROW_ID)] = None,
) -> Template:
    rows = await latest_sandbox_messages(
        services, limit=PAGE_SIZE + 1, channel=channel or None, before=before
    )
    older = rows[PAGE_SIZE - 1] if len(rows) > PAGE_SIZE else None
    older_url = None
    if older is not None:
        older_url = f"/ui/sandbox?before={older.id}" + (f"&channel={channel}" if channel else "")
    view = SandboxPage(
        layout=layout(request, services, "sandbox"),
        messages=[captured_view(row) for row in rows[:PAGE_SIZE]],
        tabs=sandbox_tabs(channel),
        channel=CHANNEL_LABELS.get(channel, ""),
        older_url=older_url,
        newest_url=None if before is None else "/ui/sandbox" + (f"?channel={channel}" if channel else ""),
        sandbox_channels=[CHANNEL_LABELS[c] for c in sandbox_channels(services.catalog)],
    )
    return page("sandbox.html", view)


PAGES = [home, messages, message_detail, sandbox]
