"""Alert rules (one SQL file each under `sql/rules/`), routing by subscription, stable alert ids.

A plain library over the warehouse: nothing here knows about Dagster or Slack.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from ..warehouse import Warehouse, naive_utc, utcnow
from .subscriptions import Subscriptions


def sql_dir() -> Path:
    """`sql/` beside the package in a checkout; MLC_SQL_DIR overrides it for other layouts."""
    override = os.environ.get("MLC_SQL_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "sql"


@dataclass(frozen=True)
class Rule:
    name: str
    entity: str  # the Workday entity whose windows the rule reads
    description: str

    def sql(self) -> str:
        path = sql_dir() / "rules" / f"{self.name}.sql"
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"rule {self.name}: SQL file {path} is missing") from None


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("high_value_invoice", "supplier_invoices",
             "Supplier invoices at or above a subscription's min_amount, in their own currency."),
    )
}


def alert_id(rule: str, alert_key: str) -> str:
    digest = hashlib.sha256(f"{rule}\x1f{alert_key}".encode()).hexdigest()[:20]
    return f"{rule}:{digest}"


@dataclass
class Detection:
    rule: str
    candidates: int = 0
    alerts: int = 0
    new_alerts: int = 0
    new_deliveries: int = 0
    unrouted: int = 0
    by_channel: dict[str, int] = field(default_factory=dict)
    raised: list[dict[str, str]] = field(default_factory=list)


def detect_window(warehouse: Warehouse, rule_name: str, window_start: datetime, window_end: datetime,
                  subscriptions: Subscriptions, run_id: str | None = None) -> Detection:
    """Run one rule over one window and record its alerts and their pending deliveries.

    Idempotent: the same window gives the same alert ids, and an alert already recorded (or a delivery
    already queued or sent) is left as it is, so a replay only queues what was never queued.
    """
    rule = RULES[rule_name]
    result = Detection(rule=rule_name)
    subs = subscriptions.for_rule(rule_name)
    if not subs:
        return result
    threshold = subscriptions.min_threshold(rule_name)
    params: dict[str, object] = {"window_start": naive_utc(window_start)}
    if "$min_amount" in rule.sql():
        params["min_amount"] = threshold if threshold is not None else Decimal(0)

    alerts: dict[str, list[object]] = {k: [] for k in (
        "alert_id", "rule", "entity", "entity_wid", "entity_id", "company_id", "supplier_id", "details")}
    deliveries: dict[str, list[object]] = {k: [] for k in ("alert_id", "channel", "subscription", "mention")}
    with warehouse.connect() as con:
        cursor = con.execute(rule.sql(), params)
        names = [d[0] for d in cursor.description or []]
        for values in cursor.fetchall():
            row = dict(zip(names, values, strict=True))
            result.candidates += 1
            matched = [s for s in subs if s.matches(row.get("company_id"), row.get("supplier_id"),
                                                      row.get("amount"), row.get("currency"))]
            if not matched:
                result.unrouted += 1
                continue
            ident = alert_id(rule_name, str(row["alert_key"]))
            result.alerts += 1
            for column in ("entity", "entity_wid", "entity_id", "company_id", "supplier_id", "details"):
                alerts[column].append(row.get(column))
            alerts["alert_id"].append(ident)
            alerts["rule"].append(rule_name)
            details = json.loads(str(row.get("details") or "{}"))
            channels = []
            for sub in matched:
                if sub.channel in channels:  # one message per channel even if two subscriptions match
                    continue
                channels.append(sub.channel)
                deliveries["alert_id"].append(ident)
                deliveries["channel"].append(sub.channel)
                deliveries["subscription"].append(sub.label)
                deliveries["mention"].append(sub.mention)
                result.by_channel[sub.channel] = result.by_channel.get(sub.channel, 0) + 1
            result.raised.append({
                "alert": ident, "entity": str(row.get("entity_id")),
                "amount": f"{details.get('amount', '')} {details.get('currency', '')}".strip(),
                "supplier": str(details.get("supplier_name") or ""), "channels": ", ".join(channels),
            })

        now = utcnow()
        con.execute("BEGIN TRANSACTION")
        try:
            con.register("new_alerts", pa.table(alerts))
            before = _count(con, "alerts.alerts")
            con.execute(
                "INSERT INTO alerts.alerts (alert_id, rule, entity, entity_wid, entity_id, company_id, "
                "supplier_id, window_start, window_end, details, created_at, run_id) "
                "SELECT DISTINCT ON (alert_id) alert_id, rule, entity, entity_wid, entity_id, company_id, "
                "supplier_id, ?, ?, details, ?, ? FROM new_alerts "
                "WHERE alert_id NOT IN (SELECT alert_id FROM alerts.alerts)",
                [naive_utc(window_start), naive_utc(window_end), now, run_id],
            ).fetchall()
            result.new_alerts = _count(con, "alerts.alerts") - before
            con.register("new_deliveries", pa.table(deliveries))
            before = _count(con, "alerts.deliveries")
            con.execute(
                "INSERT INTO alerts.deliveries (alert_id, channel, subscription, mention, status, created_at) "
                "SELECT DISTINCT ON (n.alert_id, n.channel) n.alert_id, n.channel, n.subscription, n.mention, "
                "'pending', ? FROM new_deliveries n ANTI JOIN alerts.deliveries d "
                "ON d.alert_id = n.alert_id AND d.channel = n.channel",
                [now],
            ).fetchall()
            result.new_deliveries = _count(con, "alerts.deliveries") - before
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return result


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
