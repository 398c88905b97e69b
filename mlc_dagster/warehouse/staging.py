"""Staging a window's pages on disk while they arrive."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..workday import fastpath
from ..workday.entities import Entity
from ..workday.parse import ColumnBuffer, header_names, line_names


class WindowStage:
    """A window's pages, staged on disk as they arrive, so memory follows one page, not the window.

    Each page is appended as a row group to one Parquet file per table (rows, lines): writing Arrow
    columns as they are costs a fraction of inserting them into DuckDB, which would write them to its
    WAL and again at the checkpoint. `relation()` gives the SQL that reads a table back, which
    `Warehouse.replace_window` reads in one transaction; staging never takes the warehouse's write lock.
    `rows` has a `seq` column that grows in page order, so the last copy of a duplicated record wins.
    Everything is deleted when closed.
    """

    def __init__(self, folder: Path, entity: Entity) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.entity = entity
        self.folder = folder
        stem = f"{entity.name}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._files = {"rows": folder / f"{stem}.rows.parquet", "lines": folder / f"{stem}.lines.parquet"}
        self._schemas = {"rows": pa.schema([("seq", pa.int64()), *((n, pa.string()) for n in header_names(entity))])}
        if entity.lines:
            self._schemas["lines"] = pa.schema([(n, pa.string()) for n in line_names(entity)])
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._seq = 0
        self._finished = False
        self.records = 0
        # What the load needs to know about the rows, gathered here in Arrow for next to nothing instead
        # of by two scans of the staged file while the warehouse is locked.
        self._wids: list[pa.ChunkedArray] = []
        self.amounts_missing = 0

    def add_page(self, rows: ColumnBuffer, lines: ColumnBuffer | None) -> None:
        """One page's buffers (`parse.Page`): lists from `parse.parse_page`, or the fast path's Arrow tables."""
        self.add_arrow_page(_table(rows), _table(lines) if lines is not None and len(lines) else None)

    def add_tsv_page(self, header_tsv: bytes, lines_tsv: bytes | None, escaped: bool = False) -> None:
        """One page as the fast path's stylesheet writes it (`fastpath.tsv_tables` says how it is read)."""
        rows, lines = fastpath.tsv_tables(self.entity, header_tsv, lines_tsv, escaped)
        self.add_arrow_page(rows, lines)

    def add_arrow_page(self, rows: pa.Table, lines: pa.Table | None) -> None:
        """One page of text columns named as `parse.header_names` / `parse.line_names` name them."""
        if self._finished:
            raise RuntimeError("stage already finished")
        count = rows.num_rows
        seq = pa.array(np.arange(self._seq, self._seq + count, dtype=np.int64))
        self._append("rows", pa.table([seq, *(rows.column(n) for n in header_names(self.entity))],
                                      schema=self._schemas["rows"]))
        self._seq += count
        self.records += count
        self._wids.append(rows.column("wid"))
        if "amount" in rows.column_names:
            self.amounts_missing += rows.column("amount").null_count
        if lines is not None and lines.num_rows and "lines" in self._schemas:
            self._append("lines", pa.table([lines.column(n) for n in line_names(self.entity)],
                                           schema=self._schemas["lines"]))

    def _append(self, name: str, table: pa.Table) -> None:
        writer = self._writers.get(name)
        if writer is None:
            # Uncompressed: the file lives for one poll and is read once or twice, from local disk.
            writer = self._writers[name] = pq.ParquetWriter(self._files[name], table.schema, compression="none")
        writer.write_table(table)

    def finish(self) -> None:
        """No more pages: the files are complete (closing a Parquet writer writes its footer)."""
        if self._finished:
            return
        self._finished = True
        for writer in self._writers.values():
            writer.close()

    @property
    def duplicated(self) -> bool:
        """Whether some record arrived twice (it moved between pages while they were read)."""
        chunks = [chunk for column in self._wids for chunk in column.chunks]
        if not chunks:
            return False
        wids = pa.chunked_array(chunks, type=pa.string())
        return bool(pc.count_distinct(wids, mode="all").as_py() < len(wids))

    def relation(self, name: str) -> str:
        """SQL reading the staged `rows` or `lines` back (text columns; `rows` with `seq`); an empty
        relation of the same columns when no page had any."""
        if not self._finished:
            raise RuntimeError("finish() the stage before reading it")
        schema = self._schemas.get(name)
        if schema is None:
            raise KeyError(f"{self.entity.name} stages no {name}")
        if name in self._writers:
            return "read_parquet('" + str(self._files[name]).replace("'", "''") + "')"
        columns = ", ".join(f"NULL::{'BIGINT' if f.type == pa.int64() else 'VARCHAR'} AS {f.name}" for f in schema)
        return f"(SELECT {columns} WHERE false)"

    def close(self) -> None:
        self.finish()
        for path in self._files.values():
            path.unlink(missing_ok=True)

    def __enter__(self) -> WindowStage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _table(buffer: ColumnBuffer) -> pa.Table:
    if isinstance(buffer, fastpath.ArrowColumns):
        return buffer.table  # as the fast path read it: no lists made
    return pa.table({name: pa.array(values, type=pa.string()) for name, values in buffer.columns.items()})
