"""bench/analytics.py keeps working: a 2,000-delivery run writes its row (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_the_analytics_benchmark_runs_small_and_records_a_row(pg_server: str, tmp_path: Path) -> None:
    output = tmp_path / "benchmarks.md"
    command = [sys.executable, "-m", "bench.analytics", "--deliveries", "2000", "--admin-url", pg_server]
    done = subprocess.run(
        [*command, "--output", str(output)], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "dashboard 30d" in done.stdout
    [row] = output.read_text().splitlines()
    assert row.startswith("| 20") and "| 2,000 (written in" in row and row.count("|") == 9
