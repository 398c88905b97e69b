"""Every entity round-trips Workday sandbox -> SOAP client -> DuckDB, field by field, against the
scenario it was generated from: non-ASCII and hostile names, credit memos, several currencies, exact
decimals, UTC times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.warehouse import Warehouse
from mlc_dagster.workday.entities import ENTITIES
from mlc_dagster.workday.soap import WorkdaySoapClient

Getter = Callable[[Any], Any]


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def or_none_if_zero(amount: Decimal) -> Decimal | None:
    return None if amount == 0 else amount  # Workday omits a zero debit or credit


# entity -> (scenario collection, header columns -> getter, line columns -> getter, line key)
EXPECTED: dict[str, tuple[str, dict[str, Getter], dict[str, Getter], Callable[[Any], list[Any]]]] = {
    "suppliers": ("suppliers", {
        "supplier_id": lambda v: v.supplier_id, "name": lambda v: v.name,
        "category_id": lambda v: v.supplier_category_id, "currency": lambda v: v.currency_id,
        "payment_terms_id": lambda v: v.payment_terms_id, "status": lambda v: v.status,
        "updated_at": lambda v: utc(v.entered_at),
    }, {}, lambda v: []),
    "supplier_invoices": ("supplier_invoices", {
        "invoice_id": lambda v: v.supplier_invoice_id, "invoice_number": lambda v: v.invoice_number,
        "supplier_id": lambda v: v.supplier_id, "company_id": lambda v: v.company_id,
        "invoice_date": lambda v: v.invoice_date, "due_date": lambda v: v.due_date,
        "currency": lambda v: v.currency_id, "amount": lambda v: v.control_amount_total,
        "approval_status": lambda v: v.document_status_id, "payment_status": lambda v: v.payment_status_id,
        "updated_at": lambda v: utc(v.entered_at), "on_hold": lambda v: v.on_hold,
        "memo": lambda v: v.memo or None, "purchase_order_id": lambda v: v.purchase_order_id,
    }, {
        "line_id": lambda line: line.line_id, "line_order": lambda line: line.line_order,
        "description": lambda line: line.item_description, "spend_category_id": lambda line: line.spend_category_id,
        "quantity": lambda line: line.quantity, "unit_cost": lambda line: line.unit_cost,
        "amount": lambda line: line.extended_amount, "cost_center_id": lambda line: line.cost_center_id,
    }, lambda v: list(v.lines)),
    "purchase_orders": ("purchase_orders", {
        "purchase_order_id": lambda v: v.purchase_order_id, "document_number": lambda v: v.document_number,
        "status": lambda v: v.document_status_id, "company_id": lambda v: v.company_id,
        "supplier_id": lambda v: v.supplier_id, "document_date": lambda v: v.document_date,
        "due_date": lambda v: v.due_date, "currency": lambda v: v.currency_id,
        "amount": lambda v: sum((line.extended_amount for line in v.lines), Decimal(0)),
        "memo": lambda v: v.memo or None, "updated_at": lambda v: utc(v.entered_at),
    }, {
        "line_id": lambda line: line.line_id, "line_number": lambda line: line.line_number,
        "description": lambda line: line.item_description, "spend_category_id": lambda line: line.spend_category_id,
        "quantity": lambda line: line.quantity, "unit_cost": lambda line: line.unit_cost,
        "amount": lambda line: line.extended_amount, "due_date": lambda line: line.due_date,
    }, lambda v: list(v.lines)),
    "payments": ("payments", {
        "payment_id": lambda v: v.payment_id, "payment_date": lambda v: v.payment_date,
        "settlement_run_id": lambda v: v.settlement_run_id, "status": lambda v: v.payment_status,
        "reference_number": lambda v: v.payment_reference_number, "amount": lambda v: v.payment_amount,
        "currency": lambda v: v.currency_id, "company_id": lambda v: v.company_id,
        "supplier_id": lambda v: v.supplier_id, "updated_at": lambda v: utc(v.entered_at),
    }, {
        "document_type": lambda r: r.document_type, "document_id": lambda r: r.document_id,
        "invoice_id": lambda r: r.document_id, "document_date": lambda r: r.document_date,
        "total_payable": lambda r: r.total_payable_amount, "amount_paid": lambda r: r.amount_paid,
        "amount_due": lambda r: r.amount_due, "discount_taken": lambda r: r.discount_taken,
    }, lambda v: list(v.remittances)),
    "journal_entries": ("journals", {
        "journal_id": lambda v: v.journal_number, "status": lambda v: v.journal_status_id,
        "company_id": lambda v: v.company_id, "currency": lambda v: v.currency_id,
        "accounting_date": lambda v: v.accounting_date, "journal_source": lambda v: v.journal_source_id,
        "memo": lambda v: v.memo or None, "total_debits": lambda v: v.total_ledger_debits,
        "total_credits": lambda v: v.total_ledger_credits, "intercompany": lambda v: v.intercompany,
        "updated_at": lambda v: utc(v.entered_at),
    }, {
        "line_order": lambda line: line.line_order, "company_id": lambda line: line.company_id,
        "ledger_account_id": lambda line: line.ledger_account_id,
        "debit": lambda line: or_none_if_zero(line.debit_amount),
        "credit": lambda line: or_none_if_zero(line.credit_amount), "currency": lambda line: line.currency_id,
        "memo": lambda line: line.memo or None, "cost_center_id": lambda line: line.cost_center_id,
    }, lambda v: list(v.lines)),
    "ledger_accounts": ("account_sets", {
        "account_set_id": lambda v: v.account_set_id, "name": lambda v: v.name,
        "updated_at": lambda v: utc(v.entered_at),
    }, {
        "ledger_account_id": lambda a: a.ledger_account_id, "name": lambda a: a.name,
        "account_type": lambda a: a.account_type_id, "retired": lambda a: a.retired,
    }, lambda v: list(v.ledger_accounts)),
    "worktags": ("cost_centers", {
        "worktag_id": lambda v: v.cost_center_id, "name": lambda v: v.name, "code": lambda v: v.code,
        "active": lambda v: v.active, "updated_at": lambda v: utc(v.entered_at),
    }, {}, lambda v: []),
}


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_entity_round_trips_field_by_field(name: str, workday: WorkdaySandbox, scenario: Scenario,
                                           tmp_path: Path) -> None:
    entity = ENTITIES[name]
    collection, header, line_fields, lines_of = EXPECTED[name]
    start, end = scenario.day_start, scenario.day_start + timedelta(days=1)
    client = WorkdaySoapClient(workday.soap_url, workday.username, workday.password, page_size=50)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with warehouse.stage(entity) as stage:
        result = client.fetch_window(entity, start, end, sink=stage)
        loaded = warehouse.replace_window(entity, start, end, result.as_of, stage)
    if entity.window.kind == "whole":
        expected = scenario.records_as_of(collection, result.as_of)
    else:
        expected = scenario.changed_between(collection, start, end, as_of=result.as_of)
    assert expected and loaded.records == len(expected)

    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        columns = ", ".join(header)
        got = {row[0]: row[1:] for row in con.execute(f"SELECT wid, {columns} FROM raw.{entity.table}").fetchall()}
        got_lines: dict[str, list[tuple[Any, ...]]] = {}
        if entity.lines:
            line_columns = ", ".join(line_fields)
            for row in con.execute(f"SELECT parent_wid, {line_columns} FROM raw.{entity.lines.table} "
                                   "ORDER BY ALL").fetchall():
                got_lines.setdefault(row[0], []).append(row[1:])
    for version in expected:
        want = tuple(get(version) for get in header.values())
        assert got[version.wid] == want, f"{name} {version.wid}"
        if entity.lines:
            want_lines = sorted(tuple(get(line) for get in line_fields.values()) for line in lines_of(version))
            assert sorted(got_lines.get(version.wid, [])) == want_lines, f"{name} {version.wid} lines"


def test_the_hard_cases_are_in_the_data(workday: WorkdaySandbox, scenario: Scenario, tmp_path: Path) -> None:
    """The round trip above covers what matters only if the scenario holds the awkward values."""
    invoices = [i.latest for i in scenario.supplier_invoices.values()]
    assert any(v.control_amount_total < 0 for v in invoices), "credit memos"
    assert len({v.currency_id for v in invoices}) >= 3, "several currencies"
    assert any(v.currency_id == "JPY" for v in invoices), "a zero-decimal currency"
    names = {s.latest.name for s in scenario.suppliers.values()}
    assert any(not n.isascii() for n in names) and any("<" in n and "&" in n for n in names)
