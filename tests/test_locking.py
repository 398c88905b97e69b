"""Another process holding the DuckDB file delays a window's load; it never fails it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb

from mlc_dagster.warehouse import Warehouse

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE IF NOT EXISTS held (x INTEGER)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def test_a_writer_waits_for_another_process_lock(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    Warehouse(path).query("SELECT 1")  # create the schema first
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path), "2.5"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    try:
        rows = Warehouse(path).query("SELECT count(*) FROM meta.windows")
    finally:
        holder.wait(timeout=30)
    waited = time.monotonic() - started
    assert rows == [(0,)]
    assert waited >= 1.0, "the lock was really held"
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM held").fetchall() == [(0,)]
