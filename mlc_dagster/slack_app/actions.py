"""What people did from Slack, in the warehouse: acknowledgements and snoozes, and `/mlc status`.

Table `alerts.acknowledgements` (made here, not in the warehouse DDL): one row per button press,
kept as history; a press Slack delivers twice is stored once (its action_ts is part of the key).
Workday is never written: an acknowledgement is the team's note, not a Workday transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..warehouse import Warehouse, utcnow
from ..workday.entities import ENTITIES

ACKNOWLEDGEMENTS_DDL = """
CREATE SCHEMA IF NOT EXISTS alerts;
CREATE TABLE IF NOT EXISTS alerts.acknowledgements (
    alert_id VARCHAR NOT NULL,
    action VARCHAR NOT NULL,          -- acknowledged | snoozed
    user_id VARCHAR NOT NULL,         -- Slack user ID
    user_name VARCHAR,
    slack_channel_id VARCHAR,
    slack_ts VARCHAR,                 -- the alert message
    action_ts VARCHAR NOT NULL,       -- Slack's id of this press
    acted_at TIMESTAMP NOT NULL,      -- UTC
    snoozed_until TIMESTAMP,          -- UTC, for a snooze
    PRIMARY KEY (alert_id, user_id, action_ts)
);
"""


@dataclass(frozen=True)
class Action:
    alert_id: str
    action: str
    user_id: str
    user_name: str
    channel_id: str
    message_ts: str
    action_ts: str
    acted_at: datetime
    snoozed_until: datetime | None


class AlertActions:
    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self._ready = False

    def _connect(self) -> Any:
        return self.warehouse.connect()

    def _ensure(self, con: Any) -> None:
        if not self._ready:
            con.execute(ACKNOWLEDGEMENTS_DDL)
            self._ready = True

    def alert_exists(self, alert_id: str) -> bool:
        with self._connect() as con:
            self._ensure(con)
            return bool(con.execute("SELECT count(*) FROM alerts.alerts WHERE alert_id = ?",
                                    [alert_id]).fetchall()[0][0])

    def record(self, alert_id: str, action: str, *, user_id: str, user_name: str, channel_id: str,
               message_ts: str, action_ts: str, snooze: timedelta | None = None) -> Action:
        if action not in ("acknowledged", "snoozed"):
            raise ValueError(f"unknown action {action!r}")
        now = utcnow()
        until = now + snooze if action == "snoozed" and snooze else None
        with self._connect() as con:
            self._ensure(con)
            con.execute("INSERT OR IGNORE INTO alerts.acknowledgements VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [alert_id, action, user_id, user_name, channel_id, message_ts, action_ts, now, until])
            row = con.execute(
                "SELECT acted_at, snoozed_until FROM alerts.acknowledgements "
                "WHERE alert_id = ? AND user_id = ? AND action_ts = ?", [alert_id, user_id, action_ts]).fetchall()
        acted_at, snoozed_until = row[0]
        return Action(alert_id, action, user_id, user_name, channel_id, message_ts, action_ts, acted_at, snoozed_until)

    def history(self, alert_id: str) -> list[tuple[Any, ...]]:
        with self._connect() as con:
            self._ensure(con)
            return con.execute(
                "SELECT action, user_id, slack_channel_id, slack_ts, acted_at, snoozed_until "
                "FROM alerts.acknowledgements WHERE alert_id = ? ORDER BY acted_at, action_ts", [alert_id]).fetchall()

    def status_text(self, now: datetime | None = None) -> str:
        """`/mlc status`: each entity's freshness and the alerts still needing someone (mrkdwn)."""
        now = now or utcnow()
        with self._connect() as con:
            self._ensure(con)
            fresh = {row[0]: row[1:] for row in con.execute(
                "SELECT entity, max(window_end), max(loaded_at) FROM meta.windows GROUP BY entity").fetchall()}
            deliveries = dict(con.execute(
                "SELECT status, count(*) FROM alerts.deliveries GROUP BY status").fetchall())
            open_alerts, snoozed = con.execute(
                "WITH sent AS (SELECT DISTINCT alert_id FROM alerts.deliveries WHERE status = 'sent'), "
                "acked AS (SELECT DISTINCT alert_id FROM alerts.acknowledgements WHERE action = 'acknowledged'), "
                "sleeping AS (SELECT DISTINCT alert_id FROM alerts.acknowledgements "
                "             WHERE action = 'snoozed' AND snoozed_until > ?) "
                "SELECT count(*) FILTER (WHERE alert_id NOT IN (SELECT alert_id FROM acked)), "
                "       count(*) FILTER (WHERE alert_id NOT IN (SELECT alert_id FROM acked) "
                "                        AND alert_id IN (SELECT alert_id FROM sleeping)) FROM sent",
                [now]).fetchall()[0]
        lines = ["*Freshness* (newest window loaded, UTC)"]
        for name in ENTITIES:
            if name in fresh:
                through, loaded = fresh[name]
                lag = _age(now - loaded)
                lines.append(f"• `{name}`: through {through:%Y-%m-%d %H:%M}, loaded {lag} ago")
            else:
                lines.append(f"• `{name}`: never polled")
        waiting = int(deliveries.get("pending", 0)) + int(deliveries.get("sending", 0))
        lines.append("*Alerts*")
        lines.append(f"• {waiting} waiting to be posted"
                     + (f", {int(deliveries['failed'])} failed to post" if deliveries.get("failed") else ""))
        lines.append(f"• {int(open_alerts or 0)} posted and not acknowledged"
                     + (f" ({int(snoozed)} snoozed)" if snoozed else ""))
        return "\n".join(lines)


def _age(delta: timedelta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
