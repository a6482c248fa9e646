"""Runs the baselines and scenarios in order on one set of services, and makes the table."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from subprocess import Popen

import psycopg

from appliance.db.migrate import upgrade

from . import baselines, services
from .report import Row, medians, table
from .scenarios import delivery, fanout, ingest, priority, soak
from .scenarios.requests import RECIPIENTS

ALL = frozenset({"A", "B", "C", "G1", "G2", "G3", "G3c", "G4", "G5", "G6", "G7"})
#: G3c's category: capped in bench/config.yaml far above what a run sends a recipient, so every
#: delivery takes its slot and none is held back.
CAPPED = "capped"


@dataclass(frozen=True)
class Plan:
    runs: int
    load_s: float  # each G1/G2/B/C run
    e2e_s: float  # each G3/G7 run, after the warm-up
    warmup_s: float
    noop_messages: int
    connections: int = 64  # G1, B and C
    batch_size: int = 500
    batch_connections: int = 4
    replicas: int = 2  # G2 again on this many `clarion serve` processes: scaled mode's way to more cores
    replica_batch_sizes: tuple[int, ...] = (500, 250)  # the range is 100-1,000 per request
    workers: int = 2  # `clarion worker` processes in G3: one per core
    worker_threads: int = 16  # enough sends in flight for a 20 ms provider
    backlog: int = 4000
    audience: int = 1_000_000  # G5
    fanout_limit_s: float = 75  # G5 stops here, done or not: the target is 60 s
    soak_s: float = 600  # G6
    scenarios: frozenset[str] = field(default=ALL)

    @classmethod
    def full(cls) -> Plan:
        return cls(runs=3, load_s=10, e2e_s=20, warmup_s=3, noop_messages=20_000)

    @classmethod
    def smoke(cls) -> Plan:
        return cls(
            runs=1,
            load_s=1,
            e2e_s=1,
            warmup_s=0.5,
            noop_messages=300,
            connections=4,
            batch_size=20,
            batch_connections=2,
            replica_batch_sizes=(20,),
            workers=1,
            worker_threads=4,
            backlog=200,
            audience=2000,
            fanout_limit_s=20,
            soak_s=2,
        )

    def with_runs(self, runs: int) -> Plan:
        return replace(self, runs=runs)

    def with_duration(self, seconds: float) -> Plan:
        return replace(self, load_s=seconds, e2e_s=seconds)

    def only(self, names: set[str]) -> Plan:
        return replace(self, scenarios=frozenset(names) & ALL)

    def repeat(self, run: Callable[[], dict[str, float]]) -> dict[str, float]:
        return medians([run() for _ in range(self.runs)])


@dataclass(frozen=True)
class Scaled:
    """The scaled stack G3 and G4 run on: where workers start, and what they talk to."""

    running: services.Processes
    workdir: Path
    env: dict[str, str]  # a worker's environment; HOOK_URL names its fake provider
    base: str  # the API
    url: str  # the database (postgresql://)
    api_pid: int

    def workers(self, count: int, *, threads: int, queues: list[str] | None = None) -> list[Popen[bytes]]:
        return [
            services.worker(self.running, self.workdir, self.env, queues=queues, threads=threads)
            for _ in range(count)
        ]

    def count_sent(self) -> int:
        return services.count_sent(self.url)


def run_all(plan: Plan, workdir: Path) -> str:
    rows: list[Row] = []
    notes: list[str] = [
        f"G1, B, C: {plan.connections} connections, {plan.load_s:g} s a run; G2: {plan.batch_size} per "
        f"request, {plan.batch_connections} connections; G3/G7: {plan.e2e_s:g} s a run after "
        f"{plan.warmup_s:g} s warm-up, backlog kept under {plan.backlog:,}; G3 with {plan.workers} "
        f"`clarion worker` processes × {plan.worker_threads} threads; one `clarion serve` process (G2 "
        f"again on {plan.replicas}).",
    ]
    figures: dict[str, dict[str, float]] = {}
    with services.database() as url, services.redis_namespace() as namespace, services.processes() as running:
        upgrade(url)
        services.seed_recipients(url, RECIPIENTS)
        hooks = {
            0: services.fake_provider(running, workdir),
            20: services.fake_provider(running, workdir, delay_ms=20),
        }
        _baselines(plan, workdir, url, hooks[0], figures)
        env = services.clarion_env(services.psycopg_url(url), f"{hooks[0]}/hook", namespace)
        if plan.scenarios & {"G1", "G2", "G3", "G3c", "G4", "G6"}:
            base, api = services.serve(running, workdir, env)
            _ingest(plan, base, figures, lambda: services.cpu_s(api.pid))
            if "G2" in plan.scenarios:
                figures.update(_ingest_replicated(plan, running, workdir, env, base, api.pid))
            _park_backlog(url, namespace)
            stack = Scaled(running, workdir, env, base, url, api.pid)
            if "G3" in plan.scenarios:
                for delay_ms, hook in hooks.items():
                    aimed = replace(stack, env={**env, "HOOK_URL": f"{hook}/hook"})
                    figures[f"G3 {delay_ms}"] = _e2e_scaled(plan, aimed, hook)
            if "G3c" in plan.scenarios:
                figures["G3c"] = _e2e_scaled(plan, stack, hooks[0], category=CAPPED)
            if "G4" in plan.scenarios:
                figures["G4"] = _priority(plan, stack, hooks[0])
            if "G6" in plan.scenarios:
                figures["G6"] = _soak(plan, stack, hooks[0])
            figures["API"] = {"rss MB": services.rss_mb(api.pid)}
    if "G5" in plan.scenarios:
        figures["G5"] = _fan_out(plan, workdir)
    if "G7" in plan.scenarios:
        figures.update(_embedded(plan, workdir))
    rows = _rows(plan, figures)
    notes += _memory_notes(figures)
    return table(rows, runs=plan.runs, notes=notes)


def _baselines(plan: Plan, workdir: Path, url: str, hook: str, figures: dict[str, dict[str, float]]) -> None:
    if "A" in plan.scenarios:
        figures["A"] = plan.repeat(lambda: {"msg/s": baselines.noop_rate(plan.noop_messages)})
    if "B" in plan.scenarios:
        figures["B"] = plan.repeat(
            lambda: _load_figures(
                baselines.insert_endpoint(workdir, url, connections=plan.connections, duration_s=plan.load_s)
            )
        )
    if "C" in plan.scenarios:
        figures["C"] = plan.repeat(
            lambda: _load_figures(
                baselines.provider_rate(f"{hook}/hook", connections=plan.connections, duration_s=plan.load_s)
            )
        )


def _load_figures(load: baselines.Load) -> dict[str, float]:
    figures = {"req/s": load.rate, "p99 ms": load.p99_ms}
    if load.cpu_ms is not None:
        figures["server cpu ms"] = load.cpu_ms
    return figures


def _ingest(plan: Plan, base: str, figures: dict[str, dict[str, float]], cpu: Callable[[], float]) -> None:
    if "G1" in plan.scenarios:
        figures["G1"] = plan.repeat(
            lambda: ingest.single(base, connections=plan.connections, duration_s=plan.load_s, cpu=cpu)
        )
    if "G2" in plan.scenarios:
        figures["G2"] = plan.repeat(
            lambda: ingest.batched(
                [base],
                size=plan.batch_size,
                connections=plan.batch_connections,
                duration_s=plan.load_s,
                cpu=cpu,
            )
        )


def _ingest_replicated(
    plan: Plan, running: services.Processes, workdir: Path, env: dict[str, str], base: str, api_pid: int
) -> dict[str, dict[str, float]]:
    """G2 on `plan.replicas` API processes side by side, as scaled mode runs them behind a load
    balancer: the load generator spreads its connections over them. At each of the plan's batch
    sizes: fewer items in flight, a shorter wait for each request."""
    replicas = [services.serve(running, workdir, env) for _ in range(plan.replicas - 1)]
    pids = [api_pid, *(process.pid for _, process in replicas)]

    def run(duration_s: float, size: int) -> dict[str, float]:
        return ingest.batched(
            [base, *(other for other, _ in replicas)],
            size=size,
            connections=plan.batch_connections,
            duration_s=duration_s,
            cpu=lambda: services.cpu_s(*pids),
        )

    try:
        run(min(plan.warmup_s, plan.load_s), plan.batch_size)  # new replicas start cold; the first is warm
        return {
            f"G2 replicas {size}": plan.repeat(partial(run, plan.load_s, size))
            for size in plan.replica_batch_sizes
        }
    finally:
        for _, process in replicas:
            running.stop(process)


def _park_backlog(url: str, namespace: str) -> None:
    """What G1/G2 accepted is not G3's to deliver: drop its messages and stand its rows down.
    Then vacuum: the update leaves as many dead rows as G2 accepted (two million on a quick
    hour), and the autovacuum it wakes would otherwise run through G3's measurement."""
    services.clear_namespace(namespace)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "UPDATE deliveries SET status = 'skipped', lease_expires_at = NULL, last_error = 'bench: parked' "
            "WHERE status = 'queued'"
        )
        connection.execute("VACUUM (ANALYZE) deliveries")


