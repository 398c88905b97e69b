"""Snapshot diffs: what changed in a window, field by field, against each record's previous snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..warehouse import Warehouse, naive_utc
from ..workday.entities import Entity


@dataclass
class DiffResult:
    new: int
    changed_fields: int
    by_field: dict[str, int]


def diff_sql(entity: Entity) -> str:
    """New records, and every tracked field whose value differs from the record's previous snapshot
    (the latest earlier window holding it). Reads only the window's records and their own history."""
    record_id = entity.fields[0].name
    current = f"SELECT * FROM raw.{entity.table} WHERE window_start = $window_start"
    previous = (f"SELECT p.* FROM raw.{entity.table} p SEMI JOIN ({current}) c ON c.wid = p.wid "
                "WHERE p.window_start < $window_start "
                "QUALIFY row_number() OVER (PARTITION BY p.wid ORDER BY p.window_start DESC) = 1")
    branches = [f"SELECT c.wid, c.{record_id} AS record_id, 'new' AS kind, NULL AS field, NULL AS before, "
                "NULL AS after FROM cur c ANTI JOIN prev p ON p.wid = c.wid"]
    for name in entity.tracked:
        branches.append(
            f"SELECT c.wid, c.{record_id}, 'changed', '{name}', CAST(p.{name} AS VARCHAR), CAST(c.{name} AS VARCHAR) "
            f"FROM cur c JOIN prev p ON p.wid = c.wid WHERE p.{name} IS DISTINCT FROM c.{name}"
        )
    return f"WITH cur AS ({current}), prev AS ({previous}) " + " UNION ALL ".join(branches)


def diff_window(warehouse: Warehouse, entity: Entity, window_start: datetime) -> DiffResult:
    """Replace the window's rows in diffs.changes (idempotent, one transaction)."""
    start = naive_utc(window_start)
    with warehouse.connect() as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM diffs.changes WHERE entity = ? AND window_start = ?",
                        [entity.name, start]).fetchall()
            con.execute(
                f"INSERT INTO diffs.changes SELECT '{entity.name}', $window_start, * FROM ({diff_sql(entity)})",
                {"window_start": start},
            ).fetchall()
            rows = con.execute(
                "SELECT kind, field, count(*) FROM diffs.changes WHERE entity = ? AND window_start = ? GROUP BY ALL",
                [entity.name, start],
            ).fetchall()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    by_field = {str(field): int(count) for kind, field, count in rows if kind == "changed"}
    new = sum(int(count) for kind, _, count in rows if kind == "new")
    return DiffResult(new=new, changed_fields=sum(by_field.values()), by_field=by_field)
