"""The segments page: every segment with its live count, and a form to try rules and save them.

"Preview" counts who the rules select without saving anything, so a marketer can tune a
segment before a campaign uses it. Rules are written as under `segments:` in the config (YAML,
so JSON works too) and checked by the same parser as the API's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import yaml
from litestar import Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, Parameter
from litestar.response import Redirect, Template

from ...audiences import segments
from ...audiences.segments import Audience, InvalidRules, Rules, SegmentSource, parse_rules
from ...errors import RequestRejected
from ..services import Services, ServicesDep
from .auth import Operator, may_change, require_change
from .views import Layout

AnyRequest = Request[Any, Any, Any]
FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
EXAMPLE_RULES = """all:
  - {attribute: plan, op: eq, value: pro}
  - {field: locale, op: in, value: [fr, de]}"""


@dataclass(frozen=True)
class SegmentRow:
    key: str
    name: str
    source: str
    count: int
    rules_yaml: str
    removable: bool


@dataclass(frozen=True)
class SegmentsPage:
    layout: Layout
    rows: list[SegmentRow]
    may_change: bool
    values: Mapping[str, str]
    preview: Audience | None = None
    errors: list[str] = field(default_factory=list)
    saved: str = ""


def _operator(request: AnyRequest) -> Operator | None:
    return getattr(request.state, "operator", None)


def _layout(request: AnyRequest, services: Services) -> Layout:
    name = services.catalog.config.server.product_name
    return Layout(product_name=name, operator=_operator(request), active="segments")


async def _page(
    request: AnyRequest,
    services: Services,
    values: Mapping[str, str],
    *,
    preview: Audience | None = None,
    errors: list[str] | None = None,
    saved: str = "",
    status_code: int = 200,
) -> Template:
    async with services.database.sessions() as session:
        found = await segments.list_segments(session, services.catalog.config)
        rows = [
            SegmentRow(
                key=s.key,
                name=s.name,
                source=s.source.value,
                count=(await segments.audience(session, s.rules, sample=0)).count,
                rules_yaml=rules_text(s.rules.to_json()),
                removable=s.source is SegmentSource.API,
            )
            for s in found
        ]
    view = SegmentsPage(
        layout=_layout(request, services),
        rows=rows,
        may_change=may_change(request),
        values=values,
        preview=preview,
        errors=errors or [],
        saved=saved,
    )
    return Template(template_name="segments.html", context={"page": view}, status_code=status_code)


@get("/segments", name="ui:segments")
async def segments_page(
    request: AnyRequest, services: ServicesDep, saved: Annotated[str, Parameter(max_length=64)] = ""
) -> Template:
    shown = saved if _KEY.match(saved) else ""
    return await _page(request, services, {"rules": EXAMPLE_RULES}, saved=shown)


@post("/segments", name="ui:segments-submit")
async def segments_submit(request: AnyRequest, services: ServicesDep, data: FormBody) -> Template | Redirect:
    values = {key: str(value) for key, value in data.items()}
    try:
        rules = rules_from(values.get("rules", ""))
    except InvalidRules as exc:
        errors = [f"{where}: {message}" if where else message for where, message in exc.problems]
        return await _page(request, services, values, errors=errors, status_code=422)
    if values.get("intent") != "save":
        async with services.database.sessions() as session:
            preview = await segments.audience(session, rules)
        return await _page(request, services, values, preview=preview)
    require_change(request, "segments")
    key = values.get("key", "").strip()
    try:
        if not _KEY.match(key):
            raise RequestRejected("key", "1-63 lower-case letters, digits, _ or -, starting with a letter")
        async with services.database.transaction() as session:
            await segments.save_segment(
                session, services.catalog.config, key, name=values.get("name", "").strip()[:200], rules=rules
            )
    except RequestRejected as exc:
        return await _page(request, services, values, errors=[f"{exc.field}: {exc.message}"], status_code=422)
    return Redirect(f"/ui/segments?saved={key}", status_code=303)


@post("/segments/{key:str}/delete", name="ui:segment-delete")
async def segment_delete(request: AnyRequest, services: ServicesDep, key: FromPath[str]) -> Redirect:
    require_change(request, "segments")
    async with services.database.transaction() as session:
        await segments.delete_segment(session, services.catalog.config, key)
    return Redirect("/ui/segments", status_code=303)


def rules_text(rule: dict[str, Any], indent: str = "") -> str:
    """Rules as compact YAML: groups as blocks, each condition on one line, as the docs write them."""
    group = next((key for key in ("all", "any") if key in rule), None)
    if group is None:
        return indent + yaml.safe_dump(rule, default_flow_style=True, sort_keys=False, width=10_000).strip()
    lines = [f"{indent}{group}:"]
    for inner in rule[group]:
        lines.append(f"{indent}  - {rules_text(inner, indent + '    ').lstrip()}")
    return "\n".join(lines)


def rules_from(text: str) -> Rules:
    """The textarea's rules; InvalidRules with every problem, also for text that is not YAML."""
    try:
        raw = yaml.safe_load(text)
    except RecursionError:
        raise InvalidRules([("", "the rules nest too deeply")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise InvalidRules([(where, f"not YAML or JSON: {getattr(exc, 'problem', exc)}")]) from None
    if not isinstance(raw, dict):
        raise InvalidRules([("", "write a condition or an all/any group, as in the config")])
    return parse_rules(raw)


SEGMENT_PAGES = [segments_page, segments_submit, segment_delete]