def _e2e_scaled(plan: Plan, stack: Scaled, hook: str, *, category: str = "updates") -> dict[str, float]:
    workers = stack.workers(plan.workers, threads=plan.worker_threads)
    cpu = {
        "api": lambda: services.cpu_s(stack.api_pid),
        "worker": lambda: services.cpu_s(*(w.pid for w in workers)),
    }
    try:
        result = plan.repeat(
            lambda: asyncio.run(
                delivery.sustain(
                    stack.base, hook, stack.count_sent, duration_s=plan.e2e_s, warmup_s=plan.warmup_s,
                    backlog=plan.backlog, category=category, cpu=cpu,
                )
            )
        )  # fmt: skip
        result["worker rss MB"] = max(services.rss_mb(worker.pid) for worker in workers)
        return result
    finally:
        for worker in workers:
            stack.running.stop(worker)


def _soak(plan: Plan, stack: Scaled, hook: str) -> dict[str, float]:
    """G6: G3's load for `soak_s`, the workers started fresh for it."""
    workers = stack.workers(plan.workers, threads=plan.worker_threads)
    try:
        return soak.soak(
            stack.base,
            hook,
            stack.count_sent,
            pids={"api": [stack.api_pid], "worker": [worker.pid for worker in workers]},
            duration_s=plan.soak_s,
            backlog=plan.backlog,
        )
    finally:
        for worker in workers:
            stack.running.stop(worker)


