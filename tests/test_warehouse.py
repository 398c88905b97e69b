"""The warehouse: windows replaced atomically, values typed exactly, bad values refused by name."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from mlc_dagster.warehouse import Warehouse
from mlc_dagster.workday.entities import SUPPLIER_INVOICES
from mlc_dagster.workday.errors import WorkdayDataError
from mlc_dagster.workday.parse import new_buffers

NINE = datetime(2026, 11, 29, 9, tzinfo=UTC)
TEN = NINE + timedelta(hours=1)


def invoice(wid: str, **values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {
        "wid": wid, "invoice_id": f"SI-{wid}", "invoice_number": "INV-1", "supplier_id": "SUP-1",
        "supplier_name": "Müller <GmbH> & Co", "company_id": "ACME_DE", "invoice_date": "2026-11-29-08:00",
        "due_date": "2026-12-29", "currency": "EUR", "amount": "100.10", "approval_status": "APPROVED",
        "payment_status": "UNPAID", "updated_at": "2026-11-29T09:30:00-01:00", "on_hold": "0", "memo": "a\tb\nc",
    }
    row.update(values)
    return row


def load(warehouse: Warehouse, start: datetime, rows: list[dict], lines: list[dict] | None = None):
    header, line_buffer = new_buffers(SUPPLIER_INVOICES)
    for row in rows:
        header.append(row)
    assert line_buffer is not None
    for line in lines or []:
        line_buffer.append(line)
    with warehouse.stage(SUPPLIER_INVOICES) as stage:
        stage.add_page(header, line_buffer)
        return warehouse.replace_window(SUPPLIER_INVOICES, start, start + timedelta(hours=1),
                                        start + timedelta(hours=1), stage)


def current(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT invoice_id, amount, approval_status, updated_at, invoice_date, on_hold, memo "
                           "FROM analytics.supplier_invoices ORDER BY invoice_id").fetchall()


def test_values_are_typed_exactly_and_times_are_utc(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load(warehouse, NINE, [invoice("a" * 32, amount="0.1"), invoice("b" * 32, amount="-1234567.8900")])
    rows = current(tmp_path / "w.duckdb")
    assert rows[0][1] == Decimal("0.1") and rows[1][1] == Decimal("-1234567.89")
    assert rows[0][3] == datetime(2026, 11, 29, 10, 30)  # -01:00 stored as UTC
    assert str(rows[0][4]) == "2026-11-29" and rows[0][5] is False and rows[0][6] == "a\tb\nc"
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        total = con.execute("SELECT sum(amount), typeof(sum(amount)) FROM analytics.supplier_invoices").fetchall()
    assert total == [(Decimal("-1234567.7900"), "DECIMAL(38,4)")]


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("amount", "12.34567", "exact amount with at most 4 decimal places"),
    ("amount", "1e5", "exact amount"),
    ("amount", "NaN", "exact amount"),
    ("due_date", "29/12/2026", "expected DATE"),
    ("updated_at", "yesterday", "expected TIMESTAMP"),
    ("on_hold", "maybe", "expected BOOLEAN"),
])
def test_a_bad_value_names_record_field_and_value_and_keeps_the_window(tmp_path: Path, field: str, value: str,
                                                                        expected: str) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load(warehouse, NINE, [invoice("a" * 32)])
    before = current(tmp_path / "w.duckdb")
    with pytest.raises(WorkdayDataError) as failure:
        load(warehouse, NINE, [invoice("a" * 32, amount="5"), invoice("c" * 32, **{field: value})])
    message = str(failure.value)
    assert f"SI-{'c' * 32}" in message and field in message and repr(value) in message and expected in message
    assert current(tmp_path / "w.duckdb") == before


def test_missing_amount_is_the_sum_of_the_lines(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    wid = "d" * 32
    lines = [{"parent_wid": wid, "line_id": f"L{i}", "line_order": str(i), "amount": amount}
             for i, amount in enumerate(["10.05", "0.10", "-0.15"], start=1)]
    load(warehouse, NINE, [invoice(wid, amount=None)], lines)
    assert current(tmp_path / "w.duckdb")[0][1] == Decimal("10.00")


def test_a_record_repeated_across_pages_is_kept_once(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    result = load(warehouse, NINE, [invoice("e" * 32, amount="1"), invoice("e" * 32, amount="2")])
    assert result.records == 1
    assert current(tmp_path / "w.duckdb")[0][1] == Decimal("2")


def test_current_state_comes_from_the_latest_window_and_history_is_kept(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load(warehouse, NINE, [invoice("f" * 32, approval_status="DRAFT")])
    load(warehouse, TEN, [invoice("f" * 32, approval_status="APPROVED", updated_at="2026-11-29T10:15:00Z")])
    assert current(tmp_path / "w.duckdb")[0][2] == "APPROVED"
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        history = con.execute("SELECT approval_status FROM raw.supplier_invoices ORDER BY window_start").fetchall()
        windows = con.execute("SELECT entity, records FROM meta.windows ORDER BY window_start").fetchall()
    assert history == [("DRAFT",), ("APPROVED",)]
    assert windows == [("supplier_invoices", 1), ("supplier_invoices", 1)]


def test_connections_of_one_process_share_the_file_and_release_it_together(tmp_path: Path) -> None:
    # Two resource objects on one file in one process (Dagster makes one per step): one attachment of
    # the file, shared; another process gets the file as soon as the last connection here is closed.
    path = tmp_path / "w.duckdb"
    probe = [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()", str(path)]
    with Warehouse(path).connect() as first:
        with Warehouse(path).connect() as second:
            second.execute("CREATE TABLE raw.shared_probe AS SELECT 1 AS x")
            assert first.execute("SELECT x FROM raw.shared_probe").fetchall() == [(1,)]
        held = subprocess.run(probe, capture_output=True, text=True, timeout=60)
        assert held.returncode != 0 and "lock" in held.stderr.lower()
    assert subprocess.run(probe, capture_output=True, text=True, timeout=60).returncode == 0
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT x FROM raw.shared_probe").fetchall() == [(1,)]
