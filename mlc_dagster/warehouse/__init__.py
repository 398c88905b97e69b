"""The DuckDB warehouse: raw window history, analyst views, alerts and the Slack outbox.

A plain library (no Dagster). Every entity's tables and views derive from the entity registry.
"""

from __future__ import annotations

import ctypes
import functools
import os
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ..workday.entities import ENTITIES, Entity, Field
from ..workday.errors import WorkdayDataError
from . import host
from .staging import WindowStage

__all__ = ["Warehouse", "WindowLoad", "WindowStage", "naive_utc", "sql_dir", "utcnow"]

WINDOW_COLUMNS = "window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, as_of TIMESTAMP NOT NULL"
LOCK_WAIT_SECONDS = 120.0
# From this many records a window's load hands freed memory back first (see release_freed_memory).
LARGE_WINDOW_RECORDS = 10_000

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
-- Delivery planning and outcome (issue 5); ALTERs so that existing warehouse files gain the columns.
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS posted_as VARCHAR;   -- message | repeat | follow_up | digest
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS thread_ts VARCHAR;   -- the parent message, for a reply
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS reply_to VARCHAR;    -- the alert whose thread it went to
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS digest_id VARCHAR;   -- alerts.digests, when part of a burst
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS generation INTEGER DEFAULT 0;  -- +1 per forced re-send
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS forced BOOLEAN DEFAULT false;  -- re-send: never threaded
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS shown_state JSON;    -- record state the message shows
ALTER TABLE alerts.deliveries ADD COLUMN IF NOT EXISTS updated_at TIMESTAMP;  -- last chat.update of the message
CREATE TABLE IF NOT EXISTS alerts.digests (
    digest_id VARCHAR PRIMARY KEY,
    channel VARCHAR NOT NULL,
    alert_count INTEGER NOT NULL,
    status VARCHAR NOT NULL,          -- pending -> posted | abandoned
    slack_channel_id VARCHAR,
    slack_ts VARCHAR,
    claimed_by VARCHAR,
    created_at TIMESTAMP NOT NULL,
    posted_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS alerts.delivery_runs (   -- leases: a run's `sending` rows are its own while it beats
    run_id VARCHAR PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    heartbeat_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP
);
CREATE TABLE IF NOT EXISTS alerts.delivery_history (  -- earlier posts of a delivery, kept by a forced re-send
    alert_id VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    generation INTEGER,
    status VARCHAR,
    slack_channel_id VARCHAR,
    slack_ts VARCHAR,
    thread_ts VARCHAR,
    sent_at TIMESTAMP,
    last_error VARCHAR,
    replaced_at TIMESTAMP NOT NULL
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
CREATE TABLE IF NOT EXISTS diffs.changes (
    entity VARCHAR NOT NULL,
    window_start TIMESTAMP NOT NULL,
    wid VARCHAR NOT NULL,
    record_id VARCHAR,
    kind VARCHAR NOT NULL,            -- new | changed
    field VARCHAR,                    -- NULL for a new record
    before VARCHAR,
    after VARCHAR
);
CREATE OR REPLACE VIEW analytics.changes AS SELECT * FROM diffs.changes;
CREATE OR REPLACE VIEW analytics.alerts AS
SELECT a.alert_id, a.rule, d.channel, a.entity_id, a.created_at, d.status, d.slack_ts,
       a.entity, a.company_id, a.supplier_id, a.window_start, d.slack_channel_id, d.sent_at, d.last_error,
       d.posted_as, d.thread_ts, d.digest_id
FROM alerts.alerts a JOIN alerts.deliveries d USING (alert_id);
"""


def sql_dir() -> Path:
    """`sql/` beside the package in a checkout (rules, checks, analyst views); MLC_SQL_DIR overrides it."""
    override = os.environ.get("MLC_SQL_DIR")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "sql"


LOAD_PARAMETERS = frozenset({"window_start", "window_end", "as_of"})


def load_statements(name: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The statements to run for an entity's load SQL, each with the parameters it names: those of
    `sql/load/macros.sql` (the macros load SQL shares), then those of `sql/load/<name>.sql`."""
    return _load_statements(str(sql_dir() / "load"), name)


@functools.cache
def _load_statements(folder: str, name: str) -> tuple[tuple[str, frozenset[str]], ...]:
    statements: list[tuple[str, frozenset[str]]] = []
    for file in (Path(folder) / "macros.sql", Path(folder) / f"{name}.sql"):
        for statement in duckdb.extract_statements(file.read_text(encoding="utf-8")):
            parameters = frozenset(statement.named_parameters)
            unknown = parameters - LOAD_PARAMETERS
            if unknown:
                raise ValueError(f"{file}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                                 f"load SQL is given {', '.join(sorted(LOAD_PARAMETERS))}")
            statements.append((statement.query, parameters))
    return tuple(statements)


def utcnow() -> datetime:
    """Naive UTC, the warehouse's TIMESTAMP convention."""
    return datetime.now(UTC).replace(tzinfo=None)


def naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _columns_ddl(fields: tuple[Field, ...]) -> str:
    return ", ".join(f"{spec.name} {spec.type}" for spec in fields)


@dataclass
class WindowLoad:
    records: int
    lines: int


class Warehouse:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._attach_key = str(self.path.resolve())  # the file's one name for host.attach
        self._ready = False
        self._session = threading.local()

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """One connection for a run of warehouse-only work (a ranged run's windows): the file stays
        attached, so each window does not pay a checkpoint when it would be detached. Not for work that
        waits on the network, since the connection holds the file's lock."""
        with self.connect() as con:
            self._session.connection = con
            try:
                yield con
            finally:
                self._session.connection = None

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection (`host`: the file attached to this process's DuckDB instance, ~2 ms,
        not a new instance, ~16 ms); waits out another process's lock instead of failing."""
        shared = getattr(self._session, "connection", None)
        if shared is not None and not read_only:
            yield shared
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        delay = 0.05
        while True:
            try:
                connection = host.attach(self._attach_key, read_only=read_only)
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
            host.release(self._attach_key, connection)

    def _create_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        for schema in ("raw", "meta", "diffs", "alerts", "analytics"):
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        # An older file's tables gain the columns the registry has added since (inserts name their
        # columns, so one the registry no longer has stays, unfilled).
        existing = set(con.execute(
            "SELECT table_name, column_name FROM duckdb_columns() "
            "WHERE database_name = current_database() AND schema_name = 'raw'").fetchall())

        def add_missing(table: str, fields: tuple[Field, ...]) -> None:
            for spec in fields:
                if (table, spec.name) not in existing:
                    con.execute(f"ALTER TABLE raw.{table} ADD COLUMN IF NOT EXISTS {spec.name} {spec.type}")

        for entity in ENTITIES.values():
            con.execute(
                f"CREATE TABLE IF NOT EXISTS raw.{entity.table} ({WINDOW_COLUMNS}, wid VARCHAR NOT NULL, "
                f"{_columns_ddl(entity.fields)})"
            )
            add_missing(entity.table, entity.fields)
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
                add_missing(lines.table, lines.fields)
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

    def stage(self, entity: Entity) -> WindowStage:
        return WindowStage(self.path.with_name(self.path.name + ".staging"), entity)

    def replace_window(self, entity: Entity, window_start: datetime, window_end: datetime, as_of: datetime,
                       stage: WindowStage, run_id: str | None = None) -> WindowLoad:
        """Delete the window and insert its staged rows in one transaction: a re-run leaves the same
        rows, and a failure (a bad value included) leaves the previous rows of the window untouched.

        Values arrive as text; here they are typed and checked: an amount must be an exact decimal
        with at most four places, dates and times must parse (times are stored in UTC)."""
        start, end, as_of = naive_utc(window_start), naive_utc(window_end), naive_utc(as_of)
        stage.finish()
        if stage.records >= LARGE_WINDOW_RECORDS:
            release_freed_memory()
        with self.connect() as con:
            # `stage_rows` / `stage_lines`: temporary views (this connection's own, never written to the
            # file) over the stage's Parquet files, so the statements below read them like tables.
            # Rows need no order on disk (every reader orders or deduplicates by its own keys); without
            # it DuckDB inserts in parallel and buffers less: ~10% faster, ~25 MB less at 100k invoices.
            con.execute("SET preserve_insertion_order = false")
            try:
                for name in ("rows", "lines") if entity.lines else ("rows",):
                    con.execute(f"CREATE OR REPLACE TEMP VIEW stage_{name} AS SELECT * FROM {stage.relation(name)}")
                try:
                    return self._insert_window(con, entity, start, end, as_of, run_id,
                                               duplicated=stage.duplicated, amounts_missing=stage.amounts_missing > 0)
                except (duckdb.InvalidInputException, duckdb.ConversionException):
                    # A value that is not what its field declares stopped the insert (rolled back): say
                    # which record, field and value. The check scans again, but only on this path.
                    _check_values(con, entity, lines=False)
                    if entity.lines:
                        _check_values(con, entity, lines=True)
                    raise
            finally:
                con.execute("DROP VIEW IF EXISTS temp.main.stage_rows")
                con.execute("DROP VIEW IF EXISTS temp.main.stage_lines")
                con.execute("RESET preserve_insertion_order")

    def _insert_window(self, con: duckdb.DuckDBPyConnection, entity: Entity, start: datetime, end: datetime,
                       as_of: datetime, run_id: str | None, duplicated: bool, amounts_missing: bool) -> WindowLoad:
        """`duplicated`: some record arrived twice, keep its last copy (deduplicating costs memory, so only
        then). `amounts_missing`: some record has no header amount."""
        names = ", ".join(spec.name for spec in entity.fields)
        has_amount = any(spec.name == "amount" for spec in entity.fields)
        sums_lines = bool(entity.lines and has_amount and amounts_missing
                          and any(s.name == "amount" for s in entity.lines.fields))

        def header_value(spec: Field) -> str:
            if spec.name == "amount" and sums_lines:
                # Decision 5: a record without a header amount is worth the sum of its lines.
                return (f"coalesce({_checked(spec, 'r')}, (SELECT sum(CAST(trim(l.amount) AS {spec.type})) "
                        "FROM stage_lines l WHERE l.parent_wid = r.wid))")
            return _checked(spec, "r")

        typed = ", ".join(header_value(spec) for spec in entity.fields)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM raw.{entity.table} WHERE window_start = ?", [start]).fetchall()
            records = int(con.execute(
                f"INSERT INTO raw.{entity.table} (window_start, window_end, as_of, wid, {names}) "
                f"SELECT ?, ?, ?, r.wid, {typed} FROM stage_rows r "
                + ("QUALIFY row_number() OVER (PARTITION BY r.wid ORDER BY r.seq DESC) = 1" if duplicated else ""),
                [start, end, as_of],
            ).fetchall()[0][0])
            line_count = 0
            if entity.lines:
                line_names = ", ".join(spec.name for spec in entity.lines.fields)
                line_typed = ", ".join(_checked(spec, "l") for spec in entity.lines.fields)
                con.execute(f"DELETE FROM raw.{entity.lines.table} WHERE window_start = ?", [start]).fetchall()
                line_count = int(con.execute(
                    f"INSERT INTO raw.{entity.lines.table} (window_start, parent_wid, {line_names}) "
                    f"SELECT {'DISTINCT' if duplicated else ''} ?, l.parent_wid, {line_typed} FROM stage_lines l",
                    [start],
                ).fetchall()[0][0])
            if entity.load_sql:
                # The entity's load SQL fills its derived fields (and what they make resolvable
                # elsewhere): in this transaction, so a failure leaves the window as it was.
                window = {"window_start": start, "window_end": end, "as_of": as_of}
                for statement, parameters in load_statements(entity.load_sql):
                    con.execute(statement, {name: window[name] for name in parameters}).fetchall()
            con.execute(
                "INSERT OR REPLACE INTO meta.windows VALUES (?, ?, ?, ?, ?, ?, ?)",
                [entity.name, start, end, as_of, records, utcnow(), run_id],
            ).fetchall()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return WindowLoad(records=records, lines=line_count)

    @property
    def snapshot_path(self) -> Path:
        """Where analysts read: `<warehouse>.snapshot.duckdb` beside the live file."""
        return self.path.with_name(self.path.stem + ".snapshot.duckdb")

    def publish_snapshot(self) -> Path:
        """Copy the warehouse to a fresh file and swap it in atomically as the analyst snapshot.

        DuckDB lets one process hold a file for writing and a reader blocks writers, so analysts never
        open the live file: they open the snapshot, read-only, for as long as they like. The swap is a
        rename: a connection kept open goes on reading the snapshot it opened; the next one sees the
        new copy. A poll is held up only for the copy itself."""
        target = self.snapshot_path
        scratch = target.with_name(f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with self.connect() as con:
                live = con.execute("SELECT current_database()").fetchall()[0][0]
                con.execute(f"ATTACH '{scratch}' AS snapshot")
                try:
                    con.execute(f'COPY FROM DATABASE "{live}" TO snapshot')
                finally:
                    con.execute("DETACH snapshot")
            os.replace(scratch, target)
        finally:
            for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
                leftover.unlink(missing_ok=True)
        return target

    def check(self, name: str, window_start: datetime) -> list[tuple[Any, ...]]:
        """Run the data-quality check sql/checks/<name>.sql on one window: the rows that fail it."""
        sql = (sql_dir() / "checks" / f"{name}.sql").read_text(encoding="utf-8")
        with self.connect() as con:
            return con.execute(sql, {"window_start": naive_utc(window_start)}).fetchall()

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.connect() as con:
            return con.execute(sql, params or []).fetchall()


_DECIMAL_TEXT = r"[+-]?[0-9]{1,14}(\.[0-9]{0,4}0*)?"  # exact in DECIMAL(18,4): no rounding, no overflow


def release_freed_memory() -> None:
    """Give the memory that reading pages freed back to the OS before a large window's load: Arrow's pool
    and glibc keep freed pages for reuse, which DuckDB (an allocator of its own) never takes, so its load
    peaked on top of them (111k invoices: ~85 MB of them; peak RSS 380-400 MB before, 356-369 after).
    A few milliseconds."""
    pa.default_memory_pool().release_unused()
    if _libc is not None:
        _libc.malloc_trim(0)


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, musl): nothing to trim
        return None


_libc = _glibc()


def _valid(spec: Field, column: str) -> str | None:
    """A SQL condition true when the text in `column` converts exactly to the field's type."""
    value = f"trim({column})"
    if spec.type == "VARCHAR":
        return None
    if spec.type.startswith("DECIMAL"):
        return f"regexp_full_match({value}, '{_DECIMAL_TEXT}')"
    if spec.type == "DATE":
        return f"TRY_CAST(substr({value}, 1, 10) AS DATE) IS NOT NULL"
    if spec.type == "TIMESTAMP":
        return f"TRY_CAST({value} AS TIMESTAMPTZ) IS NOT NULL"
    if spec.type == "BOOLEAN":
        return f"lower({value}) IN ('0', '1', 'true', 'false')"
    if spec.type == "INTEGER":
        return f"regexp_full_match({value}, '[+-]?[0-9]{{1,9}}(\\.0*)?')"
    raise ValueError(f"unsupported column type {spec.type}")


def _typed(spec: Field, alias: str) -> str:
    column = f"{alias}.{spec.name}"
    value = f"trim({column})"
    if spec.type == "VARCHAR":
        return column
    if spec.type.startswith("DECIMAL"):
        return f"CAST({value} AS {spec.type})"
    if spec.type == "DATE":
        # xsd:date may carry an offset ("2026-11-29-08:00"); the calendar date is the first ten chars.
        return f"CAST(substr({value}, 1, 10) AS DATE)"
    if spec.type == "TIMESTAMP":
        return f"CAST(CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"  # the session time zone is UTC
    if spec.type == "BOOLEAN":
        return f"lower({value}) IN ('1', 'true')"
    if spec.type == "INTEGER":
        return f"CAST(CAST({value} AS DECIMAL(18,0)) AS INTEGER)"
    raise ValueError(f"unsupported column type {spec.type}")


def _checked(spec: Field, alias: str) -> str:
    """`_typed`, stopping the statement on a value that would not convert exactly (DuckDB's CAST rounds a
    decimal with more places, and reads any text as a boolean here): `_check_values` then names it."""
    condition = _valid(spec, f"{alias}.{spec.name}")
    if condition is None or spec.type in ("DATE", "TIMESTAMP"):
        return _typed(spec, alias)  # a bad date or time fails the CAST itself
    return (f"CASE WHEN {alias}.{spec.name} IS NULL THEN NULL WHEN {condition} THEN {_typed(spec, alias)} "
            f"ELSE error('invalid {spec.name}') END")


def _check_values(con: duckdb.DuckDBPyConnection, entity: Entity, lines: bool) -> None:
    """Raise a WorkdayDataError naming the record, the field and the value of the first bad value."""
    fields = entity.lines.fields if lines and entity.lines else entity.fields
    checks = [(spec, cond) for spec in fields if (cond := _valid(spec, f"t.{spec.name}"))]
    if not checks:
        return
    which = " ".join(f"WHEN t.{spec.name} IS NOT NULL AND NOT ({cond}) THEN '{spec.name}'" for spec, cond in checks)
    record_id = entity.fields[0].name
    source = ("stage_lines t LEFT JOIN stage_rows r ON r.wid = t.parent_wid" if lines
              else "stage_rows t JOIN stage_rows r ON r.seq = t.seq")
    bad = con.execute(
        f"SELECT * FROM (SELECT r.{record_id} AS record, r.wid AS wid, CASE {which} END AS field FROM {source}) "
        "WHERE field IS NOT NULL LIMIT 1"
    ).fetchall()
    if not bad:
        return
    record, wid, field_name = bad[0]
    value = con.execute(
        f"SELECT t.{field_name} FROM {source} WHERE r.wid IS NOT DISTINCT FROM ? AND NOT "
        f"({_valid(next(s for s in fields if s.name == field_name), 't.' + field_name)}) LIMIT 1", [wid]
    ).fetchall()[0][0]
    spec = next(s for s in fields if s.name == field_name)
    shown = value if len(value) <= 60 else value[:57] + "..."
    what = "an exact amount with at most 4 decimal places" if spec.type.startswith("DECIMAL") else spec.type
    raise WorkdayDataError(
        f"{entity.operation} {'line of record' if lines else 'record'} {record} (WID {wid}): field "
        f"{field_name} ({spec.sources[0] if spec.sources else 'derived'}) has value {shown!r}, expected {what}"
    )
