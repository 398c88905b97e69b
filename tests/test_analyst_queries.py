"""The example analyst queries in sql/analyst/ run on a real warehouse built from the sandbox."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mlc_dagster.sandbox.workday import WorkdaySandbox

from .pipeline import defs_with, poll, resources

ANALYST = Path(__file__).resolve().parents[1] / "sql" / "analyst"


@pytest.mark.parametrize("name", sorted(p.name for p in ANALYST.glob("*.sql")))
def test_example_query_runs(name: str, workday: WorkdaySandbox, tmp_path: Path, subscriptions_file: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    defs = defs_with(resources(workday, None, db, subscriptions_file))
    with dg.instance_for_test() as instance:
        poll(defs, instance, "2026-11-29-11:00")
    with duckdb.connect(str(db), read_only=True) as con:
        for statement in (ANALYST / name).read_text().split(";"):
            if statement.strip():
                con.execute(statement).fetchall()
