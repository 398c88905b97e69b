"""bench/latency: from the end of a window to its alert in Slack, with the default schedule and sensor.

    .venv/bin/python bench/latency.py                 # 5 windows through a real dagster-daemon
    .venv/bin/python bench/latency.py --samples 1     # quicker

The chain with the shipped settings: a window ends at T; the schedule `workday_transactional_schedule`
(cron at each window's end; the scheduler daemon wakes at the start of every minute) submits the poll
run for that window; the queued run coordinator's daemon launches it (dequeue every 5 s) as a run
worker process with the multiprocess executor (the `duckdb_write` pool of one slot orders the
steps); workday/* then diffs/* and alerts/* materialize; sensor `alerts_to_slack` (minimum interval
30 s, the sensor daemon's loop every 5 s) sees the alert materializations and requests
`slack_delivery`; that run is queued, launched and posts; the message lands in the Slack sandbox.

Measured for real: a `dagster-daemon run` on the repository's `dagster.yaml` (its storage pointed at a
fresh PostgreSQL database), the code location from `workspace.yaml` with its environment pointed at
the Workday and Slack sandboxes, the sensors as they ship. For each sampled window the poll run is
submitted to the instance's queue the way the schedule's tick submits it (`dagster job launch`, with the
partition tag); the daemon does everything after that. Recorded per window: queued -> last alerts/*
materialization (the poll stage), that -> the delivery run being queued (the sensor's wait, at the
phase it happened to be in), queued -> first message in the Slack sandbox (the delivery stage).

Modelled: the schedule's own delay, window end -> run queued: uniform over [0, 1) s (the scheduler
wakes at each minute's start and the cron fires on the minute) plus the tick's evaluation, measured
once here with `dagster schedule` style evaluation cost folded into the same constant (< 1 s). And, to
get a distribution from a few windows, the composed figure draws each stage from the measured ones
and the sensor's wait uniformly over its interval plus the daemon loop ([0, 30 + 5) s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import publish  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

from backfill import dagster_instance, make_source  # noqa: E402

SENSOR_INTERVAL = 30.0  # alerts_to_slack minimum_interval_seconds (checked against the definitions below)
SENSOR_LOOP = 5.0  # dagster's sensor daemon loop (MIN_INTERVAL_LOOP_TIME)
SCHEDULER_DELAY = 1.0  # the scheduler daemon wakes at the start of each minute
DAY = date(2026, 11, 27)
SUBSCRIPTIONS = """subscriptions:
  - {name: high-value-invoices, rule: high_value_invoice, channel: "#finance-alerts", min_amount: 25000}
