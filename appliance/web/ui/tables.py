"""A table the UI shows and exports as CSV from the same rows: each cell has its text and its value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .csv_export import Value


@dataclass(frozen=True)
class Cell:
    text: str  # as the page shows it: "1,204", "12.5%"
    value: Value  # as the CSV holds it: 1204, 0.125
    numeric: bool = False


@dataclass(frozen=True)
class Table:
    key: str  # names its CSV download
    caption: str
    columns: list[str]
    rows: list[list[Cell]]
    links: list[str | None] = field(default_factory=list)  # where each row's first cell leads, if anywhere

    def link(self, index: int) -> str | None:
        return self.links[index] if index < len(self.links) else None

    def values(self) -> list[Sequence[Value]]:
        return [[cell.value for cell in row] for row in self.rows]


def text(value: str) -> Cell:
    return Cell(value, value)


def count(value: int) -> Cell:
    return Cell(f"{value:,}", value, numeric=True)


def rate(value: float | None) -> Cell:
    """A share shown as a percentage; "—" when nothing was there to divide by."""
    if value is None:
        return Cell("—", None, numeric=True)
    return Cell(f"{100 * value:.1f}%", round(value, 4), numeric=True)


def measure(value: float | None, unit: str) -> Cell:
    if value is None:
        return Cell("—", None, numeric=True)
    return Cell(f"{value:,.1f} {unit}", round(value, 2), numeric=True)
