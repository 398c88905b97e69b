"""The DuckDB warehouse: raw window history, analyst views, alerts and the Slack outbox.

A plain library (no Dagster). Every entity's tables and views derive from the entity registry.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..workday.entities import ENTITIES, Entity, Field
from ..workday.parse import ColumnBuffer

WINDOW_COLUMNS = "window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, as_of TIMESTAMP NOT NULL"
LOCK_WAIT_SECONDS = 120.0

ALERT_TABLES = """
CREATE TABLE IF NOT EXISTS alerts.alerts (
    alert_id VARCHAR PRIMARY KEY,
    rule VARCHAR NOT NULL,
    entity VARCHAR NOT NULL,
    entity_wid VARCHAR,
    entity_id VARCHAR,
    company_id VARCHAR,
    supplier_id VARCHAR,
    window_start TIMESTAMP,
    window_end TIMESTAMP,
    details JSON,
    created_at TIMESTAMP NOT NULL,
    run_id VARCHAR                    -- the Dagster run that raised it
);
CREATE TABLE IF NOT EXISTS alerts.deliveries (
    alert_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    subscription VARCHAR,
    mention VARCHAR,
    status VARCHAR NOT NULL,          -- pending -> sending -> sent | failed
    slack_channel_id VARCHAR,
    slack_ts VARCHAR,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error VARCHAR,
    claimed_by VARCHAR,
    claimed_at TIMESTAMP,
    sent_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE TABLE IF NOT EXISTS meta.windows (
    entity VARCHAR NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    as_of TIMESTAMP NOT NULL,
    records INTEGER NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    run_id VARCHAR,
    PRIMARY KEY (entity, window_start)
);
CREATE OR REPLACE VIEW analytics.alerts AS
SELECT a.alert_id, a.rule, d.channel, a.entity_id, a.created_at, d.status, d.slack_ts,
       a.entity, a.company_id, a.supplier_id, a.window_start, d.slack_channel_id, d.sent_at, d.last_error
FROM alerts.alerts a JOIN alerts.deliveries d USING (alert_id);
"""


def utcnow() -> datetime:
    """Naive UTC, the warehouse's TIMESTAMP convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _arrow_type(sql_type: str) -> pa.DataType:
    if sql_type.startswith("DECIMAL"):
        precision, scale = sql_type[len("DECIMAL("):-1].split(",")
        return pa.decimal128(int(precision), int(scale))
    return {
        "VARCHAR": pa.string(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
        "BOOLEAN": pa.bool_(),
        "INTEGER": pa.int32(),
    }[sql_type]


def _columns_ddl(fields: tuple[Field, ...]) -> str:
    return ", ".join(f"{spec.name} {spec.type}" for spec in fields)


@dataclass
class WindowLoad:
    records: int
    lines: int


class Warehouse:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._ready = False

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits out another process's lock instead of failing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        delay = 0.05
        while True:
            try:
                connection = duckdb.connect(str(self.path), read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)
        try:
            if not read_only and not self._ready:
                self._create_schema(connection)
                self._ready = True
            yield connection
        finally:
            connection.close()

    def _create_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        for schema in ("raw", "meta", "alerts", "analytics"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for entity in ENTITIES.values():
            con.execute(
                f"CREATE TABLE IF NOT EXISTS raw.{entity.table} ({WINDOW_COLUMNS}, wid VARCHAR NOT NULL, "
                f"{_columns_ddl(entity.fields)})"
            )
            current = (
                f"SELECT * EXCLUDE (window_start, window_end, as_of) FROM raw.{entity.table} "
                "QUALIFY row_number() OVER (PARTITION BY wid ORDER BY window_start DESC, updated_at DESC) = 1"
            )
            contract_first = ", ".join(spec.name for spec in entity.fields) + ", wid"
            con.execute(f"CREATE OR REPLACE VIEW analytics.{entity.table} AS SELECT {contract_first} "
                        f"FROM ({current})")
            if entity.lines:
                lines = entity.lines
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS raw.{lines.table} (window_start TIMESTAMP NOT NULL, "
                    f"parent_wid VARCHAR NOT NULL, {_columns_ddl(lines.fields)})"
                )
                # The lines of each record's current version: the window its current row came from.
                con.execute(
                    f"CREATE OR REPLACE VIEW analytics.{lines.table} AS "
                    f"SELECT l.* EXCLUDE (window_start) FROM raw.{lines.table} l JOIN ("
                    f"  SELECT wid, window_start FROM raw.{entity.table} QUALIFY row_number() OVER "
                    f"  (PARTITION BY wid ORDER BY window_start DESC, updated_at DESC) = 1"
                    f") c ON l.parent_wid = c.wid AND l.window_start = c.window_start"
                )
        con.execute(ALERT_TABLES)

    # -- windows ----------------------------------------------------------------------------------

    def replace_window(self, entity: Entity, window_start: datetime, window_end: datetime, as_of: datetime,
                       rows: ColumnBuffer, lines: ColumnBuffer | None, run_id: str | None = None) -> WindowLoad:
        """Delete the window and insert its rows in one transaction: a re-run leaves the same rows,
        and a failure leaves the previous rows of the window untouched."""
        start, end, as_of = naive_utc(window_start), naive_utc(window_end), naive_utc(as_of)
        header = _arrow(rows, entity.fields + (Field("wid", "VARCHAR", ()),))
        with self.connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"DELETE FROM raw.{entity.table} WHERE window_start = ?", [start]).fetchall()
                con.register("incoming_rows", header)
                names = ", ".join(spec.name for spec in entity.fields)
                # A record that moved between pages can arrive twice: keep one per WID.
                con.execute(
                    f"INSERT INTO raw.{entity.table} (window_start, window_end, as_of, wid, {names}) "
                    f"SELECT ?, ?, ?, wid, {names} FROM incoming_rows "
                    "QUALIFY row_number() OVER (PARTITION BY wid ORDER BY updated_at DESC NULLS LAST) = 1",
                    [start, end, as_of],
                ).fetchall()
                con.unregister("incoming_rows")
                line_count = 0
                if entity.lines and lines is not None:
                    line_table = _arrow(lines, entity.lines.fields + (Field("parent_wid", "VARCHAR", ()),))
                    con.execute(f"DELETE FROM raw.{entity.lines.table} WHERE window_start = ?",
                                [start]).fetchall()
                    con.register("incoming_lines", line_table)
                    line_names = ", ".join(spec.name for spec in entity.lines.fields)
                    con.execute(
                        f"INSERT INTO raw.{entity.lines.table} (window_start, parent_wid, {line_names}) "
                        f"SELECT DISTINCT ?, parent_wid, {line_names} FROM incoming_lines",
                        [start],
                    )
                    con.unregister("incoming_lines")
                    line_count = len(line_table)
                # fetchall, not fetchone: duckdb 2 refuses new work while a result is unfinished.
                records = int(con.execute(
                    f"SELECT count(*) FROM raw.{entity.table} WHERE window_start = ?", [start]
                ).fetchall()[0][0])
                con.execute(
                    "INSERT OR REPLACE INTO meta.windows VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [entity.name, start, end, as_of, records, utcnow(), run_id],
                ).fetchall()
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return WindowLoad(records=records, lines=line_count)

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connect() as con:
            return con.execute(sql, params or []).fetchall()


def _arrow(buffer: ColumnBuffer, fields: tuple[Field, ...]) -> pa.Table:
    arrays = []
    for spec in fields:
        arrays.append(pa.array(buffer.columns[spec.name], type=_arrow_type(spec.type)))
    return pa.Table.from_arrays(arrays, names=[spec.name for spec in fields])
