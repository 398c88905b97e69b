"""bench/backfill: a month's backfill of every workday/* asset, driven as an operator's backfill runs.

    .venv/bin/python bench/backfill.py                    # 30 days at scale 1, baseline from 24 windows
    .venv/bin/python bench/backfill.py --days 2 --scale 0.1 --sample 4   # quicker

What runs: the seven `workday/*` assets (four transactional entities in hourly windows, three reference
entities in daily ones) over `--days` days ending at the sandbox's last business day, as the backfill
policy cuts them: ranged runs of at most 168 partitions (a run holds the four transactional assets,
or the three reference ones, as Dagster's asset backfill groups assets of one partitioning). Each run
goes through `JobDefinition.execute_in_process` (the in-process executor: one process, steps one
after the other, as the `duckdb_write` pool of one slot would order them anyway) against a real
DagsterInstance whose run and event storage is PostgreSQL (a fresh database on 127.0.0.1:5432;
SQLite when no server answers, and the report says so).

The Workday sandbox runs in a child process, as a remote tenant would: it does not share this
process's interpreter lock. With `mlc_dagster.sandbox.timeline` available the sandbox serves a
Timeline (distinct data every business day); without it, one Scenario day, the last, and the other
windows are empty.

Baseline: the same partitions, one run each (what a backfill without a policy does), estimated from
`--sample` consecutive hourly windows and 2 daily ones, times the partition counts.

Breakdown: time inside the Workday client and the stage files (on the assets' fetch threads,
overlapped), inside `Warehouse.replace_window`, the checks and stage cleanup (on the step's thread),
and the rest of the wall time (Dagster: run and step start, events and logs written to the instance,
one materialization event per partition; and waiting for fetches).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import postgres_reachable, publish, scratch_database  # noqa: E402

PG_SERVER = os.environ.get("MLC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
DEFAULT_LAST_DAY = date(2026, 11, 27)  # a Friday: the month before it has 22 business days


# -- the Workday sandbox, in a process of its own -------------------------------------------------

def _serve(conn: Any, seed: int, scale: float, first_day: str, days: int) -> None:
    from mlc_dagster.sandbox.workday import WorkdaySandbox

    source, kind = make_source(seed, scale, date.fromisoformat(first_day), days)
    with WorkdaySandbox(source) as sandbox:  # type: ignore[arg-type]
        conn.send({"soap_url": sandbox.soap_url, "username": sandbox.username, "password": sandbox.password,
                   "tenant": sandbox.tenant, "source": kind})
        conn.recv()  # until the parent says stop (or goes away)


def make_source(seed: int, scale: float, first_day: date, days: int) -> tuple[Any, str]:
    """A Timeline of `days` business days when the sandbox has one, else the last day's Scenario."""
    try:
        from mlc_dagster.sandbox.timeline import Timeline  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        from mlc_dagster.sandbox.scenario import Scenario

        last = first_day + timedelta(days=days - 1)
        return Scenario.generate(seed=seed, scale=scale, day=last), f"Scenario of {last} only"
    return Timeline.generate(seed=seed, scale=scale, first_day=first_day, days=days), \
        f"Timeline {first_day} + {days} days"


@contextlib.contextmanager
def workday_process(seed: int, scale: float, first_day: date, days: int) -> Iterator[dict[str, str]]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(child, seed, scale, first_day.isoformat(), days), daemon=True)
    process.start()
    try:
        if not parent.poll(900):
            raise RuntimeError("the Workday sandbox did not start within 15 minutes")
        yield parent.recv()
    finally:
        with contextlib.suppress(OSError):
            parent.send("stop")
        process.join(10)
        if process.is_alive():
            process.terminate()
            process.join(5)


# -- a Dagster instance on PostgreSQL -------------------------------------------------------------

@contextlib.contextmanager
def dagster_instance(storage: str = "postgres") -> Iterator[tuple[Any, str, str | None]]:
    """A fresh DagsterInstance: PostgreSQL run/event storage in a new database (dropped after), or SQLite.
    Yields the instance, what it stores in, and the database's URL (None for SQLite)."""
    import dagster as dg

    if storage != "postgres" or not postgres_reachable(PG_SERVER):
        with dg.instance_for_test() as instance:
            yield instance, "SQLite (temporary DAGSTER_HOME)", None
        return
    with scratch_database(PG_SERVER, "mlc_bench") as url, \
            dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": url}},
                                            "telemetry": {"enabled": False}}) as instance:
        yield instance, "PostgreSQL (127.0.0.1:5432)", url


