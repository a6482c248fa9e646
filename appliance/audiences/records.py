"""Cut a body that arrives in chunks into numbered lines and CSV records, holding only the unfinished one.

A CSV record may span lines (a quoted cell with a line break in it), so `CsvRecords` follows the
quoting across lines the way the `csv` module reads it, and hands out only complete records.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass

#: A longer line (or CSV record) is rejected, not buffered: a body without line breaks
#: would otherwise be held in memory whole.
MAX_RECORD_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Line:
    number: int  # 1-based
    text: str | None  # with its line break; None when it could not be read
    problem: str = ""  # why it could not be read


class LineSplitter:
    """Bytes in, complete lines out; UTF-8 is decoded line by line (a byte 0x0A never sits inside a
    multi-byte character), so a bad byte rejects its line only."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._number = 0
        self._oversized = False

    def feed(self, chunk: bytes) -> Iterator[Line]:
        self._pending += chunk
        start = 0
        while (end := self._pending.find(b"\n", start)) >= 0:
            yield from self._finish(bytes(self._pending[start : end + 1]))
            start = end + 1
        del self._pending[:start]
        if len(self._pending) > MAX_RECORD_BYTES:
            self._oversized = True  # dropped up to its line break, then reported once
            self._pending.clear()

    def close(self) -> Iterator[Line]:
        if self._pending or self._oversized:
            yield from self._finish(bytes(self._pending))
        self._pending.clear()

    def _finish(self, raw: bytes) -> Iterator[Line]:
        self._number += 1
        if self._oversized:
            self._oversized = False
            yield Line(self._number, None, f"is longer than {MAX_RECORD_BYTES:,} bytes")
            return
        if self._number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]  # spreadsheets write one
        try:
            yield Line(self._number, raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            yield Line(
                self._number, None, f"is not UTF-8 text (byte {exc.start + 1}); save the file as UTF-8"
            )


@dataclass(frozen=True)
class Record:
    line: int  # where it starts
    cells: list[str] | None
    problem: str = ""


# Where the reader stands at a character: the states of the `csv` module's own parser.
_FIELD_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = range(4)


class CsvRecords:
    """Lines in, CSV records out: a record ends at a line break outside quotes."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._start = 0
        self._size = 0
        self._quoted = False  # the record so far ends inside a quoted cell

    def feed(self, line: Line) -> Iterator[Record]:
        if line.text is None:
            yield from self._abandon(line)
            return
        if not self._lines:
            self._start = line.number
        self._lines.append(line.text)
        self._size += len(line.text)
        self._quoted = _ends_quoted(line.text, self._quoted)
        if not self._quoted:
            yield self._complete()
        elif self._size > MAX_RECORD_BYTES:
            self._reset()
            yield Record(self._start, None, f"is longer than {MAX_RECORD_BYTES:,} bytes (a quote left open?)")

    def close(self) -> Iterator[Record]:
        if self._lines:  # the file ends inside quotes: read what is there, as `csv` would
            yield self._complete()

    def _complete(self) -> Record:
        cells = next(csv.reader(self._lines), [])
        record = Record(self._start, cells)
        self._reset()
        return record

    def _abandon(self, line: Line) -> Iterator[Record]:
        start = self._start if self._lines else line.number
        self._reset()
        yield Record(start, None, line.problem)

    def _reset(self) -> None:
        self._lines, self._size, self._quoted = [], 0, False


def _ends_quoted(text: str, quoted: bool) -> bool:
    """Whether a line that starts inside (or outside) a quoted cell ends inside one."""
    if '"' not in text:
        return quoted  # the common case, without walking the characters
    state = _QUOTED if quoted else _FIELD_START
    for char in text:
        if state == _QUOTED:
            state = _QUOTE_IN_QUOTED if char == '"' else _QUOTED
        elif char == ",":
            state = _FIELD_START
        elif state == _FIELD_START:
            state = _QUOTED if char == '"' else _UNQUOTED
        elif state == _QUOTE_IN_QUOTED:
            state = _QUOTED if char == '"' else _UNQUOTED  # `""` is a quote inside the cell
    return state == _QUOTED