def _priority(plan: Plan, stack: Scaled, hook: str) -> dict[str, float]:
    """G4: one worker for webhook.high alone (4 threads, polling every 100 ms), the rest on bulk."""
    workers = stack.workers(1, threads=4, queues=["webhook.high"])
    workers += stack.workers(plan.workers, threads=plan.worker_threads, queues=["webhook.bulk"])
    try:
        time.sleep(2)  # the workers' start-up is not what is measured
        return plan.repeat(
            lambda: asyncio.run(
                priority.contended(
                    stack.base, hook, stack.count_sent, duration_s=plan.e2e_s / 2,
                    warmup_s=plan.warmup_s, backlog=plan.backlog,
                )
            )
        )  # fmt: skip
    finally:
        for worker in workers:
            stack.running.stop(worker)


def _fan_out(plan: Plan, workdir: Path) -> dict[str, float]:
    """G5, once (seeding a million recipients three times would not fit the time): its own
    database and namespace, so the Redis it measures holds this campaign only."""
    with services.database() as url, services.redis_namespace() as namespace, services.processes() as running:
        upgrade(url)
        services.seed_recipients(url, plan.audience)
        env = services.clarion_env(services.psycopg_url(url), "http://127.0.0.1:9/unused", namespace)
        base, _ = services.serve(running, workdir, env)
        return fanout.fan_out(
            running=running,
            workdir=workdir,
            url=url,
            namespace=namespace,
            base=base,
            env=env,
            audience=plan.audience,
            limit_s=plan.fanout_limit_s,
        )


def _embedded(plan: Plan, workdir: Path) -> dict[str, dict[str, float]]:
    """G7: `clarion serve` alone, SQLite and in-process workers, to the same fake provider."""
    path = workdir / "embedded.db"
    with services.processes() as running:
        hook = services.fake_provider(running, workdir)
        env = services.clarion_env(f"sqlite:///{path}", f"{hook}/hook", None)
        subprocess.run(
            [str(services.CLARION), "db", "upgrade"],
            env=env,
            check=True,
            cwd=services.ROOT,
            capture_output=True,
        )
        _seed_sqlite(path)
        base, api = services.serve(running, workdir, env)
        e2e = plan.repeat(
            lambda: asyncio.run(
                delivery.sustain(
                    base,
                    hook,
                    lambda: _count_sent_sqlite(path),
                    duration_s=plan.e2e_s,
                    warmup_s=plan.warmup_s,
                    backlog=plan.backlog,
                    cpu={"serve": lambda: services.cpu_s(api.pid)},
                )
            )
        )
        batch = plan.repeat(
            lambda: ingest.batched(
                [base], size=plan.batch_size, connections=plan.batch_connections, duration_s=plan.load_s
            )
        )
        e2e["rss MB"] = services.rss_mb(api.pid)
    return {"G7 e2e": e2e, "G7 batch": batch}


def _seed_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute(
            """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
               INSERT INTO recipients (id, external_id, email, attributes, unsubscribed_all, created_at,
                                       updated_at)
               SELECT lower(hex(randomblob(16))), 'u' || i, 'u' || i || '@example.com', '{}', 0,
                      datetime('now'), datetime('now') FROM n""",
            (RECIPIENTS,),
        )


