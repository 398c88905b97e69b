"""Staging a window's pages on disk while they arrive."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import duckdb
import pyarrow as pa

from ..workday.entities import Entity
from ..workday.parse import ColumnBuffer, header_names, line_names


class WindowStage:
    """A window's pages, staged on disk as they arrive, so memory follows one page, not the window.

    A separate DuckDB file per poll: staging never takes the warehouse's write lock, and the final
    replacement reads it in one transaction. Deleted when closed.
    """

    def __init__(self, folder: Path, entity: Entity) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.entity = entity
        self.path = folder / f"{entity.name}-{os.getpid()}-{uuid.uuid4().hex[:12]}.duckdb"
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(str(self.path))
        self._con.execute("SET memory_limit = '16MB'")
        self._con.execute("SET threads = 1")
        columns = ", ".join(f"{name} VARCHAR" for name in header_names(entity))
        self._con.execute(f"CREATE TABLE rows (seq BIGINT, {columns})")
        if entity.lines:
            line_columns = ", ".join(f"{name} VARCHAR" for name in line_names(entity))
            self._con.execute(f"CREATE TABLE lines ({line_columns})")
        self._seq = 0
        self.records = 0

    def add_page(self, rows: ColumnBuffer, lines: ColumnBuffer | None) -> None:
        assert self._con is not None, "stage already finished"
        count = len(rows)
        table = pa.table({"seq": pa.array(range(self._seq, self._seq + count), type=pa.int64()),
                          **{name: pa.array(values, type=pa.string()) for name, values in rows.columns.items()}})
        self._seq += count
        self.records += count
        self._con.register("page_rows", table)
        self._con.execute("INSERT INTO rows SELECT * FROM page_rows").fetchall()
        self._con.unregister("page_rows")
        if lines is not None and len(lines):
            line_table = pa.table({name: pa.array(values, type=pa.string()) for name, values in lines.columns.items()})
            self._con.register("page_lines", line_table)
            self._con.execute("INSERT INTO lines SELECT * FROM page_lines").fetchall()
            self._con.unregister("page_lines")

    def finish(self) -> None:
        if self._con is not None:
            self._con.execute("CHECKPOINT")
            self._con.close()
            self._con = None

    def close(self) -> None:
        self.finish()
        for path in (self.path, self.path.with_name(self.path.name + ".wal")):
            path.unlink(missing_ok=True)

    def __enter__(self) -> WindowStage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
