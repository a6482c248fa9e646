"""A recipient import from end to end: rows read as the body streams in, each validated on its own,
saved a batch at a time, and a report of what was saved and what was rejected and why.

Each batch commits on its own, so a long import holds no lock for long (SQLite has a single
writer). An import cut off halfway keeps the batches before the cut; the upsert is idempotent,
so sending the same file again finishes it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass, field

from ..db.engine import Database
from .import_rows import ImportFormat, ImportRow, Parsed, Rejection, row_reader
from .recipient_batches import BatchOutcome, save_batch

BATCH_SIZE = 1_000
#: Rejections listed in a report; beyond them they are only counted.
MAX_REJECTIONS_LISTED = 1_000


@dataclass
class ImportReport:
    imported: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first MAX_REJECTIONS_LISTED

    def reject(self, rejection: Rejection) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_REJECTIONS_LISTED:
            self.rejections.append(rejection)

    def saved(self, outcome: BatchOutcome) -> None:
        self.created += outcome.created
        self.updated += outcome.updated
        self.imported += outcome.created + outcome.updated


async def import_recipients(
    database: Database, body: AsyncIterable[bytes], kind: ImportFormat, *, batch_size: int = BATCH_SIZE
) -> ImportReport:
    """Raises InvalidRequest when the CSV header is not usable: then nothing is imported."""
    report = ImportReport()
    batch: list[ImportRow] = []

    async def take(items: Iterable[Parsed]) -> None:
        for item in items:
            if isinstance(item, Rejection):
                report.reject(item)
                continue
            batch.append(item)
            if len(batch) >= batch_size:
                await save(batch[:])
                batch.clear()

    async def save(rows: list[ImportRow]) -> None:
        async with database.transaction() as session:
            report.saved(await save_batch(session, rows))

    reader = row_reader(kind)
    async for chunk in body:
        await take(reader.feed(chunk))
    await take(reader.close())
    if batch:
        await save(batch)
    return report


def rejections_csv(rejections: Iterable[Rejection]) -> str:
    """The rejected rows as CSV: where each is in the file, and what to fix."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["line", "id", "field", "message"])
    writer.writerows([r.line, _inert(r.id), r.field, _inert(r.message)] for r in rejections)
    return out.getvalue()


def _inert(cell: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula; the ids come from elsewhere.
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
