"""The template pages: every template in the config, one previewed per channel, and a test send.

A test send goes through `pipeline.submit`, the function behind POST /v1/notifications, so it
is planned, stored, dispatched and recorded like any other; its source `ui:<operator>` tells it
apart on the message page.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, Parameter
from litestar.response import Redirect, Template

from ...catalog import Catalog
from ...errors import RequestRejected
from ...pipeline.requests import NotificationIn, msgspec_field
from ...pipeline.submit import Submission, submit
from ..services import Services, ServicesDep
from .auth import may_change, require_change
from .pages import layout, page
from .template_preview import parse_sample, template_data
from .template_views import Choice, TestSend, sending_categories, template_page, templates_page

AnyRequest = Request[Any, Any, Any]
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Pick = Annotated[str, Parameter(max_length=64)]
SampleText = Annotated[str, Parameter(max_length=20_000)]
#: The send form's recipient inputs, named as the API's fields so an error names the input too.
RECIPIENT_FIELDS = ("to.id", "to.email", "to.phone", "to.locale")


def _require(catalog: Catalog, name: str) -> str:
    if name not in catalog.config.templates:
        raise NotFoundException(f"There is no template {name!r} in the config.")
    return name


@get("/templates", name="ui:templates")
async def templates(request: AnyRequest, services: ServicesDep) -> Template:
    view = templates_page(layout(request, services, "templates"), services.catalog)
    return page("templates.html", view)


@get("/templates/{name:str}", name="ui:template")
async def template_detail(
    request: AnyRequest,
    services: ServicesDep,
    name: FromPath[str],
    channel: Pick = "",
    locale: Pick = "",
    variant: Pick = "",
    sample: SampleText = "",
) -> Template:
    wanted = Choice(channel, locale, variant)
    return _detail(request, services, _require(services.catalog, name), wanted, sample, {"to.locale": locale})


@post("/templates/{name:str}/test", name="ui:template-test")
async def send_test(
    request: AnyRequest, services: ServicesDep, name: FromPath[str], data: FormBody
) -> Template | Redirect:
    operator = require_change(request, "templates")
    template = _require(services.catalog, name)
    values = {key: str(value) for key, value in data.items()}
    sender = f"ui:{operator.username}"
    try:
        [result] = await submit(
            [submission_from_form(services.catalog, template, values)],
            catalog=services.catalog,
            committer=services.committer,
            caller=sender,
            source=sender,
        )
        if isinstance(result, RequestRejected):
            raise result
    except RequestRejected as exc:
        wanted = Choice(values.get("channel", ""), values.get("to.locale", ""), values.get("variant", ""))
        return _detail(
            request, services, template, wanted, values.get("sample", ""), values, error=exc, status_code=422
        )
    return Redirect(f"/ui/messages/{result.notification_id}", status_code=303)


def submission_from_form(catalog: Catalog, template: str, values: Mapping[str, str]) -> Submission:
    """The send form as the API's request, checked by the same rules; RequestRejected names the field."""
    variant = values.get("variant", "")
    if variant and variant not in catalog.templates.variants(template):
        raise RequestRejected("variant", f"template {template!r} has no variant {variant!r}")
    recipient = {key[3:]: text for key in RECIPIENT_FIELDS if (text := values.get(key, "").strip())}
    raw = {
        "to": recipient,
        "category": values.get("category", ""),
        "template": template,
        "data": template_data(parse_sample(values.get("sample") or "{}")),
        **({"idempotency_key": key} if (key := values.get("key")) else {}),
    }
    try:
        request = msgspec.convert(raw, NotificationIn)
    except msgspec.ValidationError as exc:
        field, message = msgspec_field(str(exc))
        raise RequestRejected(field, message) from None
    return Submission(request, variant=variant or None)


def _detail(
    request: AnyRequest,
    services: Services,
    template: str,
    wanted: Choice,
    sample_text: str,
    values: Mapping[str, str],
    *,
    error: RequestRejected | None = None,
    status_code: int = 200,
) -> Template:
    catalog = services.catalog
    test_send = None
    if may_change(request):
        # A key per form shown: sending the same form twice (a double click, a resubmit) sends once.
        test_send = TestSend(
            categories=sending_categories(catalog, template),
            values={"key": uuid.uuid4().hex, **values},
            error=error.message if error else "",
            error_field=error.field if error else "",
        )
    view = template_page(
        layout(request, services, "templates"), catalog, template, wanted, sample_text, test_send=test_send
    )
    return page("template.html", view, status_code)


TEMPLATE_PAGES = [templates, template_detail, send_test]
