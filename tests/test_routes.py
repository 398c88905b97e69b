"""Window routes negotiated per tenant and operation, against strict sandboxes of each version profile."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlc_dagster.doctor import run_doctor
from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.workday.entities import PAYMENTS, SUPPLIER_INVOICES, TransactionLogWindow, UpdatedDateWindow
from mlc_dagster.workday.errors import WorkdayConfigError, WorkdayValidationError
from mlc_dagster.workday.routes import RouteBook, RoutedReader, parse_pins
from mlc_dagster.workday.soap import WorkdaySoapClient

START = datetime(2026, 11, 29, 12, tzinfo=UTC)
END = START + timedelta(hours=1)


def reader_for(sandbox: WorkdaySandbox, book: RouteBook) -> RoutedReader:
    return RoutedReader(WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password,
                                          tenant=sandbox.tenant), book)


def test_the_route_found_is_remembered_so_the_next_run_asks_right_first(scenario: Scenario, tmp_path: Path) -> None:
    path = tmp_path / "workday-routes.json"
    with WorkdaySandbox(scenario) as v28:
        reader_for(v28, RouteBook(path)).fetch_window(PAYMENTS, START, END)
        assert v28.faults_served["validation"] == 1
        remembered = json.loads(path.read_text())[v28.tenant]["Settlement_Services/Get_Payments"]
        assert remembered["route"] == "document_date"
        assert "Transaction_Log_Criteria_Data" in remembered["refused"]["transaction_log"]
        # A new process (a new book over the same file) asks by payment date straight away.
        v28.reset_counters()
        reader_for(v28, RouteBook(path)).fetch_window(PAYMENTS, END, END + timedelta(hours=1))
        assert v28.faults_served["validation"] == 0
        assert v28.requests_by_operation["Get_Payments"] == 1


def test_a_v46_tenant_keeps_the_transaction_log(scenario: Scenario) -> None:
    with WorkdaySandbox(scenario, profile="v46") as v46:
        book = RouteBook(None)
        result = reader_for(v46, book).fetch_window(SUPPLIER_INVOICES, START, END)
        assert book.choice(v46.tenant, SUPPLIER_INVOICES).route.kind == "transaction_log"
        assert v46.faults_served["validation"] == 0
        expected = {v.supplier_invoice_id for v in scenario.invoices_changed_between(START, END)}
        assert set(result.rows.columns["invoice_id"]) == expected  # exactly the changed ones


def test_a_pinned_route_is_the_only_one_asked(scenario: Scenario) -> None:
    with WorkdaySandbox(scenario, profile="v46") as v46:
        book = RouteBook(None, parse_pins("supplier_invoices=document_date"))
        reader_for(v46, book).fetch_window(SUPPLIER_INVOICES, START, END)
        choice = book.choice(v46.tenant, SUPPLIER_INVOICES)
        assert (choice.route.kind, choice.source) == ("document_date", "pinned")
    with WorkdaySandbox(scenario) as v28:
        pinned_wrong = RouteBook(None, parse_pins("supplier_invoices=transaction_log"))
        with pytest.raises(WorkdayValidationError, match="pinned by MLC_WORKDAY_ROUTES"):
            reader_for(v28, pinned_wrong).fetch_window(SUPPLIER_INVOICES, START, END)
        assert v28.faults_served["validation"] == 1, "a pinned route is not negotiated away"


@pytest.mark.parametrize("text, message", [
    ("supplier_invoices", "is not entity=route"),
    ("invoices=document_date", "is not entity=route"),
    ("payments=updated_date", "payments has no window route 'updated_date'"),
])
def test_a_bad_pin_names_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(WorkdayConfigError, match=message):
        parse_pins(text)


def test_a_tenant_refusing_every_route_fails_that_entity_with_one_line(scenario: Scenario) -> None:
    # Payments asked only by updated times: v28's payment criteria have neither the log nor flat dates.
    stubborn = dataclasses.replace(PAYMENTS, routes=(TransactionLogWindow(), UpdatedDateWindow()))
    with WorkdaySandbox(scenario) as v28:
        with pytest.raises(WorkdayConfigError) as failure:
            reader_for(v28, RouteBook(None)).fetch_window(stubborn, START, END)
        message = str(failure.value)
        assert "\n" not in message
        assert "refuses every window route of payments" in message
        assert "transaction_log:" in message and "updated_date:" in message
        assert "MLC_WORKDAY_ROUTES" in message


def test_doctor_shows_each_entitys_route(scenario: Scenario, tmp_path: Path) -> None:
    with WorkdaySandbox(scenario) as v28:
        settings = {"WORKDAY_SOAP_URL": v28.soap_url, "WORKDAY_USERNAME": v28.username,
                    "WORKDAY_PASSWORD": v28.password, "MLC_DUCKDB_PATH": str(tmp_path / "w.duckdb")}
        details = {c.name: c.detail for c in run_doctor(settings.get) if c.name.startswith("workday ")}
    invoices = details["workday Resource_Management/Get_Supplier_Invoices"]
    assert "window route document_date (remembered; refused: transaction_log)" in invoices
    assert "window route document_date (remembered; refused: transaction_log)" in (
        details["workday Settlement_Services/Get_Payments"])
    assert "window route updated_date (remembered)" in details["workday Financial_Management/Get_Journals"]
    assert "window route whole (remembered)" in details["workday Financial_Management/Get_Payment_Terms"]
