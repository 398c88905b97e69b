"""The outbox's entry points besides the rules: alerts raised by the pipeline itself (polling behind,
delivery failures), and forced re-sends. Plain library code over the warehouse (no Dagster, no Slack)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..warehouse import Warehouse, naive_utc, utcnow


@dataclass(frozen=True)
class NewAlert:
    alert_id: str
    rule: str
    entity: str
    entity_wid: str | None
    entity_id: str | None
    details: dict[str, Any]
    channels: Sequence[str]
    subscription: str | None = None
    mention: str | None = None
    run_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    company_id: str | None = None
    supplier_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def enqueue(warehouse: Warehouse, alerts: Sequence[NewAlert]) -> int:
    """Record alerts and their pending deliveries in one transaction; idempotent (an alert id or a
    delivery already there is left as it is). Returns how many deliveries were newly queued."""
    if not alerts:
        return 0
    now = utcnow()
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            before = int(con.execute("SELECT count(*) FROM alerts.deliveries").fetchall()[0][0])
            for alert in alerts:
                con.execute(
                    "INSERT INTO alerts.alerts (alert_id, rule, entity, entity_wid, entity_id, company_id, "
                    "supplier_id, window_start, window_end, details, created_at, run_id) "
                    "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS "
                    "(SELECT 1 FROM alerts.alerts WHERE alert_id = ?)",
                    [alert.alert_id, alert.rule, alert.entity, alert.entity_wid, alert.entity_id, alert.company_id,
                     alert.supplier_id, naive_utc(alert.window_start) if alert.window_start else None,
                     naive_utc(alert.window_end) if alert.window_end else None, json.dumps(alert.details),
                     now, alert.run_id, alert.alert_id],
                ).fetchall()
                for channel in dict.fromkeys(alert.channels):
                    con.execute(
                        "INSERT INTO alerts.deliveries (alert_id, channel, subscription, mention, status, created_at) "
                        "SELECT ?, ?, ?, ?, 'pending', ? WHERE NOT EXISTS "
                        "(SELECT 1 FROM alerts.deliveries WHERE alert_id = ? AND channel = ?)",
                        [alert.alert_id, channel, alert.subscription, alert.mention, now, alert.alert_id, channel],
                    ).fetchall()
            added = int(con.execute("SELECT count(*) FROM alerts.deliveries").fetchall()[0][0]) - before
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return added


def resend(warehouse: Warehouse, day: date) -> int:
    """Make every delivered (or failed) delivery of `day`'s alerts pending again, so the next delivery
    posts it anew as a top-level message. The earlier post (channel, ts, ...) moves to
    alerts.delivery_history; the generation goes up, so reconciliation never mistakes the old message
    for the new one. Pending and in-flight deliveries are left alone. Returns how many were re-queued."""
    start = datetime(day.year, day.month, day.day)
    end = start + timedelta(days=1)
    selected = ("FROM alerts.deliveries d JOIN alerts.alerts a USING (alert_id) "
                "WHERE d.status IN ('sent', 'failed') AND coalesce(a.window_start, a.created_at) >= ? "
                "AND coalesce(a.window_start, a.created_at) < ?")
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "INSERT INTO alerts.delivery_history (alert_id, channel, generation, status, slack_channel_id, "
                "slack_ts, thread_ts, sent_at, last_error, replaced_at) SELECT d.alert_id, d.channel, d.generation, "
                f"d.status, d.slack_channel_id, d.slack_ts, d.thread_ts, d.sent_at, d.last_error, ? {selected}",
                [utcnow(), start, end],
            ).fetchall()
            rows = con.execute(
                "UPDATE alerts.deliveries SET status = 'pending', generation = coalesce(generation, 0) + 1, "
                "forced = true, slack_channel_id = NULL, slack_ts = NULL, thread_ts = NULL, reply_to = NULL, "
                "digest_id = NULL, posted_as = NULL, sent_at = NULL, last_error = NULL, claimed_by = NULL, "
                "claimed_at = NULL, shown_state = NULL, updated_at = NULL WHERE (alert_id, channel) IN "
                f"(SELECT d.alert_id, d.channel {selected}) RETURNING alert_id",
                [start, end],
            ).fetchall()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return len(rows)
