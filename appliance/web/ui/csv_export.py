"""CSV downloads of the UI's tables, streamed row by row, safe to open in a spreadsheet.

A cell that starts with = + - @ (or a tab or carriage return) is a formula to Excel, LibreOffice
and Google Sheets; such text cells get a leading apostrophe, which they show as plain text
(OWASP's advice on CSV injection). Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence

from litestar.response import Stream

Value = str | int | float | None
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Value) -> Value:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return f"'{value}"
    return value


def csv_line(row: Sequence[Value]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(value) for value in row])
    return buffer.getvalue()


async def _lines(header: Sequence[str], rows: AsyncIterable[Sequence[Value]]) -> AsyncIterator[str]:
    yield csv_line(header)
    async for row in rows:
        yield csv_line(row)


async def _each(rows: Iterable[Sequence[Value]]) -> AsyncIterator[Sequence[Value]]:
    for row in rows:
        yield row


def csv_download(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[Value]] | AsyncIterable[Sequence[Value]]
) -> Stream:
    """A streamed `text/csv` attachment named `filename`."""
    lines = _lines(header, rows if isinstance(rows, AsyncIterable) else _each(rows))
    return Stream(
        content=lines,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
