"""How fast the dashboard's figures come back over a million deliveries, on PostgreSQL.

    python -m bench.analytics                     # 1,000,000 deliveries, appends to docs/benchmarks.md
    python -m bench.analytics --deliveries 2000 --output /tmp/bench.md   # the smoke run the tests do

Makes a throwaway database, fills it server-side (INSERT ... SELECT over generate_series: no
rows cross the wire) with notifications spread over 30 days, two deliveries each, opens, clicks,
bounces and unsubscribes, then times, median of 3:

- the baseline, `SELECT count(*) FROM deliveries`: a full pass over the table on this machine now;
- the dashboard's 30-day overview (rollup refresh included), and the other ranges and categories;
- once: the first rollup build, and the same 30 days counted live from the tables (no rollup).

Each figure is printed, and its ratio to the baseline appended to the output as one table row.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import text

from appliance.analytics.counting import grouped, live
from appliance.analytics.overview import by_category, overview
from appliance.analytics.rollup import refresh
from appliance.analytics.windows import TimeRange
from appliance.db.engine import Database
from appliance.db.migrate import upgrade

from .report import commit, machine

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ["security", "orders", "reminders", "marketing"]
RUNS = 3

# i: 1..n. The status of delivery i is picked by a fixed hash of i, so every run has the same mix:
# 80% sent, 8% delivered, 3% bounced, 2% failed, 1% dead, 5% skipped, 1% queued.
_FILL = [
    """INSERT INTO recipients (id, external_id, attributes, unsubscribed_all, created_at, updated_at)
       SELECT md5('r' || i)::uuid, 'bench-' || i, '{}', false, now(), now()
       FROM generate_series(1::bigint, %(recipients)s) i""",
    """INSERT INTO notifications (id, recipient_id, category, template, priority, data, source, created_at)
       SELECT md5('n' || i)::uuid, md5('r' || (i %% %(recipients)s + 1))::uuid,
              (ARRAY['security', 'orders', 'reminders', 'marketing'])[1 + i %% 4], 'welcome', 'normal', '{}',
              'bench', now() - interval '30 days' * ((i * 7919) %% 100000) / 100000.0
       FROM generate_series(1::bigint, %(notifications)s) i""",
    """INSERT INTO deliveries (id, notification_id, channel, position, priority, status, attempt_count,
                               created_at, updated_at, sent_at)
       SELECT md5('d' || i)::uuid, n.id,
              CASE WHEN i %% 2 = 1 THEN 'email' ELSE (ARRAY['sms', 'push', 'in_app'])[1 + (i / 2) %% 3] END,
              (1 - i %% 2), 'normal',
              CASE WHEN p < 80 THEN 'sent' WHEN p < 88 THEN 'delivered' WHEN p < 91 THEN 'bounced'
                   WHEN p < 93 THEN 'failed' WHEN p < 94 THEN 'dead' WHEN p < 99 THEN 'skipped'
                   ELSE 'queued' END,
              1, n.created_at, n.created_at, n.created_at
       FROM generate_series(1::bigint, %(deliveries)s) i
       CROSS JOIN LATERAL (SELECT (i * 7919 + 13) %% 100 AS p) pick
       JOIN notifications n ON n.id = md5('n' || ((i + 1) / 2))::uuid""",
    # A quarter of delivered email opened (one in ten of those by a mail proxy), a fifth clicked.
    """INSERT INTO delivery_events (delivery_id, provider, kind, occurred_at, received_at, automated)
       SELECT id, 'tracking', kind, created_at + interval '5 minutes', created_at + interval '5 minutes',
              CASE WHEN abs(hashtext(id::text)) %% 10 = 0 THEN 'mail proxy' END
       FROM deliveries CROSS JOIN (VALUES ('opened', 4), ('clicked', 20)) AS k(kind, every)
       WHERE channel = 'email' AND status IN ('sent', 'delivered')
         AND abs(hashtext(id::text)) %% every = 1""",
    """INSERT INTO delivery_events (delivery_id, provider, kind, occurred_at, received_at)
       SELECT id, 'bench', 'bounced', created_at + interval '1 minute', created_at + interval '1 minute'
       FROM deliveries WHERE status = 'bounced'""",
    """INSERT INTO consent_events (recipient_id, subject, old, new, source, created_at)
       SELECT md5('r' || (i %% %(recipients)s + 1))::uuid, 'marketing.email', 'default', 'opted_out',
              'one_click', now() - interval '30 days' * ((i * 104729) %% 1000) / 1000.0
       FROM generate_series(1::bigint, %(deliveries)s / 1000 + 1) i""",
    "ANALYZE",
]


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument(
        "--admin-url",
        default=os.environ.get("CLARION_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"),
        help="a PostgreSQL database to create the throwaway one from",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    return parser.parse_args()


def fill(url: str, deliveries: int) -> float:
    """Seconds to write the rows."""
    sizes = {
        "deliveries": deliveries,
        "notifications": deliveries // 2,
        "recipients": max(deliveries // 20, 1),
    }
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as connection:
        for statement in _FILL:
            connection.execute(statement, sizes)  # type: ignore[arg-type]
    return time.perf_counter() - started


async def timed(run: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await run()
    return time.perf_counter() - started


async def median(run: Callable[[], Awaitable[object]]) -> float:
    return statistics.median([await timed(run) for _ in range(RUNS)])


async def measure(database: Database) -> dict[str, float]:
    now = datetime.now(UTC)

    async def count_all() -> None:
        async with database.sessions() as session:
            await session.execute(text("SELECT count(*) FROM deliveries"))

    async def live_month() -> None:
        async with database.sessions() as session:
            await grouped(
                session,
                live(now - timedelta(days=30), now),
                ("bucket", "channel", "status"),
                timedelta(days=1),
            )

    figures = {"baseline": await median(count_all)}
    figures["first rollup build"] = await timed(lambda: refresh(database, now=now))
    figures["30 days counted live, no rollup"] = await timed(live_month)
    for time_range in TimeRange:
        figures[f"dashboard {time_range.value}"] = await median(
            lambda r=time_range: overview(database, r, now=now)
        )
    figures["categories 30d"] = await median(
        lambda: by_category(database, TimeRange.MONTH, now=now, names=CATEGORIES)
    )
    return figures


def record(output: Path, deliveries: int, fill_s: float, figures: dict[str, float]) -> str:
    baseline = figures["baseline"]
    main = figures["dashboard 30d"]
    others = "; ".join(
        f"{name} {seconds * 1000:,.0f} ms" for name, seconds in figures.items() if name != "baseline"
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d} | {commit()} | {machine()} | {deliveries:,} "
        f"(written in {fill_s:.1f} s) | **{main * 1000:,.0f} ms** | {baseline * 1000:,.0f} ms "
        f"| {main / baseline:.2f} | {others} |\n"
    )
    with output.open("a") as out:
        out.write(row)
    return row


def main() -> None:
    args = parse()
    name = f"clarion_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.admin_url.rsplit('/', 1)[0]}/{name}"
    try:
        upgrade(url)
        fill_s = fill(url, args.deliveries)
        print(f"wrote {args.deliveries:,} deliveries (+ notifications, events) in {fill_s:.1f} s")
        database = Database(url.replace("postgresql://", "postgresql+psycopg://", 1))
        try:
            figures = asyncio.run(measure(database))
        finally:
            asyncio.run(database.dispose())
        for figure, seconds in figures.items():
            print(f"{figure:>36}: {seconds * 1000:9,.1f} ms  ({seconds / figures['baseline']:.2f}x baseline)")
        print(record(args.output, args.deliveries, fill_s, figures), end="")
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
