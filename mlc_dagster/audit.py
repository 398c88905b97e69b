"""`mlc-dagster audit`: poll cycles and Slack messages, read back from the Dagster run history.

Run history is the audit trail: every poll is a run whose materializations carry the window, the
records retrieved, the API calls and retries; every delivery is a run whose materialization lists the
messages posted (channel, ts, alert). Nothing here reads the warehouse.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg

POLL_PREFIX = "workday/"


@dataclass
class PollRecord:
    run_id: str
    run_status: str
    started: str
    asset: str
    partitions: str
    window_start: str
    window_end: str
    windows: int
    records: int
    api_calls: int
    retries: int


@dataclass
class MessageRecord:
    run_id: str
    started: str
    alert_id: str
    channel: str
    channel_id: str
    ts: str


@dataclass
class Audit:
    polls: list[PollRecord] = field(default_factory=list)
    messages: list[MessageRecord] = field(default_factory=list)
    failed_runs: list[dict[str, str]] = field(default_factory=list)


def _value(metadata: dict[str, Any], key: str, default: Any = "") -> Any:
    entry = metadata.get(key)
    return getattr(entry, "value", entry) if entry is not None else default


def read_audit(instance: dg.DagsterInstance, since: datetime) -> Audit:
    audit = Audit()
    runs = instance.get_runs(filters=dg.RunsFilter(created_after=since))
    for run in sorted(runs, key=lambda r: r.run_id):
        record = instance.get_run_record_by_id(run.run_id)
        started = ""
        if record is not None and record.start_time:
            started = datetime.fromtimestamp(record.start_time).astimezone().isoformat(timespec="seconds")
        if run.status == dg.DagsterRunStatus.FAILURE:
            audit.failed_runs.append({"run_id": run.run_id, "job": run.job_name, "started": started})
        events = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records
        for event in events:
            materialization = event.asset_materialization
            if materialization is None:
                continue
            key = materialization.asset_key.to_user_string()
            metadata = dict(materialization.metadata)
            if key.startswith(POLL_PREFIX):
                audit.polls.append(PollRecord(
                    run_id=run.run_id, run_status=run.status.value, started=started, asset=key,
                    partitions=materialization.partition or "", window_start=str(_value(metadata, "window_start")),
                    window_end=str(_value(metadata, "window_end")), windows=int(_value(metadata, "windows", 0)),
                    records=int(_value(metadata, "records", 0)), api_calls=int(_value(metadata, "api_calls", 0)),
                    retries=int(_value(metadata, "retries", 0))))
            elif key == "slack/alert_deliveries":
                posted = metadata.get("posted")
                rows = getattr(getattr(posted, "value", None), "records", None) or []
                for row in rows:
                    data = row.data
                    audit.messages.append(MessageRecord(
                        run_id=run.run_id, started=started, alert_id=str(data.get("alert_id")),
                        channel=str(data.get("channel")), channel_id=str(data.get("channel_id")),
                        ts=str(data.get("ts"))))
    # A ranged run records one materialization per partition with the same figures: count it once.
    seen: set[tuple[str, str]] = set()
    unique = []
    for poll in audit.polls:
        if (poll.run_id, poll.asset) not in seen:
            seen.add((poll.run_id, poll.asset))
            unique.append(poll)
    audit.polls = unique
    return audit


def render(audit: Audit, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"polls": [asdict(p) for p in audit.polls],
                           "messages": [asdict(m) for m in audit.messages],
                           "failed_runs": audit.failed_runs}, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["kind", "run_id", "started", "asset_or_channel", "window_start", "window_end", "records",
                         "api_calls", "retries", "alert_id", "ts"])
        for p in audit.polls:
            writer.writerow(["poll", p.run_id, p.started, p.asset, p.window_start, p.window_end, p.records,
                             p.api_calls, p.retries, "", ""])
        for m in audit.messages:
            writer.writerow(["message", m.run_id, m.started, m.channel, "", "", "", "", "", m.alert_id, m.ts])
        return out.getvalue()
    lines = [f"{'started':25} {'asset':28} {'window':37} {'records':>8} {'calls':>6} {'retries':>7}"]
    for p in audit.polls:
        lines.append(f"{p.started:25} {p.asset:28} {p.window_start + '..' + p.window_end:37} {p.records:>8} "
                     f"{p.api_calls:>6} {p.retries:>7}")
    lines.append("")
    lines.append(f"{len(audit.messages)} Slack messages posted")
    for m in audit.messages:
        lines.append(f"{m.started:25} {m.channel:20} ts={m.ts:20} {m.alert_id}")
    if audit.failed_runs:
        lines.append("")
        lines.append(f"{len(audit.failed_runs)} failed runs: " + ", ".join(r["run_id"] for r in audit.failed_runs))
    return "\n".join(lines)
