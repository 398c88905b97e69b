"""The warehouse: windows replaced atomically, values typed exactly, bad values refused by name."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from mlc_dagster.warehouse import Warehouse
from mlc_dagster.workday.entities import (
    JOURNAL_ENTRIES,
    PAYMENT_TERMS,
    PAYMENTS,
    PURCHASE_ORDERS,
    SUPPLIER_INVOICES,
    SUPPLIERS,
    Entity,
)
from mlc_dagster.workday.errors import WorkdayDataError
from mlc_dagster.workday.parse import new_buffers

NINE = datetime(2026, 11, 29, 9, tzinfo=UTC)
TEN = NINE + timedelta(hours=1)
DAY = datetime(2026, 11, 29, tzinfo=UTC)


def invoice(wid: str, **values: str | None) -> dict[str, str | None]:
    """An invoice as the parser stages it: derived fields (due date, payment status, update time) empty."""
    row: dict[str, str | None] = {
        "wid": wid, "invoice_id": f"SI-{wid}", "invoice_number": "INV-1", "supplier_id": "SUP-1",
        "supplier_name": "Müller <GmbH> & Co", "company_id": "ACME_DE", "invoice_date": "2026-11-29-08:00",
        "currency": "EUR", "amount": "100.10", "approval_status": "APPROVED", "on_hold": "0", "memo": "a\tb\nc",
    }
    row.update(values)
    return row


def load(warehouse: Warehouse, start: datetime, rows: list[dict], lines: list[dict] | None = None,
         entity: Entity = SUPPLIER_INVOICES, hours: int = 1):
    header, line_buffer = new_buffers(entity)
    for row in rows:
        header.append(row)
    for line in lines or []:
        assert line_buffer is not None
        line_buffer.append(line)
    end = start + timedelta(hours=hours)
    with warehouse.stage(entity) as stage:
        stage.add_page(header, line_buffer)
        return warehouse.replace_window(entity, start, end, end, stage)


def load_terms(warehouse: Warehouse, *terms: tuple[str, str]) -> None:
    """A day's payment terms (the whole collection): (id, due days)."""
    load(warehouse, DAY, [{"wid": f"PT-{t}", "payment_terms_id": t, "name": f"Net {d}", "due_days": d}
                          for t, d in terms], entity=PAYMENT_TERMS, hours=24)


def load_suppliers(warehouse: Warehouse, *suppliers: tuple[str, str | None]) -> None:
    """A day's suppliers: (id, payment terms id)."""
    load(warehouse, DAY, [{"wid": f"W-{s}", "supplier_id": s, "name": s, "payment_terms_id": t}
                          for s, t in suppliers], entity=SUPPLIERS, hours=24)


def due_dates(path: Path) -> dict[str, tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT invoice_id, CAST(due_date AS VARCHAR), due_date_source "
                           "FROM analytics.supplier_invoices").fetchall()
    return {invoice_id: (due, source) for invoice_id, due, source in rows}


def current(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT invoice_id, amount, approval_status, updated_at, invoice_date, on_hold, memo "
                           "FROM analytics.supplier_invoices ORDER BY invoice_id").fetchall()