"""


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    low, high = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def defaults() -> dict[str, Any]:
    """The shipped intervals, read from the definitions (so the model cannot drift from them)."""
    from mlc_dagster.definitions import defs

    sensor = defs.resolve_sensor_def("alerts_to_slack")
    schedule = defs.resolve_schedule_def("workday_transactional_schedule")
    return {"sensor_interval": float(sensor.minimum_interval_seconds or 0), "schedule_cron": schedule.cron_schedule,
            "poll_executor": defs.resolve_job_def("workday_transactional_poll").executor_def.name,
            "delivery_executor": defs.resolve_job_def("slack_delivery").executor_def.name}


@contextlib.contextmanager
def daemon(home: Path, env: dict[str, str], log_file: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_file.open("wb") as out:
        process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                                   cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        # The daemon, its code server and any run worker it launched are in the session it leads.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        # Code servers and run workers started for this instance (by the daemon or `dagster job launch`)
        # can outlive their parent for a while: end every process whose command line or environment
        # names this run's folder, and wait for them to go.
        mine = processes_naming(str(home.parent))
        for pid in mine:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while mine and time.monotonic() < deadline:
            time.sleep(0.2)
            mine = [pid for pid in mine if Path(f"/proc/{pid}").exists()]


def processes_naming(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                needle = text.encode()
                if needle in (entry / "cmdline").read_bytes() or needle in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
    return found


def instance_yaml(postgres_url: str | None) -> str:
    """The repository's production dagster.yaml, its storage pointed at this run's database."""
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    if postgres_url:
        config["storage"] = {"postgres": {"postgres_url": postgres_url}}
    else:
        config.pop("storage", None)
    return yaml.safe_dump(config)


def wait_for(what: str, probe: Callable[[], Any], timeout: float, every: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(every)
    raise TimeoutError(f"{what}: nothing after {timeout:.0f}s")


def windows_with_alerts(source: Any, day: date, count: int, min_amount: int) -> list[str]:
    """Hourly partition keys of `day` whose changed invoices include one at or above `min_amount`."""
    scenario = source.scenario_on(day) if hasattr(source, "scenario_on") else source
    found = []
    for hour in range(6, 24):
        start = scenario.day_start + timedelta(hours=hour)
        changed = scenario.invoices_changed_between(start, start + timedelta(hours=1))
        if any(v.gross_invoice_amount >= min_amount for v in changed):
            found.append(start.strftime("%Y-%m-%d-%H:00"))
    random.Random(1).shuffle(found)
    return sorted(found[:count])


def one_window(key: str, instance: Any, slack: Any, env: dict[str, str], folder: Path,
               jitter: float) -> dict[str, Any]:
    """Submit the poll run of `key` as the schedule would, and time it until its alert is in Slack."""
    import dagster as dg
    from dagster._core.storage.dagster_run import DagsterRunStatus, RunsFilter

    # Start from quiet: no run of an earlier window still going (its delivery may still be posting).
    wait_for("earlier runs to finish", lambda: not instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                             DagsterRunStatus.STARTED]), limit=1), 600, every=0.5)
    time.sleep(jitter)  # then any phase of the sensor's cycle
    before = len(slack.messages("#finance-alerts"))
    subprocess.run([str(ROOT / ".venv" / "bin" / "dagster"), "job", "launch", "-w", "workspace.yaml",
                    "-j", "workday_transactional_poll", "--tags", json.dumps({"dagster/partition": key})],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=300)
    runs = RunsFilter(job_name="workday_transactional_poll", tags={"dagster/partition": key})
    run_id = wait_for("poll run", lambda: instance.get_run_records(runs, limit=1), 60)[0].dagster_run.run_id

    def finished() -> Any:
        found = instance.get_run_record_by_id(run_id)
        return found if found is not None and found.dagster_run.is_finished else None

    record = wait_for("poll run to finish", finished, 900, every=0.5)
    if record.dagster_run.status != DagsterRunStatus.SUCCESS:
        raise RuntimeError(f"poll run for {key} ended {record.dagster_run.status}; see {folder}/daemon.log")
    queued = record.create_timestamp.timestamp()

    def landed() -> list[dict[str, Any]]:
        return [m for m in slack.messages("#finance-alerts")[before:] if m["received_at"] >= queued]

    first = wait_for("alert in Slack", landed, 300, every=0.2)[0]
    events = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
    # The rule whose alerts are measured: the sensor may fire before the run's other rules are done.
    alerts_done = max(e.event_log_entry.timestamp for e in events
                      if e.event_log_entry.dagster_event.asset_key == dg.AssetKey(["alerts", "high_value_invoice"]))
    # The delivery run that posted it: the newest one the sensor queued before the message landed. (It
    # may have been requested on another rule's materialization of the same poll run: the outbox rows
    # are committed before the asset's materialization is recorded.)
    deliveries = [r for r in instance.get_run_records(RunsFilter(job_name="slack_delivery"))
                  if r.dagster_run.tags.get("mlc/trigger") == "alerts"
                  and r.create_timestamp.timestamp() <= first["received_at"]]
    delivery = max(deliveries, key=lambda r: r.create_timestamp)
    return {
        "window": key,
        "poll_queued_to_alert": alerts_done - queued,
        "poll_queued_to_started": (record.start_time - queued) if record.start_time else 0.0,
        "sensor_wait": delivery.create_timestamp.timestamp() - alerts_done,
        "delivery_queued_to_message": first["received_at"] - delivery.create_timestamp.timestamp(),
        "queued_to_message": first["received_at"] - queued,
    }


def measure(samples: int = 5, scale: float = 1.0, seed: int = 5, log: Callable[[str], None] = print,
            draws: int = 20000) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="mlc-bench-latency-"))
    try:
        return _measure(folder, samples, scale, seed, log, draws)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, samples: int, scale: float, seed: int, log: Callable[[str], None],
             draws: int) -> dict[str, Any]:
    from mlc_dagster.sandbox.slack import SlackSandbox
    from mlc_dagster.sandbox.workday import WorkdaySandbox

    shipped = defaults()
    (folder / "subscriptions.yaml").write_text(SUBSCRIPTIONS)
    source, kind = make_source(seed, scale, DAY, 1)
    keys = windows_with_alerts(source, DAY, samples, 25000)
    out: dict[str, Any] = {"samples": [], "sandbox": kind, "scale": scale, **shipped}
    with WorkdaySandbox(source) as workday, SlackSandbox() as slack, \
            dagster_instance("postgres") as (instance, storage, url):
        out["instance"] = storage
        home = folder / "dagster_home"
        home.mkdir()
        (home / "dagster.yaml").write_text(instance_yaml(url))
        env = {**os.environ, **workday.settings(rest=False), **slack.settings(), "DAGSTER_HOME": str(home),
               "MLC_DUCKDB_PATH": str(folder / "mlc.duckdb"), "MLC_SUBSCRIPTIONS": str(folder / "subscriptions.yaml"),
               "MLC_CREDENTIALS_PATH": str(folder / "credentials.enc"), "DAGSTER_CLI_API_GRPC_LOG_LEVEL": "error"}
        env.pop("MLC_OPS_CHANNEL", None)
        with daemon(home, env, folder / "daemon.log"):
            wait_for("daemon heartbeat", lambda: instance.get_daemon_heartbeats(), 120, every=1)
            for key in keys:
                sample = one_window(key, instance, slack, env, folder, random.uniform(0, shipped["sensor_interval"]))
                out["samples"].append(sample)
                log(f"  {key}: " + ", ".join(f"{k} {v:.1f}" for k, v in sample.items() if isinstance(v, float)))
    rng = random.Random(7)
    s = out["samples"]
    real = [x["queued_to_message"] + rng.uniform(0, SCHEDULER_DELAY) for x in s]
    composed = [
        rng.uniform(0, SCHEDULER_DELAY) + rng.choice(s)["poll_queued_to_alert"]
        + rng.uniform(0, shipped["sensor_interval"] + SENSOR_LOOP) + rng.choice(s)["delivery_queued_to_message"]
        for _ in range(draws)
    ]
    out["end_to_end_measured"] = real
    out["p50"] = percentile(composed, 50)
    out["p95"] = percentile(composed, 95)
    out["measured_p50"] = statistics.median(real)
    out["measured_max"] = max(real)
    return out


def markdown(r: dict[str, Any]) -> str:
    def med(name: str) -> float:
        return statistics.median(x[name] for x in r["samples"])

    lines = [
        f"Real `dagster-daemon` on the repository's dagster.yaml ({r['instance']}); executors: poll "
        f"{r.get('poll_executor', '?')}, delivery {r.get('delivery_executor', '?')}; "
        f"schedule cron `{r['schedule_cron']}`, sensor interval {r['sensor_interval']:.0f} s; sandbox: "
        f"{r['sandbox']} at scale {r['scale']}; {len(r['samples'])} windows.",
        "",
        "| stage | median s | how |", "|---|---|---|",
        f"| window end -> poll run queued | 0.5 | modelled: uniform [0, {SCHEDULER_DELAY:.0f}) s |",
        f"| poll run queued -> alerts/high_value_invoice materialized | {med('poll_queued_to_alert'):.1f} | measured "
        f"(of which queued -> started {med('poll_queued_to_started'):.1f}) |",
        f"| -> delivery run queued (sensor) | {med('sensor_wait'):.1f} | measured (negative: requested on an "
        f"earlier rule's materialization); composed as uniform [0, {r['sensor_interval'] + SENSOR_LOOP:.0f}) s |",
        f"| delivery run queued -> message in Slack | {med('delivery_queued_to_message'):.1f} | measured |",
        f"| **end to end, composed** | p50 **{r['p50']:.0f} s**, p95 **{r['p95']:.0f} s** | |",
        f"| end to end, the measured windows | median {r['measured_p50']:.0f} s, max {r['measured_max']:.0f} s | |",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()
    result = measure(args.samples, args.scale)
    publish("latency", markdown(result), result, args.json)


if __name__ == "__main__":
    main()
