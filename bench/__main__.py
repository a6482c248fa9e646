"""`python -m bench`: every scenario against PostgreSQL + Redis on 127.0.0.1, bounded in time.

    python -m bench                       # median of 3 runs each; appends to docs/benchmarks.md
    python -m bench --smoke --output /tmp/bench.md   # each scenario tiny, in seconds (the tests)

Makes a throwaway database and Redis namespace, a fake provider (0 ms and 20 ms), measures the
baselines A/B/C, then G1, G2, G3 (scaled) and G7 (embedded, SQLite), prints the table and
appends it to the output. Everything it made is removed afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

from .report import ROOT
from .runner import Plan, run_all


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="each scenario tiny: checks the scripts work")
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 3; smoke 1)")
    parser.add_argument("--duration", type=float, default=None, help="seconds per run (default 10 / 20)")
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        help="just these: A B C G1 G2 G3 G3c G4 G5 G6 G7 (repeatable)",
    )
    parser.add_argument("--worker-threads", type=int, default=None, help="threads per `clarion worker` in G3")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args()


def main() -> None:
    args = parse()
    plan = Plan.smoke() if args.smoke else Plan.full()
    if args.runs:
        plan = plan.with_runs(args.runs)
    if args.duration:
        plan = plan.with_duration(args.duration)
    if args.worker_threads:
        plan = replace(plan, worker_threads=args.worker_threads)
    if args.only:
        plan = plan.only(set(args.only))
    with tempfile.TemporaryDirectory(prefix="clarion-bench-") as workdir:
        text = run_all(plan, Path(workdir))
    print(text)
    with args.output.open("a") as out:
        out.write("\n" + text)


if __name__ == "__main__":
    main()