def test_values_are_typed_exactly_and_times_are_utc(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load(warehouse, NINE, [invoice("a" * 32, amount="0.1", updated_at="2026-11-29T09:30:00-01:00"),
                           invoice("b" * 32, amount="-1234567.8900")])
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
    ("due_date_override", "29/12/2026", "expected DATE"),
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


# -- derived fields: the entities' load SQL (sql/load/) ---------------------------------------------


def test_due_date_is_the_override_else_the_invoices_terms_else_the_suppliers(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load_terms(warehouse, ("NET30", "30"), ("NET45", "45"))
    load_suppliers(warehouse, ("SUP-1", "NET45"))
    load(warehouse, NINE, [
        invoice("a" * 32, due_date_override="2027-01-15", payment_terms_id="NET30"),
        invoice("b" * 32, payment_terms_id="NET30"),
        invoice("c" * 32),  # no terms of its own: its supplier's
        invoice("d" * 32, supplier_id="SUP-UNKNOWN"),
        invoice("e" * 32, payment_terms_id="NET30", invoice_date=None),
    ])
    assert due_dates(tmp_path / "w.duckdb") == {
        "SI-" + "a" * 32: ("2027-01-15", "override"),
        "SI-" + "b" * 32: ("2026-12-29", "invoice_terms"),
        "SI-" + "c" * 32: ("2027-01-13", "supplier_terms"),
        "SI-" + "d" * 32: (None, None),
        "SI-" + "e" * 32: (None, None),  # nothing to count the days from
    }


def test_a_due_date_unknown_at_load_is_filled_when_suppliers_and_terms_arrive(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    warehouse = Warehouse(path)
    load(warehouse, NINE, [invoice("a" * 32), invoice("b" * 32, payment_terms_id="NET10")])
    assert set(due_dates(path).values()) == {(None, None)}
    load_terms(warehouse, ("NET45", "45"))  # neither resolvable yet: a's supplier and b's terms unknown
    assert set(due_dates(path).values()) == {(None, None)}
    load_suppliers(warehouse, ("SUP-1", "NET45"))
    assert due_dates(path) == {"SI-" + "a" * 32: ("2027-01-13", "supplier_terms"),
                               "SI-" + "b" * 32: (None, None)}  # its own terms, not the supplier's
    load_terms(warehouse, ("NET45", "45"), ("NET10", "10"))
    assert due_dates(path) == {"SI-" + "a" * 32: ("2027-01-13", "supplier_terms"),
                               "SI-" + "b" * 32: ("2026-12-09", "invoice_terms")}
    with duckdb.connect(str(path), read_only=True) as con:  # earlier versions too: every row still NULL
        assert con.execute("SELECT count(*) FROM raw.supplier_invoices WHERE due_date IS NULL").fetchall() == [(0,)]


def payment(wid: str, status: str, **values: str | None) -> dict[str, str | None]:
    row: dict[str, str | None] = {"wid": wid, "payment_id": f"PAY-{wid}", "payment_date": "2026-11-29",
                                  "status": status, "amount": "100", "currency": "EUR", "supplier_id": "SUP-1"}
    row.update(values)
    return row


def remittance(payment_wid: str, invoice_wid: str, amount_paid: str) -> dict[str, str | None]:
    return {"parent_wid": payment_wid, "invoice_id": f"SI-{invoice_wid}", "amount_paid": amount_paid}


def payment_statuses(path: Path) -> dict[str, str]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("SELECT invoice_id, payment_status FROM analytics.supplier_invoices").fetchall()
    return {invoice_id[3:4]: status for invoice_id, status in rows}


def test_payment_status_comes_from_the_complete_payments_known_by_the_window(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    warehouse = Warehouse(path)
    a, b, c, d, e = ("a" * 32, "b" * 32, "c" * 32, "d" * 32, "e" * 32)
    load(warehouse, NINE - timedelta(hours=1), [
        payment("P1", "Complete"), payment("P2", "In_Progress"), payment("P3", "Complete"),
        payment("P4", "Complete"),
    ], [
        remittance("P1", a, "60"), remittance("P3", a, "40.10"),  # two complete payments: all of it
        remittance("P1", b, "40"),                                 # part of it
        remittance("P2", c, "100.10"),                             # a payment not complete: nothing yet
        remittance("P4", e, "100.10"),                             # complete, then canceled (below)
    ], entity=PAYMENTS)
    load(warehouse, NINE, [payment("P4", "Canceled")], [remittance("P4", e, "100.10")], entity=PAYMENTS)
    load(warehouse, NINE, [invoice(w) for w in (a, b, c, d, e)])
    assert payment_statuses(path) == {"a": "PAID", "b": "PARTIALLY_PAID", "c": "UNPAID", "d": "UNPAID",
                                      "e": "UNPAID"}
    # A payment loaded after the invoice's window does not change that window's snapshot (a re-load
    # of it gives the same status); the invoice's next version sees it.
    load(warehouse, TEN, [payment("P2", "Complete")], [remittance("P2", c, "100.10")], entity=PAYMENTS)
    load(warehouse, NINE, [invoice(w) for w in (a, b, c, d, e)])
    assert payment_statuses(path)["c"] == "UNPAID"
    load(warehouse, TEN, [invoice(c)])
    assert payment_statuses(path)["c"] == "PAID"


def journal(wid: str, company: str | None = "ACME_DE") -> dict[str, str | None]:
    return {"wid": wid, "journal_id": f"J-{wid}", "company_id": company, "currency": "EUR"}


def test_a_journal_is_intercompany_when_a_line_posts_to_another_company(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    load(warehouse, NINE, [journal("J1"), journal("J2"), journal("J3"), journal("J4", company=None)], [
        {"parent_wid": "J1", "line_order": "1", "company_id": "ACME_DE", "debit": "10"},
        {"parent_wid": "J1", "line_order": "2", "company_id": "ACME_UK", "credit": "10"},
        {"parent_wid": "J2", "line_order": "1", "company_id": "ACME_DE", "debit": "10"},
        {"parent_wid": "J2", "line_order": "2", "company_id": None, "credit": "10"},  # the journal's company
        {"parent_wid": "J4", "line_order": "1", "company_id": "ACME_UK", "debit": "10"},
    ], entity=JOURNAL_ENTRIES)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT journal_id, intercompany FROM analytics.journal_entries ORDER BY 1").fetchall()
    assert rows == [("J-J1", True), ("J-J2", False), ("J-J3", False), ("J-J4", False)]


def test_a_purchase_orders_amount_is_the_sum_of_its_lines(tmp_path: Path) -> None:
    # A PO's amount is derived (v28's PO data has no header total): every row stages it empty, and the
    # load sums the lines.
    warehouse = Warehouse(tmp_path / "w.duckdb")
    header, lines = new_buffers(PURCHASE_ORDERS)
    assert lines is not None
    for wid in ("PO1", "PO2"):
        header.append({"wid": wid, "purchase_order_id": wid, "currency": "EUR"})
    for wid, amount in (("PO1", "10.50"), ("PO1", "0.25"), ("PO2", "7")):
        lines.append({"parent_wid": wid, "line_id": f"{wid}-{amount}", "amount": amount})
    with warehouse.stage(PURCHASE_ORDERS) as stage:
        stage.add_page(header, lines)
        assert stage.amounts_missing == 2
        warehouse.replace_window(PURCHASE_ORDERS, NINE, TEN, TEN, stage)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        amounts = con.execute("SELECT purchase_order_id, amount FROM analytics.purchase_orders ORDER BY 1").fetchall()
    assert amounts == [("PO1", Decimal("10.75")), ("PO2", Decimal("7"))]


def test_an_older_warehouse_file_gains_the_registrys_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:  # as an earlier release made them
        con.execute("CREATE SCHEMA raw")
        con.execute("CREATE TABLE raw.supplier_invoices (window_start TIMESTAMP NOT NULL, window_end TIMESTAMP "
                    "NOT NULL, as_of TIMESTAMP NOT NULL, wid VARCHAR NOT NULL, invoice_id VARCHAR, amount "
                    "DECIMAL(18,4), due_date DATE, updated_at TIMESTAMP)")
        con.execute("INSERT INTO raw.supplier_invoices VALUES ('2026-11-28 09:00', '2026-11-28 10:00', "
                    "'2026-11-28 10:00', 'old', 'SI-old', 5, '2026-12-01', '2026-11-28 09:30')")
        con.execute("CREATE TABLE raw.supplier_invoice_lines (window_start TIMESTAMP NOT NULL, parent_wid VARCHAR "
                    "NOT NULL, line_id VARCHAR, ledger_account_id VARCHAR, amount DECIMAL(18,4))")
    warehouse = Warehouse(path)
    load(warehouse, NINE, [invoice("a" * 32, due_date_override="2027-01-15")],
         [{"parent_wid": "a" * 32, "line_id": "L1", "amount": "100.10", "purchase_order_line_wid": "POL1"}])
    with duckdb.connect(str(path), read_only=True) as con:
        def columns(table: str) -> set[str]:
            return {r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE schema_name = 'raw' "
                                              "AND table_name = ?", [table]).fetchall()}

        assert {s.name for s in SUPPLIER_INVOICES.fields} <= columns("supplier_invoices")
        assert SUPPLIER_INVOICES.lines is not None
        assert {s.name for s in SUPPLIER_INVOICES.lines.fields} | {"ledger_account_id"} <= columns(
            "supplier_invoice_lines")  # a column the registry dropped stays
        invoices = con.execute("SELECT invoice_id, CAST(due_date AS VARCHAR), due_date_source "
                               "FROM analytics.supplier_invoices ORDER BY 1").fetchall()
        lines = con.execute("SELECT line_id, purchase_order_line_wid, ledger_account_id "
                            "FROM analytics.supplier_invoice_lines").fetchall()
    assert invoices == [("SI-" + "a" * 32, "2027-01-15", "override"), ("SI-old", "2026-12-01", None)]
    assert lines == [("L1", "POL1", None)]


def test_a_failing_load_sql_rolls_the_window_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "w.duckdb"
    warehouse = Warehouse(path)
    load(warehouse, NINE, [invoice("a" * 32, due_date_override="2027-01-15")])
    before = (current(path), due_dates(path))
    sql = tmp_path / "sql"
    shutil.copytree(Path(__file__).resolve().parents[1] / "sql", sql)
    (sql / "load" / "supplier_invoices.sql").write_text("SELECT error('the load SQL failed')")
    monkeypatch.setenv("MLC_SQL_DIR", str(sql))
    with pytest.raises(duckdb.Error, match="the load SQL failed"):
        load(warehouse, NINE, [invoice("a" * 32, amount="5"), invoice("b" * 32)])
    assert (current(path), due_dates(path)) == before
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT records FROM meta.windows").fetchall() == [(1,)]
