"""The rows of a recipient import, read from NDJSON or CSV as the body streams in, each validated alone.

A row becomes an `ImportRow` or a `Rejection` naming its line, the field and why; one bad row
never stops the others. Only a bad CSV header stops the import, before any row is read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

import msgspec

from ..errors import InvalidRequest, RequestRejected
from ..pipeline.requests import RecipientIn, msgspec_field
from .records import CsvRecords, LineSplitter, Record
from .topics import TOPIC_KEY_HINT, is_topic_key


class ImportFormat(StrEnum):
    NDJSON = "application/x-ndjson"
    CSV = "text/csv"


class ImportRecipientIn(RecipientIn, forbid_unknown_fields=True, omit_defaults=True):
    """One recipient: the fields of `POST /v1/recipients`, and topics to subscribe it to."""

    topics: Annotated[list[str], msgspec.Meta(max_length=100)] | None = None

    def check(self, field: str = "") -> None:
        super().check(field)
        for key in self.topics or ():
            if not is_topic_key(key):
                raise InvalidRequest(f"{field}topics", f"{key[:80]!r}: a topic key {TOPIC_KEY_HINT}")


@dataclass(frozen=True)
class ImportRow:
    line: int
    recipient: ImportRecipientIn


@dataclass(frozen=True)
class Rejection:
    line: int
    id: str  # the row's id when it has a readable one, else ""
    field: str  # "line" when the row as a whole could not be read
    message: str


Parsed = ImportRow | Rejection


def validated(line: int, raw: dict[str, Any], *, id_hint: str = "") -> Parsed:
    """The same checks as `POST /v1/recipients`, time zone included."""
    try:
        recipient = msgspec.convert(raw, ImportRecipientIn)
        recipient.check()
    except msgspec.ValidationError as exc:
        field, message = msgspec_field(str(exc))
        return Rejection(line, id_hint, field or "line", message)
    except RequestRejected as exc:
        return Rejection(line, id_hint, exc.field, exc.message)
    return ImportRow(line, recipient)


class NdjsonRows:
    """One JSON object per line; blank lines are skipped."""

    def __init__(self) -> None:
        self._lines = LineSplitter()

    def feed(self, chunk: bytes) -> Iterator[Parsed]:
        for line in self._lines.feed(chunk):
            yield from self._row(line.number, line.text, line.problem)

    def close(self) -> Iterator[Parsed]:
        for line in self._lines.close():
            yield from self._row(line.number, line.text, line.problem)

    def _row(self, number: int, text: str | None, problem: str) -> Iterator[Parsed]:
        if text is None:
            yield Rejection(number, "", "line", problem)
        elif text.strip():
            yield _json_row(number, text)


def _json_row(number: int, text: str) -> Parsed:
    try:
        raw = msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        return Rejection(number, "", "line", f"is not a JSON object: {exc}")
    if not isinstance(raw, dict):
        return Rejection(number, "", "line", "is not a JSON object: expected `{...}` holding at least `id`")
    id_hint = raw.get("id")
    return validated(number, raw, id_hint=id_hint if isinstance(id_hint, str) else "")


# ---------- CSV ----------

PROFILE_COLUMNS = ("id", "email", "phone", "locale", "timezone")
ATTRIBUTE_PREFIX = "attr."
TOPICS_COLUMN = "topics"
TOPIC_SEPARATOR = ";"


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        value = float(text)  # ValueError when it is no number either
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _boolean(text: str) -> bool:
    value = {"true": True, "false": False}.get(text.lower())
    if value is None:
        raise ValueError(text)
    return value


# `attr.<name>:<type>` -> how a cell becomes the attribute's value, and what to say when it cannot.
_ATTRIBUTE_TYPES: dict[str, tuple[Callable[[str], Any], str]] = {
    "text": (str, ""),
    "number": (_number, "must be a number such as 42 or 4.5"),
    "bool": (_boolean, "must be true or false"),
}


@dataclass(frozen=True)
class Column:
    index: int
    header: str  # as written: rejections name the column by it
    kind: str  # "profile", "attribute" or "topics"
    name: str  # the profile field or the attribute's name
    convert: Callable[[str], Any] = str
    type_hint: str = ""


def read_header(cells: list[str]) -> list[Column]:
    """The columns a header names; raises InvalidRequest naming the first one that is not allowed."""
    names = [cell.strip() for cell in cells]
    columns = [_column(index, name) for index, name in enumerate(names)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidRequest("header", f"column {name!r} appears twice")
        seen.add(name)
    if "id" not in seen:
        raise InvalidRequest(
            "header", f"the first line must name the columns, with `id` among them; got {names}"
        )
    return columns


def _column(index: int, header: str) -> Column:
    if header in PROFILE_COLUMNS:
        return Column(index, header, "profile", header)
    if header == TOPICS_COLUMN:
        return Column(index, header, "topics", header)
    if header.startswith(ATTRIBUTE_PREFIX):
        name, _, kind = header.removeprefix(ATTRIBUTE_PREFIX).partition(":")
        convert, hint = _ATTRIBUTE_TYPES.get(kind or "text", (None, ""))
        if name and convert is not None:
            return Column(index, header, "attribute", name, convert, hint)
    allowed = ", ".join([*PROFILE_COLUMNS, TOPICS_COLUMN])
    raise InvalidRequest(
        "header",
        f"unknown column {header!r}: use {allowed}, or attr.<name> for an attribute "
        "(attr.<name>:number or attr.<name>:bool for other than text)",
    )


def csv_row(line: int, columns: list[Column], cells: list[str]) -> Parsed:
    """One CSV record as a recipient; an empty cell leaves that field as it is."""
    values = [cell.strip() for cell in cells]
    id_hint = _id_of(columns, values)
    if len(values) != len(columns):
        message = (
            f"has {len(values)} cells where the header names {len(columns)} columns (an unquoted comma?)"
        )
        return Rejection(line, id_hint, "line", message)
    raw: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for column, value in zip(columns, values, strict=True):
        if not value:
            continue
        if column.kind == "profile":
            raw[column.name] = value
        elif column.kind == "topics":
            raw["topics"] = [key.strip() for key in value.split(TOPIC_SEPARATOR) if key.strip()]
        else:
            try:
                attributes[column.name] = column.convert(value)
            except ValueError:
                return Rejection(line, id_hint, column.header, f"{value!r} {column.type_hint}")
    if "id" not in raw:
        return Rejection(line, "", "id", "is empty; every row needs the recipient's id")
    if attributes:
        raw["attributes"] = attributes
    return validated(line, raw, id_hint=id_hint)


def _id_of(columns: list[Column], values: list[str]) -> str:
    for column in columns:
        if column.name == "id" and column.kind == "profile" and column.index < len(values):
            return values[column.index]
    return ""


class CsvRows:
    """A header line naming the columns, then one recipient per record."""

    def __init__(self) -> None:
        self._lines = LineSplitter()
        self._records = CsvRecords()
        self._columns: list[Column] | None = None

    def feed(self, chunk: bytes) -> Iterator[Parsed]:
        for line in self._lines.feed(chunk):
            for record in self._records.feed(line):
                yield from self._row(record)

    def close(self) -> Iterator[Parsed]:
        for line in self._lines.close():
            for record in self._records.feed(line):
                yield from self._row(record)
        for record in self._records.close():
            yield from self._row(record)
        if self._columns is None:
            raise InvalidRequest(
                "body", "the file is empty: its first line must name the columns, e.g. id,email"
            )

    def _row(self, record: Record) -> Iterator[Parsed]:
        if self._columns is None:
            if record.cells is None:
                raise InvalidRequest("header", f"the first line {record.problem}")
            if any(cell.strip() for cell in record.cells):
                self._columns = read_header(record.cells)
        elif record.cells is None:
            yield Rejection(record.line, "", "line", record.problem)
        elif any(cell.strip() for cell in record.cells):  # blank lines are skipped
            yield csv_row(record.line, self._columns, record.cells)


def row_reader(kind: ImportFormat) -> NdjsonRows | CsvRows:
    return CsvRows() if kind == ImportFormat.CSV else NdjsonRows()