def _count_sent_sqlite(path: Path) -> int:
    with sqlite3.connect(path, timeout=30) as connection:
        return int(connection.execute("SELECT count(*) FROM deliveries WHERE status = 'sent'").fetchone()[0])


def _rows(plan: Plan, f: dict[str, dict[str, float]]) -> list[Row]:
    def get(name: str, key: str) -> float | None:
        return f.get(name, {}).get(key)

    a, b, c = get("A", "msg/s"), get("B", "req/s"), get("C", "req/s")
    rows = []
    if a is not None:
        rows.append(
            Row(
                "A",
                "bare Dramatiq no-op actor, same Redis, 1 process × 8 threads",
                f"{a:,.0f} msg/s",
                "—",
                None,
                "—",
                None,
            )
        )
    if b is not None:
        rows.append(
            Row(
                "B",
                "bare Litestar endpoint, one PostgreSQL insert, 1 process",
                f"{b:,.0f} req/s, p99 {get('B', 'p99 ms'):.0f} ms{_cpu(f['B'], 'req')}",
                "—",
                None,
                "—",
                None,
            )
        )
    if c is not None:
        rows.append(
            Row(
                "C",
                "load generator → fake provider, raw",
                f"{c:,.0f} req/s, p99 {get('C', 'p99 ms'):.0f} ms",
                "—",
                None,
                "—",
                None,
            )
        )
    if "G1" in f:
        rate, p99 = f["G1"]["req/s"], f["G1"]["p99 ms"]
        rows.append(
            Row(
                "G1",
                f"single POST /v1/notifications, {plan.connections} connections",
                f"{rate:,.0f} req/s, p50 {f['G1']['p50 ms']:.0f} ms, p99 {p99:.0f} ms{_cpu(f['G1'], 'req')}",
                f"B {b:,.0f} req/s" if b else "—",
                rate / b if b else None,
                "≥ 3,000 req/s, p99 ≤ 30 ms, ≥ 60 % of B",
                rate >= 3000 and p99 <= 30 and (b is None or rate >= 0.6 * b),
            )
        )
    ingest_runs = {
        "G2": f"batch API, {plan.batch_size} per request, {plan.batch_connections} connections",
        **{
            f"G2 replicas {size}": f"the same, {size} per request, on {plan.replicas} API processes "
            "(replicas) that the connections are spread over"
            for size in plan.replica_batch_sizes
        },
    }
    for name, scenario in ingest_runs.items():
        if name in f:
            rate, p99 = f[name]["notifications/s"], f[name]["p99 ms"]
            rows.append(
                Row(
                    "G2",
                    scenario,
                    f"{rate:,.0f} notifications/s, p99 {p99:.0f} ms{_cpu(f[name], 'notification')}",
                    f"B {b:,.0f} req/s" if b else "—",
                    rate / b if b else None,
                    "≥ 15,000/s, p99 ≤ 150 ms",
                    rate >= 15000 and p99 <= 150,
                )
            )
    for delay in (0, 20):
        if f"G3 {delay}" in f:
            rate = f[f"G3 {delay}"]["deliveries/s"]
            rows.append(
                Row(
                    "G3",
                    f"end to end (API → worker → fake provider → status), provider {delay} ms",
                    f"{rate:,.0f} deliveries/s{_cpu(f[f'G3 {delay}'], 'delivery')}",
                    f"A {a:,.0f} msg/s" if a else "—",
                    rate / a if a else None,
                    "≥ 1,500/s, ≥ 40 % of A",
                    rate >= 1500 and (a is None or rate >= 0.4 * a),
                )
            )
    if "G3c" in f:
        rate, uncapped = f["G3c"]["deliveries/s"], f.get("G3 0", {}).get("deliveries/s")
        rows.append(
            Row(
                "G3c",
                "G3's load, provider 0 ms, to a category with a frequency cap no run reaches "
                "(`capped`, bench/config.yaml): each delivery takes its slot, a parcel's together",
                f"{rate:,.0f} deliveries/s{_cpu(f['G3c'], 'delivery')}",
                f"G3 at 0 ms {uncapped:,.0f}/s" if uncapped else "—",
                rate / uncapped if uncapped else None,
                "none of its own (G3's: ≥ 1,500/s)",
                None,
            )
        )
    if "G4" in f:
        g4 = f["G4"]
        drop = g4["bulk drop"]
        rows.append(
            Row(
                "G4",
                "high-priority probes (20/s, own worker) while bulk drains",
                f"busy p50 {g4['busy p50 ms']:.0f} ms, p99 {g4['busy p99 ms']:.0f} ms; idle p99 "
                f"{g4['idle p99 ms']:.0f} ms; bulk {g4['bulk alone/s']:,.0f}/s alone (before and after), "
                f"{g4['bulk with probes/s']:,.0f}/s with probes ({drop:.0%} drop, median of the runs' own); "
                f"{g4['late probes']:.0f} probes not there 2 s after",
                "—",
                None,
                "bulk ≥ 800/s; p50 ≤ 50 ms, p99 ≤ 200 ms; drop ≤ 10 %; idle p99 ≤ 150 ms",
                g4["bulk alone/s"] >= 800
                and g4["busy p50 ms"] <= 50
                and g4["busy p99 ms"] <= 200
                and drop <= 0.10
                and g4["idle p99 ms"] <= 150,
            )
        )
    if "G5" in f:
        g5 = f["G5"]
        whole = g5["planned"] >= plan.audience
        rows.append(
            Row(
                "G5",
                f"fan-out of a {plan.audience:,}-recipient campaign (one run)",
                f"{g5['planned']:,.0f} planned in {g5['seconds']:.0f} s ({g5['recipients/s']:,.0f}/s"
                + ("" if whole else f", stopped at {plan.fanout_limit_s:.0f} s")
                + f"); Redis +{g5['redis MB']:.1f} MB ({g5['redis bytes/recipient']:.0f} B/recipient)",
                "—",
                None,
                "≤ 60 s, Redis ≤ 150 MB",
                whole and g5["seconds"] <= 60 and g5["redis MB"] <= 150,
            )
        )
    if "G6" in f:
        g6 = f["G6"]
        rows.append(
            Row(
                "G6",
                f"soak: G3's load for {plan.soak_s / 60:g} min, RSS sampled (one run)",
                f"API {g6['api rss MB']:.0f} MB ({g6['api growth %']:+.1f} %), worker "
                f"{g6['worker rss MB']:.0f} MB ({g6['worker growth %']:+.1f} %) at the end; "
                f"{g6['deliveries/s']:,.0f} deliveries/s meanwhile",
                "—",
                None,
                "API ≤ 100 MB, worker ≤ 150 MB, growth < 5 %",
                g6["api rss MB"] <= 100
                and g6["worker rss MB"] <= 150
                and g6["api growth %"] < 5
                and g6["worker growth %"] < 5,
            )
        )
    if "G7 e2e" in f:
        rate = f["G7 e2e"]["deliveries/s"]
        rows.append(
            Row(
                "G7",
                "embedded (SQLite, in-process workers), end to end, provider 0 ms",
                f"{rate:,.0f} deliveries/s{_cpu(f['G7 e2e'], 'delivery')}",
                f"A {a:,.0f} msg/s" if a else "—",
                rate / a if a else None,
                "≥ 1,000/s",
                rate >= 1000,
            )
        )
        batch = f["G7 batch"]["notifications/s"]
        rows.append(
            Row(
                "G7",
                f"embedded batch ingest, {plan.batch_size} per request (workers running)",
                f"{batch:,.0f} notifications/s, p99 {f['G7 batch']['p99 ms']:.0f} ms",
                f"B {b:,.0f} req/s" if b else "—",
                None,
                "≥ 10,000/s",
                batch >= 10000,
            )
        )
    return rows


def _cpu(figures: dict[str, float], per: str) -> str:
    """CPU ms per unit by process: what a noisy machine's wall clock cannot hide."""
    spent = [(key.split()[0], value) for key, value in figures.items() if key.endswith("cpu ms")]
    return "; CPU per " + per + ": " + ", ".join(f"{name} {ms:.2f} ms" for name, ms in spent) if spent else ""


def _memory_notes(f: dict[str, dict[str, float]]) -> list[str]:
    notes = []
    if "API" in f:
        notes.append(
            f"RSS at the end (G6, not a soak): scaled API {f['API']['rss MB']:.0f} MB"
            + "".join(
                f"; worker after G3 {d} ms {f[f'G3 {d}']['worker rss MB']:.0f} MB"
                for d in (0, 20)
                if f"G3 {d}" in f
            )
        )
    if "G5" in f:
        notes.append(f"fan-out worker RSS at the end of G5: {f['G5']['worker rss MB']:.0f} MB")
    if "G7 e2e" in f:
        notes.append(f"embedded `clarion serve` RSS at the end: {f['G7 e2e']['rss MB']:.0f} MB")
    return notes
