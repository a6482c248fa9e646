"""Medians of the runs, and the table appended to docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .services import ROOT


@dataclass(frozen=True)
class Row:
    target: str  # "G1"
    scenario: str
    figure: str  # the headline, e.g. "3,120 req/s, p99 21 ms"
    baseline: str  # e.g. "B 4,800 req/s"
    ratio: float | None  # figure / baseline, when they are the same unit
    goal: str
    met: bool | None  # None: not judged (no target for it, or not measured)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def machine() -> str:
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return f"{os.cpu_count()} cores, {memory_kb / 1024 / 1024:.1f} GiB, {platform.machine()}"


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "appliance", "bench"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return (found.stdout.strip() or "unknown") + (" (+ uncommitted changes)" if dirty else "")


def table(rows: list[Row], *, runs: int, notes: list[str]) -> str:
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — commit {commit()} — {machine()} — median of {runs}",
        "",
        "| Target | Scenario | Figure | Baseline (same run) | Ratio | Goal | Met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = f"{row.ratio:.0%}" if row.ratio is not None else "—"
        met = {True: "yes", False: "**no**", None: "—"}[row.met]
        cells = [row.target, row.scenario, row.figure, row.baseline, ratio, row.goal, met]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *(f"- {note}" for note in notes), ""]
    return "\n".join(lines) + "\n"
