"""Alert rules (one SQL file each under `sql/rules/`), routing by subscription, stable alert ids.

A plain library over the warehouse: nothing here knows about Dagster or Slack.

Every rule's SQL reads the windows [$window_first, $window_last] (window starts, inclusive) and returns
alert candidates with the columns: alert_key (the rule's identity of the condition), entity,
entity_wid, entity_id, company_id, supplier_id, currency, amount, level, details (JSON), and optionally
company_ids (a list, for alerts spanning companies).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from ..warehouse import Warehouse, naive_utc, sql_dir, utcnow
from .subscriptions import Subscription, Subscriptions


def _no_params(subs: list[Subscription]) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Rule:
    name: str
    entity: str  # the Workday entity whose windows drive the rule (its partitions)
    description: str
    reads: tuple[str, ...] = ()  # other assets it reads, e.g. "workday/payments", "diffs/supplier_invoices"
    params: Callable[[list[Subscription]], dict[str, Any]] = _no_params

    def sql(self) -> str:
        path = sql_dir() / "rules" / f"{self.name}.sql"
        try:
            return path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"rule {self.name}: SQL file {path} is missing") from None


def _min_amount(subs: list[Subscription]) -> dict[str, Any]:
    values = [s.min_amount for s in subs if s.min_amount is not None]
    values += [amount for s in subs for _, amount in s.min_amount_by_currency]
    return {"min_amount": min(values) if values else Decimal(0)}


def _min_days(subs: list[Subscription]) -> dict[str, Any]:
    return {"min_days": min((s.min_days_overdue if s.min_days_overdue is not None else 1) for s in subs)}


def _intercompany_accounts(subs: list[Subscription]) -> dict[str, Any]:
    return {"intercompany_accounts": sorted({a for s in subs for a in s.intercompany_accounts})}


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("high_value_invoice", "supplier_invoices",
             "Supplier invoices at or above a subscription's min_amount, in their own currency.",
             params=_min_amount),
        Rule("overdue_payment", "supplier_invoices",
             "Invoices past their due date by min_days_overdue and not fully paid (invoice payment status "
             "and completed payments' remittances).", reads=("workday/payments",), params=_min_days),
        Rule("duplicate_invoice", "supplier_invoices",
             "Two invoices of one supplier with the same number, or the same amount and invoice date."),
        Rule("invoice_status_change", "supplier_invoices",
             "Invoices approved or put on hold since their previous snapshot.",
             reads=("diffs/supplier_invoices",)),
        Rule("payment_run", "payments",
             "One summary per completed settlement run: payments, totals per company and currency, "
             "largest payees."),
        Rule("gl_discrepancy", "journal_entries",
             "Journals whose debits and credits differ, whose header totals differ from their lines, that "
             "post to retired or unknown accounts, or whose intercompany lines do not net to zero.",
             reads=("workday/ledger_accounts",), params=_intercompany_accounts),
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


def window_params(window_first: datetime, window_last: datetime) -> dict[str, Any]:
    """The parameters every rule may use, for the windows starting in [first, last]."""
    first, last = naive_utc(window_first), naive_utc(window_last)
    # A rule that depends on the calendar (overdue) sweeps once a day, in the day's first window.
    day_starts = {first.date() + timedelta(days=n) for n in range((last.date() - first.date()).days + 1)}
    sweep = any(first <= datetime.combine(d, datetime.min.time()) <= last for d in day_starts)
    return {"window_first": first, "window_last": last, "as_of_date": last.date(), "sweep": sweep}


def run_rule(con: duckdb.DuckDBPyConnection, rule: Rule, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule's candidates as dicts. Only the parameters the SQL names are bound."""
    sql = rule.sql()
    bound = {k: v for k, v in params.items() if f"${k}" in sql}
    cursor = con.execute(sql, bound)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def route(row: dict[str, Any], subs: list[Subscription]) -> list[Subscription]:
    return [s for s in subs if s.matches(row)]


def detect_window(warehouse: Warehouse, rule_name: str, window_start: datetime, window_end: datetime,
                  subscriptions: Subscriptions, run_id: str | None = None) -> Detection:
    """Run one rule over one window and record its alerts and their pending deliveries.

    Idempotent: the same window gives the same alert ids, and an alert already recorded (or a delivery
    already queued or sent) is left as it is, so a replay only queues what was never queued. An
    existing alert that newly matches a subscription (e.g. more days overdue) gains that delivery.
    """
    rule = RULES[rule_name]
    result = Detection(rule=rule_name)
    subs = subscriptions.for_rule(rule_name)
    if not subs:
        return result
    params = {**window_params(window_start, window_start), **rule.params(subs)}

    alerts: dict[str, list[Any]] = {k: [] for k in (
        "alert_id", "rule", "entity", "entity_wid", "entity_id", "company_id", "supplier_id", "details")}
    deliveries: dict[str, list[Any]] = {k: [] for k in ("alert_id", "channel", "subscription", "mention")}
    with warehouse.connect() as con:
        for row in run_rule(con, rule, params):
            result.candidates += 1
            matched = route(row, subs)
            if not matched:
                result.unrouted += 1
                continue
            ident = alert_id(rule_name, str(row["alert_key"]))
            result.alerts += 1
            for column in ("entity", "entity_wid", "entity_id", "company_id", "supplier_id", "details"):
                alerts[column].append(None if row.get(column) is None else str(row[column]))
            alerts["alert_id"].append(ident)
            alerts["rule"].append(rule_name)
            channels: list[str] = []
            for sub in matched:
                if sub.channel in channels:  # one message per channel even if two subscriptions match
                    continue
                channels.append(sub.channel)
                deliveries["alert_id"].append(ident)
                deliveries["channel"].append(sub.channel)
                deliveries["subscription"].append(sub.label)
                deliveries["mention"].append(sub.mention)
                result.by_channel[sub.channel] = result.by_channel.get(sub.channel, 0) + 1
            details = json.loads(str(row.get("details") or "{}"))
            amount = details.get("outstanding") or details.get("amount") or ""
            result.raised.append({
                "alert": ident, "entity": str(row.get("entity_id")),
                "amount": f"{amount} {details.get('currency') or ''}".strip(),
                "supplier": str(details.get("supplier_name") or details.get("finding") or ""),
                "channels": ", ".join(channels),
            })
        _record(con, alerts, deliveries, window_start, window_end, run_id, result)
    return result


def _record(con: duckdb.DuckDBPyConnection, alerts: dict[str, list[Any]], deliveries: dict[str, list[Any]],
            window_start: datetime, window_end: datetime, run_id: str | None, result: Detection) -> None:
    now = utcnow()
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("new_alerts", pa.table({k: pa.array(v, type=pa.string()) for k, v in alerts.items()}))
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
        con.register("new_deliveries",
                     pa.table({k: pa.array(v, type=pa.string()) for k, v in deliveries.items()}))
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


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])