# -- the definitions the runs execute ----------------------------------------------------------------

def bench_definitions(workday: dict[str, str], duckdb_path: Path, subscriptions: Path) -> Any:
    import dagster as dg

    from mlc_dagster import definitions
    from mlc_dagster.defs.resources import (
        SlackBotResource,
        SubscriptionsResource,
        WarehouseResource,
        WorkdayResource,
    )

    jobs = [
        dg.define_asset_job("bench_transactional", selection=dg.AssetSelection.assets(*definitions.TRANSACTIONAL_KEYS)),
        dg.define_asset_job("bench_reference", selection=dg.AssetSelection.assets(*definitions.REFERENCE_KEYS)),
        dg.define_asset_job("bench_downstream", selection=dg.AssetSelection.groups("diffs", "alerts")
                            & dg.AssetSelection.assets(*definitions.TRANSACTIONAL_KEYS).downstream()),
        *(definitions.defs.jobs or []),
    ]
    return dg.Definitions(
        assets=definitions.defs.assets,
        jobs=jobs,
        schedules=definitions.defs.schedules,
        sensors=definitions.defs.sensors,
        resources={
            "workday": WorkdayResource(soap_url=workday["soap_url"], username=workday["username"],
                                       password=workday["password"], tenant=workday["tenant"]),
            "warehouse": WarehouseResource(path=str(duckdb_path)),
            "subscriptions": SubscriptionsResource(path=str(subscriptions)),
            "slack": SlackBotResource(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/"),
        },
    )


SUBSCRIPTIONS = """subscriptions:
  - {rule: high_value_invoice, channel: "#finance-alerts", min_amount: 100000}
  - {rule: overdue_payment, channel: "#ap-overdue", min_days_overdue: 1}
  - {rule: payment_run, channel: "#approvals"}
  - {rule: gl_discrepancy, channel: "#reconciliation"}
  - {rule: duplicate_invoice, channel: "#ap-duplicates"}
  - {rule: invoice_status_change, channel: "#approvals"}
"""


def run_range(defs: Any, instance: Any, job: str, keys: list[str]) -> float:
    """One ranged run (one partition when `keys` has one); its wall time. Fails loudly."""
    started = time.perf_counter()
    job_def = defs.resolve_job_def(job)
    if len(keys) == 1:
        result = job_def.execute_in_process(instance=instance, partition_key=keys[0], run_config=RUN_CONFIG)
    else:
        result = job_def.execute_in_process(instance=instance, run_config=RUN_CONFIG, tags={
            "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})
    if not result.success:
        raise RuntimeError(f"{job} {keys[0]}..{keys[-1]} failed")
    return time.perf_counter() - started


def chunks(keys: list[str], size: int) -> list[list[str]]:
    return [keys[i:i + size] for i in range(0, len(keys), size)]


class PhaseTimer:
    """Time spent inside a few library calls while it is installed (bench instrumentation only).

    Fetching runs on the asset's fetch threads, overlapped with the loads on the step's own thread:
    those phases are summed per thread, and only the main thread's are taken out of the wall time to
    leave "the rest"."""

    TARGETS = (
        ("fetch: Workday client, HTTP + parse + page staging", "mlc_dagster.workday.soap", "WorkdaySoapClient",
         "fetch_window", False),
        ("fetch: stage files closed (WindowStage.finish)", "mlc_dagster.warehouse.staging", "WindowStage", "finish",
         False),
        ("load: Warehouse.replace_window", "mlc_dagster.warehouse", "Warehouse", "replace_window", True),
        ("load: data-quality checks", "mlc_dagster.warehouse", "Warehouse", "check", True),
        ("load: stage deleted", "mlc_dagster.warehouse.staging", "WindowStage", "close", True),
    )

    def __init__(self) -> None:
        import threading

        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.main_thread: set[str] = {label for label, *_, main in self.TARGETS if main}
        self._local = threading.local()
        self._saved: list[tuple[Any, str, Callable[..., Any]]] = []

    def __enter__(self) -> PhaseTimer:
        import importlib

        for label, module, cls_name, method, _ in self.TARGETS:
            cls = getattr(importlib.import_module(module), cls_name)
            original = getattr(cls, method)
            self._saved.append((cls, method, original))
            setattr(cls, method, self._wrap(label, original))
        return self

    def _wrap(self, label: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth = getattr(self._local, "depth", 0)
            if depth:  # nested (replace_window finishes the stage): count the outer call only
                return original(*args, **kwargs)
            self._local.depth = 1
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1
                self._local.depth = 0
        return timed

    def __exit__(self, *exc: object) -> None:
        for cls, method, original in reversed(self._saved):
            setattr(cls, method, original)


def partition_keys(last_day: date, days: int) -> tuple[list[str], list[str]]:
    import dagster as dg

    from mlc_dagster.defs.partitions import REFERENCE, TRANSACTIONAL

    first = datetime.combine(last_day - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    window = dg.TimeWindow(first, datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=UTC))
    return (list(TRANSACTIONAL.get_partition_keys_in_time_window(window)),
            list(REFERENCE.get_partition_keys_in_time_window(window)))


def measure(days: int = 30, scale: float = 1.0, sample: int = 24, per_run: int = 168, seed: int = 5,
            last_day: date = DEFAULT_LAST_DAY, storage: str = "postgres", downstream: bool = True,
            log: Callable[[str], None] = print, downstream_windows: int = 24) -> dict[str, Any]:
    hourly, daily = partition_keys(last_day, days)
    first_day = last_day - timedelta(days=days - 1)
    folder = Path(tempfile.mkdtemp(prefix="mlc-bench-backfill-"))
    subscriptions = folder / "subscriptions.yaml"
    subscriptions.write_text(SUBSCRIPTIONS)
    out: dict[str, Any] = {"days": days, "scale": scale, "hourly_partitions": len(hourly),
                           "daily_partitions": len(daily), "per_run": per_run}
    started = time.perf_counter()
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, folder, ignore_errors=True)
        return _measure(out, folder, subscriptions, hourly, daily, seed, scale, first_day, days, sample, per_run,
                        storage, downstream_windows if downstream else 0, started, log)


def _measure(out: dict[str, Any], folder: Path, subscriptions: Path, hourly: list[str], daily: list[str], seed: int,
             scale: float, first_day: date, days: int, sample: int, per_run: int, storage: str, downstream: int,
             started: float, log: Callable[[str], None]) -> dict[str, Any]:
    with workday_process(seed, scale, first_day, days) as workday, dagster_instance(storage) as (instance, kind, _):
        out["sandbox"] = workday["source"]
        out["instance"] = kind
        log(f"sandbox ready in {time.perf_counter() - started:.0f}s ({workday['source']}); instance {kind}")

        # Baseline first, on its own warehouse: one run per partition for a sample.
        defs = bench_definitions(workday, folder / "baseline.duckdb", subscriptions)
        run_range(defs, instance, "bench_reference", [daily[0]])  # warm: imports, schema, first connections
        sample_keys = hourly[-sample:]  # the last day: the one with data even without a Timeline
        per_hour = [run_range(defs, instance, "bench_transactional", [key]) for key in sample_keys]
        per_day = [run_range(defs, instance, "bench_reference", [key]) for key in daily[-2:]]
        out["baseline_run_seconds_hourly"] = statistics.mean(per_hour)
        out["baseline_run_seconds_daily"] = statistics.mean(per_day)
        out["baseline_seconds"] = statistics.mean(per_hour) * len(hourly) + statistics.mean(per_day) * len(daily)
        out["baseline_runs"] = len(hourly) + len(daily)
        log(f"baseline: {out['baseline_run_seconds_hourly']:.2f}s per hourly run, "
            f"{out['baseline_run_seconds_daily']:.2f}s per daily run -> {out['baseline_seconds']:.0f}s estimated")

        # The backfill: ranged runs of <= per_run partitions, on a fresh warehouse.
        db = folder / "backfill.duckdb"
        defs = bench_definitions(workday, db, subscriptions)
        runs: list[dict[str, Any]] = []
        with PhaseTimer() as phases:
            backfill_started = time.perf_counter()
            for job, keys in [("bench_reference", daily), ("bench_transactional", hourly)]:
                for chunk in chunks(keys, per_run):
                    seconds = run_range(defs, instance, job, chunk)
                    runs.append({"job": job, "first": chunk[0], "last": chunk[-1], "partitions": len(chunk),
                                 "seconds": seconds})
                    log(f"  {job} {chunk[0]}..{chunk[-1]} ({len(chunk)}): {seconds:.1f}s")
            out["backfill_seconds"] = time.perf_counter() - backfill_started
        out["runs"] = runs
        accounted = sum(v for k, v in phases.seconds.items() if k in phases.main_thread)
        out["breakdown"] = {**{k: round(v, 2) for k, v in phases.seconds.items()},
                            "the rest, on the step's thread: Dagster (runs, steps, events, one materialization per "
                            "partition) and waiting for fetches": round(out["backfill_seconds"] - accounted, 2)}
        out["breakdown_calls"] = dict(phases.calls)
        out["ratio"] = out["baseline_seconds"] / out["backfill_seconds"]
        import duckdb

        with duckdb.connect(str(db), read_only=True) as con:
            out["records"] = dict(con.execute(
                "SELECT entity, sum(records) FROM meta.windows GROUP BY 1 ORDER BY 1").fetchall())
            out["windows_loaded"] = con.execute("SELECT count(*) FROM meta.windows").fetchall()[0][0]
        out["materializations"] = sum(
            len(instance.get_materialized_partitions(key)) for key in
            [*_keys("TRANSACTIONAL_KEYS"), *_keys("REFERENCE_KEYS")])
        log(f"backfill: {out['backfill_seconds']:.1f}s in {len(runs)} runs; {out['windows_loaded']} windows loaded")

        if downstream:
            # The diffs and alerts of the last `downstream` of the same windows, in one ranged run (reported
            # apart; the whole range is estimated from it).
            keys = hourly[-min(downstream, per_run):]
            down_started = time.perf_counter()
            run_range(defs, instance, "bench_downstream", keys)
            out["downstream_windows"] = len(keys)
            out["downstream_seconds"] = time.perf_counter() - down_started
            out["downstream_estimate_seconds"] = out["downstream_seconds"] * len(hourly) / len(keys)
            log(f"diffs + alerts of {len(keys)} hourly windows: {out['downstream_seconds']:.1f}s")
    return out


def _keys(name: str) -> list[Any]:
    from mlc_dagster import definitions

    return list(getattr(definitions, name))


def markdown(r: dict[str, Any]) -> str:
    lines = [
        f"{r['days']} day{'s' if r['days'] != 1 else ''} at scale {r['scale']}: {r['hourly_partitions']} hourly "
        "partitions x 4 transactional "
        f"entities + {r['daily_partitions']} daily x 3 reference entities; sandbox: {r['sandbox']}; "
        f"instance: {r['instance']}; in-process executor.",
        "",
        "| | value |", "|---|---|",
        f"| backfill, ranged runs of <= {r['per_run']} partitions ({len(r['runs'])} runs) | "
        f"**{r['backfill_seconds']:.1f} s** |",
        f"| one run per partition ({r['baseline_runs']} runs; {r['baseline_run_seconds_hourly']:.2f} s per hourly "
        f"run, {r['baseline_run_seconds_daily']:.2f} s per daily run, sampled) | {r['baseline_seconds']:.0f} s |",
        f"| ratio | {r['ratio']:.1f}x |",
        f"| windows loaded / materializations recorded | {r['windows_loaded']} / {r['materializations']} |",
        f"| records loaded | {', '.join(f'{k} {v:,}' for k, v in r['records'].items())} |",
    ]
    if "downstream_seconds" in r:
        lines.append(f"| not in the backfill: diffs + alerts (10 assets) of the last {r['downstream_windows']} hourly "
                     f"windows, one ranged run | {r['downstream_seconds']:.1f} s (all {r['hourly_partitions']}: "
                     f"~{r['downstream_estimate_seconds']:.0f} s) |")
    lines += ["", "Where the time went (fetch phases run on the asset's fetch threads, overlapped with the loads "
              "and the rest, so the rows add up to more than the wall time):", "",
              "| phase | s | calls |", "|---|---|---|"]
    for label, seconds in r["breakdown"].items():
        lines.append(f"| {label} | {seconds:.1f} | {r['breakdown_calls'].get(label, '')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--sample", type=int, default=24)
    parser.add_argument("--per-run", type=int, default=168)
    parser.add_argument("--storage", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--no-downstream", action="store_true")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    result = measure(args.days, args.scale, args.sample, args.per_run, storage=args.storage,
                     downstream=not args.no_downstream)
    publish("backfill", markdown(result), result, args.json)


if __name__ == "__main__":
    main()
