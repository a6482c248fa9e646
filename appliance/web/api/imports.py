"""Bulk recipient import: NDJSON or CSV streamed in, one report out."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, post
from litestar.exceptions import HTTPException

from ...audiences.import_rows import ImportFormat
from ...audiences.importing import MAX_REJECTIONS_LISTED, ImportReport, import_recipients
from ..services import ServicesDep

#: About a million rows; send more as several files (each takes about a second per 10,000 rows).
MAX_IMPORT_BYTES = 100 * 1024 * 1024

_FORMATS = {
    "application/x-ndjson": ImportFormat.NDJSON,
    "application/jsonl": ImportFormat.NDJSON,
    "text/csv": ImportFormat.CSV,
}


class RejectedRow(msgspec.Struct):
    line: int
    id: str
    field: str
    message: str


class ImportOut(msgspec.Struct):
    imported: int  # rows saved: created + updated
    created: int
    updated: int  # including a row that repeats an id of an earlier row
    rejected: int
    rejected_rows: list[RejectedRow]  # the first 1,000


class RecipientImportController(Controller):
    path = "/v1/recipients/import"
    tags = ["recipients"]

    @post(
        "/",
        status_code=200,
        request_max_body_size=MAX_IMPORT_BYTES,
        summary="Create or update many recipients: NDJSON or CSV",
        description="`Content-Type: application/x-ndjson`: one `POST /v1/recipients` body per line, plus "
        "`topics` (a list of topic keys). `Content-Type: text/csv`: a header line naming the columns "
        "`id`, `email`, `phone`, `locale`, `timezone`, `topics` (keys separated by `;`) and "
        "`attr.<name>` (`attr.<name>:number`, `attr.<name>:bool`). Each row is checked on its own; "
        f"the answer counts what was saved and lists the first {MAX_REJECTIONS_LISTED:,} rejected rows.",
    )
    async def import_recipients(self, services: ServicesDep, request: Request[Any, Any, Any]) -> ImportOut:
        kind = _format(request)
        return import_out(await import_recipients(services.database, request.stream(), kind))


def _format(request: Request[Any, Any, Any]) -> ImportFormat:
    media_type, options = request.content_type
    charset = options.get("charset", "utf-8").lower()
    kind = _FORMATS.get(media_type.lower())
    if kind is None or charset not in ("utf-8", "utf8"):
        raise HTTPException(
            status_code=415,
            detail=f"send `Content-Type: text/csv` or `application/x-ndjson`, in UTF-8; got {media_type!r}",
        )
    return kind


def import_out(report: ImportReport) -> ImportOut:
    rows = [RejectedRow(r.line, r.id, r.field, r.message) for r in report.rejections]
    return ImportOut(report.imported, report.created, report.updated, report.rejected, rows)
