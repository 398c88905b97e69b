"""Every injected Workday fault ends retried-and-complete, or as a clear failure that leaves the
window's earlier rows exactly as they were.

Each case runs on both tenant profiles, with a window route the tenant's schema accepts: on v46 the
preferred transaction-log criteria, on v28 (which does not declare them) the document-date route. The
only fault a case sees is the one it injected.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.warehouse import Warehouse
from mlc_dagster.workday.entities import SUPPLIER_INVOICES, WindowCriteria
from mlc_dagster.workday.errors import (
    WorkdayAuthenticationError,
    WorkdayError,
    WorkdayPermissionError,
    WorkdayTransientError,
    WorkdayValidationError,
)
from mlc_dagster.workday.soap import RetryPolicy, WorkdaySoapClient

START = datetime(2026, 11, 29, 10, tzinfo=UTC)
END = START + timedelta(hours=1)

RECOVERS = ["http_500", "http_502", "http_503", "http_504", "http_429", "slow", "drop", "malformed"]
FAILS = {
    "authentication": (WorkdayAuthenticationError, "Integration System User"),
    "processing": (WorkdayPermissionError, "domain permission"),
    "validation": (WorkdayValidationError, "Injected validation error"),  # the injected fault, not a schema refusal
    "http_503": (WorkdayTransientError, "after 3 attempts"),  # an outage longer than the retry budget
}


# tenant profile -> the window route its schema accepts for Get_Supplier_Invoices
ROUTES = {"v46": "transaction_log", "v28": "document_date"}


@pytest.fixture(params=sorted(ROUTES))
def tenant(request: pytest.FixtureRequest, scenario: Scenario) -> Iterator[tuple[WorkdaySandbox, WindowCriteria]]:
    with WorkdaySandbox(scenario, profile=request.param) as sandbox:
        yield sandbox, SUPPLIER_INVOICES.route(ROUTES[request.param])


def poll(sandbox: WorkdaySandbox, route: WindowCriteria, warehouse: Warehouse) -> int:
    client = WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, page_size=10,
                               timeout=(2.0, 1.0), retry=RetryPolicy(attempts=3, initial_seconds=0.01),
                               sleep=lambda _: None)
    with warehouse.stage(SUPPLIER_INVOICES) as stage:
        result = client.fetch_window(SUPPLIER_INVOICES, START, END, criteria=route, sink=stage)
        warehouse.replace_window(SUPPLIER_INVOICES, START, END, result.as_of, stage)
    return result.stats.retries


def window_rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(
            "SELECT * FROM raw.supplier_invoices r JOIN raw.supplier_invoice_lines l ON l.parent_wid = r.wid "
            "AND l.window_start = r.window_start ORDER BY r.wid, l.line_id").fetchall()


@pytest.mark.parametrize("kind", RECOVERS)
def test_transient_fault_on_a_middle_page_is_retried_to_the_same_rows(
        tenant: tuple[WorkdaySandbox, WindowCriteria], tmp_path: Path, kind: str) -> None:
    workday, route = tenant
    warehouse = Warehouse(tmp_path / "w.duckdb")
    assert poll(workday, route, warehouse) == 0
    clean = window_rows(tmp_path / "w.duckdb")
    assert clean and max(r.page or 0 for r in workday.request_log) >= 3, "a middle page to break"
    assert not workday.faults_served, "the clean poll's requests are all accepted"
    workday.inject("Get_Supplier_Invoices", kind, page=2, times=1, retry_after=1, delay=1.5)
    assert poll(workday, route, warehouse) == 1
    assert not workday.pending_faults, "the injected fault was served"
    assert set(workday.faults_served) <= {kind}, "no other fault"  # a slow answer is logged once it is sent
    assert window_rows(tmp_path / "w.duckdb") == clean


@pytest.mark.parametrize("kind", sorted(FAILS))
def test_lasting_fault_fails_clearly_and_keeps_the_earlier_rows(
        tenant: tuple[WorkdaySandbox, WindowCriteria], tmp_path: Path, kind: str) -> None:
    workday, route = tenant
    warehouse = Warehouse(tmp_path / "w.duckdb")
    poll(workday, route, warehouse)
    before = window_rows(tmp_path / "w.duckdb")
    assert before
    assert not workday.faults_served, "the clean poll's requests are all accepted"
    error, words = FAILS[kind]
    workday.inject("Get_Supplier_Invoices", kind, page=2, times=10)
    with pytest.raises(WorkdayError) as failure:
        poll(workday, route, warehouse)
    assert isinstance(failure.value, error)
    assert words.lower() in str(failure.value).lower()
    assert "Get_Supplier_Invoices page 2" in str(failure.value)
    assert workday.password not in str(failure.value)
    assert set(workday.faults_served) == {kind}, "failed on the injected fault, nothing else"
    assert window_rows(tmp_path / "w.duckdb") == before
