"""Every entity round-trips Workday sandbox -> SOAP client -> DuckDB, field by field, against the
scenario it was generated from: non-ASCII and hostile names, credit memos, several currencies, exact
decimals, UTC times.

Each column is compared with what Workday really sends for it: `updated_at` is NULL for the records
whose Workday data carries no update time (all but journals), and an invoice's due date, which Workday
does not send, is resolved at load from its override or payment terms (decision 6), so the invoices'
round trip loads the terms and suppliers first, as the pipeline does. The tenant is on the v46
profile, whose schema accepts each entity's preferred window route (the transaction log included).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mlc_dagster.sandbox.records import payment_terms
from mlc_dagster.sandbox.scenario import Scenario, invoice_due_terms, select_versions
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.warehouse import Warehouse
from mlc_dagster.workday.entities import ENTITIES, Entity
from mlc_dagster.workday.soap import WorkdaySoapClient

Getter = Callable[[Any], Any]
Records = Callable[[Scenario], Iterable[Any]]


@pytest.fixture
def workday(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    with WorkdaySandbox(scenario, profile="v46") as sandbox:
        yield sandbox


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def or_none_if_zero(amount: Decimal) -> Decimal | None:
    return None if amount == 0 else amount  # Workday omits a zero debit or credit


def no_update_time(_: Any) -> None:
    return None  # the record's Workday data has no update time: updated_at stays NULL


SCENARIO: Scenario | None = None  # set by the test: invoice getters need the supplier of the version


def terms_sent(v: Any) -> tuple[str | None, Any]:
    """(the invoice's own Payment_Terms_ID, its Due_Date_Override), as the sandbox renders them."""
    assert SCENARIO is not None
    return invoice_due_terms(v, SCENARIO.suppliers[v.supplier_id])


def due_date_source(v: Any) -> str:
    terms_id, override = terms_sent(v)
    return "override" if override is not None else "invoice_terms" if terms_id else "supplier_terms"


# entity -> (scenario records, header columns -> getter, line columns -> getter, line key)
EXPECTED: dict[str, tuple[Records, dict[str, Getter], dict[str, Getter], Callable[[Any], list[Any]]]] = {
    "suppliers": (lambda s: s.suppliers.values(), {
        "supplier_id": lambda v: v.supplier_id, "name": lambda v: v.name,
        "category_id": lambda v: v.supplier_category_id, "currency": lambda v: v.currency_id,
        "payment_terms_id": lambda v: v.payment_terms_id, "status": lambda v: v.status,
        "updated_at": no_update_time,
    }, {}, lambda v: []),
    "payment_terms": (payment_terms, {
        "payment_terms_id": lambda v: v.payment_terms_id, "name": lambda v: v.name,
        "due_days": lambda v: v.due_days, "discount_days": lambda v: v.discount_days,
        "discount_percent": lambda v: v.discount_percent, "grace_days": lambda v: v.grace_days,
        "updated_at": no_update_time,
    }, {}, lambda v: []),
    "supplier_invoices": (lambda s: s.supplier_invoices.values(), {
        "invoice_id": lambda v: v.supplier_invoice_id, "invoice_number": lambda v: v.invoice_number,
        "supplier_id": lambda v: v.supplier_id, "company_id": lambda v: v.company_id,
        "invoice_date": lambda v: v.invoice_date, "due_date": lambda v: v.due_date,
        "currency": lambda v: v.currency_id, "amount": lambda v: v.control_amount_total,
        # payment_status (derived at load from the payments): test_invoice_payment_status_round_trips
        "approval_status": lambda v: v.document_status_id, "updated_at": no_update_time,
        "on_hold": lambda v: v.on_hold, "memo": lambda v: v.memo or None,
        "payment_terms_id": lambda v: terms_sent(v)[0], "due_date_override": lambda v: terms_sent(v)[1],
        "due_date_source": due_date_source,
    }, {
        "line_id": lambda line: line.line_id, "line_order": lambda line: line.line_order,
        "description": lambda line: line.item_description, "spend_category_id": lambda line: line.spend_category_id,
        "quantity": lambda line: line.quantity, "unit_cost": lambda line: line.unit_cost,
        "amount": lambda line: line.extended_amount, "cost_center_id": lambda line: line.cost_center_id,
    }, lambda v: list(v.lines)),
    "purchase_orders": (lambda s: s.purchase_orders.values(), {
        "purchase_order_id": lambda v: v.purchase_order_id, "document_number": lambda v: v.document_number,
        "status": lambda v: v.document_status_id, "company_id": lambda v: v.company_id,
        "supplier_id": lambda v: v.supplier_id, "document_date": lambda v: v.document_date,
        "due_date": lambda v: v.due_date, "currency": lambda v: v.currency_id,
        "amount": lambda v: sum((line.extended_amount for line in v.lines), Decimal(0)),
        "memo": lambda v: v.memo or None, "updated_at": no_update_time,
    }, {
        "line_id": lambda line: line.line_id, "line_number": lambda line: line.line_number,
        "description": lambda line: line.item_description, "spend_category_id": lambda line: line.spend_category_id,
        "quantity": lambda line: line.quantity, "unit_cost": lambda line: line.unit_cost,
        "amount": lambda line: line.extended_amount, "due_date": lambda line: line.due_date,
    }, lambda v: list(v.lines)),
    "payments": (lambda s: s.payments.values(), {
        "payment_id": lambda v: v.payment_id, "payment_date": lambda v: v.payment_date,
        "settlement_run_id": lambda v: v.settlement_run_id, "status": lambda v: v.payment_status,
        "reference_number": lambda v: v.payment_reference_number, "amount": lambda v: v.payment_amount,
        "currency": lambda v: v.currency_id, "company_id": lambda v: v.company_id,
        "supplier_id": lambda v: v.supplier_id, "updated_at": no_update_time,
    }, {
        # the sandbox's default tenant sends the invoice's WID in Document_ID, its ID in Document_Reference
        "document_type": lambda r: r.document_type, "document_id": lambda r: r.document_wid,
        "invoice_id": lambda r: r.document_id, "document_date": lambda r: r.document_date,
        "total_payable": lambda r: r.total_payable_amount, "amount_paid": lambda r: r.amount_paid,
        "amount_due": lambda r: r.amount_due, "discount_taken": lambda r: r.discount_taken,
    }, lambda v: list(v.remittances)),
    "journal_entries": (lambda s: s.journals.values(), {
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
    "ledger_accounts": (lambda s: s.account_sets.values(), {
        "account_set_id": lambda v: v.account_set_id, "name": lambda v: v.name, "updated_at": no_update_time,
    }, {
        "ledger_account_id": lambda a: a.ledger_account_id, "name": lambda a: a.name,
        "account_type": lambda a: a.account_type_id, "retired": lambda a: a.retired,
    }, lambda v: list(v.ledger_accounts)),
    "worktags": (lambda s: s.cost_centers.values(), {
        "worktag_id": lambda v: v.cost_center_id, "name": lambda v: v.name, "code": lambda v: v.code,
        "active": lambda v: v.active, "updated_at": no_update_time,
    }, {}, lambda v: []),
}


# What the pipeline has loaded before an entity, that its load SQL reads (the invoices' due dates come
# from payment terms and suppliers, their payment status from the payments): entity -> (entity, from).
BEFORE: dict[str, tuple[tuple[str, timedelta], ...]] = {
    "supplier_invoices": (("payment_terms", timedelta(0)), ("suppliers", timedelta(days=3650)),
                          ("payments", timedelta(0))),
}


def load(client: WorkdaySoapClient, warehouse: Warehouse, entity: Entity, start: datetime,
         end: datetime) -> tuple[datetime, int]:
    with warehouse.stage(entity) as stage:
        result = client.fetch_window(entity, start, end, sink=stage)
        loaded = warehouse.replace_window(entity, start, end, result.as_of, stage)
    return result.as_of, loaded.records


def test_every_entity_has_its_expected_fields() -> None:
    assert set(EXPECTED) == set(ENTITIES)
    for name, (_, header, line_fields, _) in EXPECTED.items():
        entity = ENTITIES[name]
        columns = {field.name for field in entity.fields}
        assert set(header) <= columns, name
        if entity.lines:
            assert set(line_fields) <= {field.name for field in entity.lines.fields}, name


Rows = dict[str, tuple[Any, ...]]


def round_trip(name: str, columns: Iterable[str], workday: WorkdaySandbox, scenario: Scenario,
               tmp_path: Path) -> tuple[list[Any], Rows, dict[str, list[tuple[Any, ...]]]]:
    """Load the entity's day (after what it depends on): the scenario versions it should hold, and
    its raw rows' `columns` (and line rows) by WID."""
    entity = ENTITIES[name]
    records, _, line_fields, _ = EXPECTED[name]
    start, end = scenario.day_start, scenario.day_start + timedelta(days=1)
    client = WorkdaySoapClient(workday.soap_url, workday.username, workday.password, page_size=50)
    warehouse = Warehouse(tmp_path / "w.duckdb")
    for before, back in BEFORE.get(name, ()):
        load(client, warehouse, ENTITIES[before], start - back, end)
    as_of, count = load(client, warehouse, entity, start, end)
    if entity.window.kind == "whole":
        expected = select_versions(records(scenario), as_of)
    else:
        expected = select_versions(records(scenario), as_of, updated_from=start, updated_through=end)
    assert expected and count == len(expected)

    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        got = {row[0]: row[1:] for row in con.execute(
            f"SELECT wid, {', '.join(columns)} FROM raw.{entity.table} "
            f"WHERE window_start = ?", [start]).fetchall()}
        got_lines: dict[str, list[tuple[Any, ...]]] = {}
        if entity.lines:
            line_columns = ", ".join(line_fields)
            for row in con.execute(f"SELECT parent_wid, {line_columns} FROM raw.{entity.lines.table} "
                                   "WHERE window_start = ? ORDER BY ALL", [start]).fetchall():
                got_lines.setdefault(row[0], []).append(row[1:])
    assert len(got) == len(expected)
    return expected, got, got_lines


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_entity_round_trips_field_by_field(name: str, workday: WorkdaySandbox, scenario: Scenario,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SCENARIO", scenario)
    entity = ENTITIES[name]
    _, header, line_fields, lines_of = EXPECTED[name]
    expected, got, got_lines = round_trip(name, header, workday, scenario, tmp_path)
    for version in expected:
        want = tuple(get(version) for get in header.values())
        assert got[version.wid] == want, f"{name} {version.wid}"
        if entity.lines:
            want_lines = sorted(tuple(get(line) for get in line_fields.values()) for line in lines_of(version))
            assert sorted(got_lines.get(version.wid, [])) == want_lines, f"{name} {version.wid} lines"


def discounted(scenario: Scenario) -> set[str]:
    """Invoices a payment's latest version pays with an early-payment discount taken."""
    return {r.document_id for p in scenario.payments.values() for r in p.latest.remittances if r.discount_taken > 0}


def payment_statuses(workday: WorkdaySandbox, scenario: Scenario, tmp_path: Path,
                     keep: Callable[[str], bool]) -> dict[str, tuple[str, str]]:
    expected, got, _ = round_trip("supplier_invoices", ["payment_status"], workday, scenario, tmp_path)
    return {v.supplier_invoice_id: (got[v.wid][0], v.payment_status_id)
            for v in expected if keep(v.supplier_invoice_id)}


def test_invoice_payment_status_round_trips(workday: WorkdaySandbox, scenario: Scenario, tmp_path: Path) -> None:
    """Workday sends no invoice payment status: the load derives it from the completed payments'
    remittances (sql/load/supplier_invoices.sql). Discounted payments: the test below."""
    skip = discounted(scenario)
    statuses = payment_statuses(workday, scenario, tmp_path, lambda invoice_id: invoice_id not in skip)
    assert {want for _, want in statuses.values()} >= {"UNPAID", "PAID"}
    assert {i: gw for i, gw in statuses.items() if gw[0] != gw[1]} == {}, "derived payment status (got, want)"


def test_invoice_paid_in_full_with_a_discount_is_paid(workday: WorkdaySandbox, scenario: Scenario,
                                                      tmp_path: Path) -> None:
    statuses = payment_statuses(workday, scenario, tmp_path, discounted(scenario).__contains__)
    assert statuses, "the scenario has discounted payments"
    assert {i: gw for i, gw in statuses.items() if gw[0] != gw[1]} == {}, "derived payment status (got, want)"


def test_the_hard_cases_are_in_the_data(workday: WorkdaySandbox, scenario: Scenario, tmp_path: Path) -> None:
    """The round trip above covers what matters only if the scenario holds the awkward values."""
    invoices = [i.latest for i in scenario.supplier_invoices.values()]
    assert any(v.control_amount_total < 0 for v in invoices), "credit memos"
    assert len({v.currency_id for v in invoices}) >= 3, "several currencies"
    assert any(v.currency_id == "JPY" for v in invoices), "a zero-decimal currency"
    names = {s.latest.name for s in scenario.suppliers.values()}
    assert any(not n.isascii() for n in names) and any("<" in n and "&" in n for n in names)
