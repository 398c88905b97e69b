"""The Workday SOAP client against the Workday sandbox, over a real socket."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from mlc_dagster.sandbox.scenario import Scenario, invoice_due_terms
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.workday.entities import SUPPLIER_INVOICES
from mlc_dagster.workday.errors import (
    WorkdayAuthenticationError,
    WorkdayPermissionError,
    WorkdayTransientError,
)
from mlc_dagster.workday.routes import RouteBook, RoutedReader
from mlc_dagster.workday.soap import RetryPolicy, WorkdaySoapClient

START = datetime(2026, 11, 29, 9, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.fixture
def workday(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    """A tenant whose invoice criteria have the transaction log (v46, unconfirmed): these tests are about
    the client's paging, retries and errors on its preferred route; the v28 routes are tested below and in
    tests/test_routes.py."""
    with WorkdaySandbox(scenario, profile="v46") as sandbox:
        yield sandbox


def client_for(sandbox: WorkdaySandbox, password: str | None = None, page_size: int = 999,
               sleeps: list[float] | None = None) -> WorkdaySoapClient:
    recorded = sleeps if sleeps is not None else []
    return WorkdaySoapClient(
        sandbox.soap_url, sandbox.username, password or sandbox.password, page_size=page_size,
        retry=RetryPolicy(attempts=4, initial_seconds=0.01, max_seconds=0.05), sleep=recorded.append,
        timeout=(2.0, 2.0),
    )


def rows_of(result) -> list[dict]:
    return result.rows.rows()


def test_window_matches_the_scenario_field_by_field(workday: WorkdaySandbox, scenario: Scenario) -> None:
    result = client_for(workday, page_size=7).fetch_window(SUPPLIER_INVOICES, START, END)
    expected = scenario.invoices_changed_between(START, END)
    assert expected, "the scenario should have changes in a business-hours window"
    got = {row["invoice_id"]: row for row in rows_of(result)}
    assert sorted(got) == sorted(v.supplier_invoice_id for v in expected)
    assert result.stats.pages == -(-len(expected) // 7)
    for version in expected:
        row = got[version.supplier_invoice_id]
        # The client hands over text; the warehouse types it (tests/test_warehouse.py).
        assert Decimal(row["amount"]) == version.control_amount_total
        assert row["currency"] == version.currency_id
        assert row["supplier_id"] == version.supplier_id
        assert row["approval_status"] == version.document_status_id
        assert row["invoice_date"][:10] == version.invoice_date.isoformat()
        # Workday sends no due date (decision 6): the terms or an override, resolved at load.
        terms_id, override = invoice_due_terms(version, scenario.suppliers[version.supplier_id])
        assert (row["payment_terms_id"] or None) == terms_id
        assert ((row["due_date_override"] or "")[:10] or None) == (None if override is None else override.isoformat())
        assert not row["due_date"]
    assert result.lines is not None
    assert len(result.lines.columns["line_id"]) == sum(len(v.lines) for v in expected)


def test_wrong_password_names_the_integration_system_user(workday: WorkdaySandbox) -> None:
    with pytest.raises(WorkdayAuthenticationError) as failure:
        client_for(workday, password="not-the-password").fetch_window(SUPPLIER_INVOICES, START, END)
    message = str(failure.value)
    assert "Integration System User" in message
    assert f"{workday.username}@{workday.tenant}" in message
    assert "not-the-password" not in message and workday.password not in message


@pytest.mark.parametrize("kind", ["http_503", "http_502", "http_504", "http_429", "drop", "malformed"])
def test_transient_faults_are_retried_and_the_window_completes(workday: WorkdaySandbox, kind: str) -> None:
    clean = client_for(workday, page_size=5).fetch_window(SUPPLIER_INVOICES, START, END)
    workday.inject("Get_Supplier_Invoices", kind, page=2, times=2, retry_after=1)
    sleeps: list[float] = []
    result = client_for(workday, page_size=5, sleeps=sleeps).fetch_window(SUPPLIER_INVOICES, START, END)
    assert result.stats.retries == 2
    assert rows_of(result) == rows_of(clean), "a retried page must not duplicate or lose rows"
    if kind == "http_429":
        assert min(sleeps) >= 1, "Retry-After must be honoured"


def test_persistent_outage_ends_as_a_clear_failure(workday: WorkdaySandbox) -> None:
    workday.inject("Get_Supplier_Invoices", "http_503", times=10)
    with pytest.raises(WorkdayTransientError, match="after 4 attempts"):
        client_for(workday).fetch_window(SUPPLIER_INVOICES, START, END)


def test_missing_permission_names_the_operation(workday: WorkdaySandbox) -> None:
    workday.inject("Get_Supplier_Invoices", "processing")
    with pytest.raises(WorkdayPermissionError) as failure:
        client_for(workday).fetch_window(SUPPLIER_INVOICES, START, END)
    assert "Resource_Management/Get_Supplier_Invoices" in str(failure.value)
    assert "domain permission" in str(failure.value)


def test_empty_window_gives_no_rows(workday: WorkdaySandbox) -> None:
    night = datetime(2026, 11, 29, 2, tzinfo=UTC)
    result = client_for(workday).fetch_window(SUPPLIER_INVOICES, night, night + timedelta(hours=1))
    assert len(result.rows) == 0
    assert result.stats.pages == 1


def test_pages_read_by_threads_arrive_in_order_with_the_rows_of_one_thread(workday: WorkdaySandbox) -> None:
    one = client_for(workday, page_size=4)
    one.parallel_pages = 1
    sequential = one.fetch_window(SUPPLIER_INVOICES, START, END)
    threaded = client_for(workday, page_size=4)
    assert threaded.parallel_pages == 2, "two page readers is the default"
    result = threaded.fetch_window(SUPPLIER_INVOICES, START, END)
    assert sequential.stats.pages >= 5, "the window should span several pages of 4"
    assert rows_of(result) == rows_of(sequential)
    assert result.lines is not None and sequential.lines is not None
    assert result.lines.rows() == sequential.lines.rows()
    assert (result.stats.pages, result.stats.api_calls) == (sequential.stats.pages, sequential.stats.api_calls)


def test_a_later_page_failing_for_good_stops_every_page_reader(workday: WorkdaySandbox) -> None:
    before = {t.name for t in threading.enumerate()}
    logged = len(workday.request_log)
    workday.inject("Get_Supplier_Invoices", "processing", page=3)
    with pytest.raises(WorkdayPermissionError, match="page 3"):
        client_for(workday, page_size=4).fetch_window(SUPPLIER_INVOICES, START, END)
    left = {t.name for t in threading.enumerate()} - before
    assert not [name for name in left if name.startswith("workday-page")], f"page readers left running: {left}"
    pages = [r.page or 0 for r in workday.request_log[logged:]]
    assert 3 in pages and max(pages) <= 3 + 2 * 2, f"no page asked for far past the failure: {pages}"


def test_page_one_retried_while_later_pages_are_already_being_read(workday: WorkdaySandbox) -> None:
    # A malformed page 1 still names the page count in its head, so pages 2.. are under way before its
    # parse fails; the retry must neither lose nor repeat a page.
    clean = client_for(workday, page_size=4).fetch_window(SUPPLIER_INVOICES, START, END)
    workday.inject("Get_Supplier_Invoices", "malformed", page=1)
    result = client_for(workday, page_size=4).fetch_window(SUPPLIER_INVOICES, START, END)
    assert result.stats.retries == 1
    assert rows_of(result) == rows_of(clean)
    assert (result.stats.pages, result.stats.api_calls) == (clean.stats.pages, clean.stats.api_calls + 1)


class _MisleadingHead(requests.Session):
    """Real requests to the sandbox; page 1's answer gains a comment naming a wrong page count, before
    its real Response_Results (a gateway may add comments; the parser drops them)."""

    def __init__(self, claimed_pages: int) -> None:
        super().__init__()
        self.claimed_pages = claimed_pages

    def post(self, url, data=None, **kwargs):  # type: ignore[no-untyped-def, override]
        response = super().post(url, data=data, **kwargs)
        if b"<wd:Page>1</wd:Page>" in data:
            body = response.raw.read()
            head = body.index(b"?>") + 2
            comment = f"<!-- <wd:Total_Pages>{self.claimed_pages}</wd:Total_Pages> -->".encode()
            response.raw = io.BytesIO(body[:head] + comment + body[head:])
        return response


@pytest.mark.parametrize("claimed", [1, 2, 40])
def test_a_page_count_hint_is_checked_against_the_parsed_page(workday: WorkdaySandbox, claimed: int) -> None:
    clean = client_for(workday, page_size=4).fetch_window(SUPPLIER_INVOICES, START, END)
    assert clean.stats.pages > 2
    before = {t.name for t in threading.enumerate()}
    misled = client_for(workday, page_size=4)
    misled.session = _MisleadingHead(claimed)
    result = misled.fetch_window(SUPPLIER_INVOICES, START, END)
    assert rows_of(result) == rows_of(clean)
    assert result.stats.pages == clean.stats.pages
    assert result.stats.api_calls >= clean.stats.api_calls  # pages read ahead in vain still count
    left = {t.name for t in threading.enumerate()} - before
    assert not [name for name in left if name.startswith("workday-page")], f"page readers left running: {left}"


def test_on_v28_the_invoice_window_is_negotiated_to_the_document_date_route(scenario: Scenario) -> None:
    with WorkdaySandbox(scenario) as strict:
        book = RouteBook(None)
        reader = RoutedReader(client_for(strict), book)
        result = reader.fetch_window(SUPPLIER_INVOICES, START, END)
        route = book.choice(strict.tenant, SUPPLIER_INVOICES).route
        assert route.kind == "document_date"
        assert strict.faults_served["validation"] == 1, "the transaction log is asked once, then remembered"
        got = {row["invoice_id"] for row in rows_of(result)}
        changed = scenario.invoices_changed_between(START, END)
        look_back = (START - timedelta(days=route.lookback_days)).date()
        recent = {v.supplier_invoice_id for v in changed if v.invoice_date >= look_back}
        assert recent and recent <= got, "every invoice changed in the window and dated in the look-back"
        # Those dated before the look-back (entered back-dated, or old ones approved today) come with the
        # sweep of open invoices in the day's last window.
        late = {v.supplier_invoice_id for v in changed if v.invoice_date < look_back}
        assert late, "the scenario has back-dated invoices changed in business hours"
        midnight = scenario.day_start + timedelta(days=1)
        last_window = reader.fetch_window(SUPPLIER_INVOICES, midnight - timedelta(hours=1), midnight)
        swept = {row["invoice_id"] for row in rows_of(last_window)}
        still_open = {i for i in late if scenario.supplier_invoices[i].latest.payment_status_id != "PAID"}
        assert still_open <= swept
        assert strict.faults_served["validation"] == 1
