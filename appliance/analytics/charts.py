"""Stacked bar charts as geometry: where each bar, tick and legend entry goes, in SVG user units.

Pure functions of the numbers; `ui/templates/partials/chart.html` turns the result into inline
SVG (so every label is escaped by the template engine). No chart library: the one chart the
dashboard needs is ~100 lines, and a library would bring JavaScript or a rendering dependency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 12, 36  # room for the y labels and the x labels
MAX_X_LABELS = 8
GAP = 0.2  # share of each slot left between bars


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    color: str
    tip: str  # shown on hover: "Email · 14:00: 1,204"


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class BarChart:
    id: str  # prefix of the SVG's title and desc ids
    title: str
    description: str
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_top: int
    plot_bottom: int
    segments: list[Segment]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[Series]
    total: int


def stacked_bars(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    stacks: Sequence[Mapping[str, int]],
    series: Sequence[Series],
    *,
    unit: str = "messages",
) -> BarChart:
    """One bar per label, stacked in `series` order; `stacks[i]` maps a series key to its count."""
    top = nice_ceiling(max((sum(stack.values()) for stack in stacks), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(labels), 1)
    segments = []
    for index, (label, stack) in enumerate(zip(labels, stacks, strict=True)):
        base = 0
        for entry in series:
            value = stack.get(entry.key, 0)
            if value <= 0:
                continue
            y_top = TOP + plot_h * (1 - (base + value) / top)
            height = plot_h * value / top
            x = LEFT + index * slot + slot * GAP / 2
            tip = f"{entry.label} · {label}: {value:,}"
            width = round(slot * (1 - GAP), 1)
            segments.append(Segment(round(x, 1), round(y_top, 1), width, round(height, 1), entry.color, tip))
            base += value
    used = [entry for entry in series if any(stack.get(entry.key, 0) for stack in stacks)]
    total = sum(sum(stack.values()) for stack in stacks)
    return BarChart(
        id=chart_id,
        title=title,
        description=describe(labels, stacks, used, total, unit),
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_top=TOP,
        plot_bottom=HEIGHT - BOTTOM,
        segments=segments,
        y_ticks=[Tick(round(TOP + plot_h * (1 - n / 4), 1), f"{top * n // 4:,}") for n in range(5)],
        x_ticks=_x_ticks(labels, slot),
        legend=used or list(series),
        total=total,
    )


def nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten, times 4 (four tick intervals), that holds `value`."""
    if value <= 0:
        return 4
    step = value / 4
    power = 10 ** math.floor(math.log10(step))
    nice = next(m * power for m in (1, 2, 5, 10) if m * power >= step)
    return math.ceil(nice) * 4


def describe(
    labels: Sequence[str],
    stacks: Sequence[Mapping[str, int]],
    series: Sequence[Series],
    total: int,
    unit: str,
) -> str:
    """What a screen reader says for the chart: the total, the split, and the busiest bar."""
    if not total:
        return f"No {unit} from {labels[0]} to {labels[-1]}." if labels else f"No {unit}."
    by_series = ", ".join(f"{s.label} {sum(stack.get(s.key, 0) for stack in stacks):,}" for s in series)
    busiest = max(range(len(stacks)), key=lambda i: sum(stacks[i].values()))
    return (
        f"{total:,} {unit} from {labels[0]} to {labels[-1]}: {by_series}. "
        f"Busiest: {labels[busiest]} with {sum(stacks[busiest].values()):,}."
    )


def _x_ticks(labels: Sequence[str], slot: float) -> list[Tick]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    shown = [(i, label) for i, label in enumerate(labels) if i % every == 0]
    return [Tick(round(LEFT + (i + 0.5) * slot, 1), label) for i, label in shown]
