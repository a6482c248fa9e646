"""The "Import recipients" page: upload a CSV or NDJSON file, see what was saved and what was not.

The upload answers with the result page itself instead of redirecting: the report lives nowhere
but in that page, its rejected rows included as a CSV download (a `data:` link), so nothing is
kept on the server. Reloading it sends the file again, which the upsert makes harmless.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Template

from ...audiences.import_rows import ImportFormat, Rejection
from ...audiences.importing import MAX_REJECTIONS_LISTED, ImportReport, import_recipients, rejections_csv
from ...errors import RequestRejected
from ..api.imports import MAX_IMPORT_BYTES
from ..services import Services, ServicesDep
from .auth import Operator
from .views import Layout

AnyRequest = Request[Any, Any, Any]

#: Rejected rows shown on the page; all of them (up to the report's limit) are in the CSV.
SHOWN_REJECTIONS = 50
_READ_BYTES = 64 * 1024
_NDJSON_SUFFIXES = (".ndjson", ".jsonl")

EXAMPLE_CSV = """id,email,phone,locale,timezone,attr.plan,attr.seats:number,topics
user-1,ada@example.com,+14155550100,en-GB,Europe/London,pro,5,news;product
user-2,grace@example.com,,en-US,America/New_York,free,,news"""


@dataclass(frozen=True)
class ImportResult:
    filename: str
    imported: int
    created: int
    updated: int
    rejected: int
    rejections: list[Rejection]  # the first SHOWN_REJECTIONS
    hidden_rejections: int  # rejected but not shown on the page
    report_url: str | None  # the rejected rows as a CSV file, when there are any
    listed: int  # rejected rows in that file
    report_complete: bool  # False when there were more than it lists


@dataclass(frozen=True)
class ImportPage:
    layout: Layout
    can_import: bool
    max_megabytes: int = MAX_IMPORT_BYTES // (1024 * 1024)
    example_csv: str = EXAMPLE_CSV
    error: str = ""
    result: ImportResult | None = None


def _layout(request: AnyRequest, services: Services) -> Layout:
    operator: Operator | None = getattr(request.state, "operator", None)
    return Layout(
        product_name=services.catalog.config.server.product_name, operator=operator, active="import"
    )


def _can_import(request: AnyRequest) -> bool:
    operator: Operator | None = getattr(request.state, "operator", None)
    return operator is not None and operator.may_change


def _page(view: ImportPage, status_code: int = 200) -> Template:
    return Template(template_name="import.html", context={"page": view}, status_code=status_code)


@get("/import", name="ui:import")
async def import_form(request: AnyRequest, services: ServicesDep) -> Template:
    return _page(ImportPage(_layout(request, services), can_import=_can_import(request)))


@post("/import", name="ui:import-upload", request_max_body_size=MAX_IMPORT_BYTES)
async def import_upload(
    request: AnyRequest,
    services: ServicesDep,
    data: Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)],
) -> Template:
    view = ImportPage(_layout(request, services), can_import=_can_import(request))
    upload = data.get("file")
    if not view.can_import:
        return _page(replace(view, error="Your role can look at this page but not import."), 403)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _page(replace(view, error="Choose a CSV or NDJSON file to import."), 422)
    try:
        report = await import_recipients(services.database, _chunks(upload), _format_of(upload.filename))
    except RequestRejected as exc:  # the CSV header: nothing was imported
        return _page(replace(view, error=f"Nothing was imported: {exc.field}: {exc.message}."), 422)
    finally:
        await upload.close()
    return _page(replace(view, result=result(upload.filename, report)))


def _format_of(filename: str) -> ImportFormat:
    return ImportFormat.NDJSON if filename.lower().endswith(_NDJSON_SUFFIXES) else ImportFormat.CSV


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_READ_BYTES):
        yield chunk


def result(filename: str, report: ImportReport) -> ImportResult:
    return ImportResult(
        filename=filename,
        imported=report.imported,
        created=report.created,
        updated=report.updated,
        rejected=report.rejected,
        rejections=report.rejections[:SHOWN_REJECTIONS],
        hidden_rejections=report.rejected - min(report.rejected, SHOWN_REJECTIONS),
        report_url=_csv_url(report.rejections) if report.rejections else None,
        listed=len(report.rejections),
        report_complete=report.rejected <= MAX_REJECTIONS_LISTED,
    )


def _csv_url(rejections: list[Rejection]) -> str:
    encoded = base64.b64encode(rejections_csv(rejections).encode()).decode()
    return f"data:text/csv;charset=utf-8;base64,{encoded}"


IMPORT_PAGES = [import_form, import_upload]
