"""The benchmark scripts keep working: every scenario of `python -m bench`, tiny, in seconds.

No timing is asserted here (the machine is shared and noisy); only that each scenario ran,
produced its figure beside its baseline, and that the run cleaned up after itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_ADMIN_URL, ROOT

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def bench_databases() -> set[str]:
    with psycopg.connect(PG_ADMIN_URL) as connection:
        rows = connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 'clarion_bench_%'")
        return {name for (name,) in rows}


def test_every_scenario_runs_tiny_and_writes_its_row(pg_server: str, redis_url: str, tmp_path: Path) -> None:
    before = bench_databases()
    output = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--output", str(output)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = output.read_text()
    for target in (
        "| A |",
        "| B |",
        "| C |",
        "| G1 |",
        "| G2 |",
        "| G3 |",
        "| G3c |",
        "| G4 |",
        "| G5 |",
        "| G6 |",
        "| G7 |",
    ):
        assert target in table
    assert table.count("| G3 |") == 2  # provider latency 0 ms and 20 ms
    assert table.count("| G2 |") == 2  # one API process, then two replicas (one batch size in the smoke run)
    assert "deliveries/s" in table and "median of 1" in table
    assert bench_databases() <= before  # its throwaway database is gone
