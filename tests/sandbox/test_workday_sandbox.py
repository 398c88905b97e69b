"""Protocol-level tests of the Workday sandbox: raw HTTP + lxml, no project client involved."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any
from xml.sax.saxutils import escape

import pytest
import requests
from lxml import etree

from mlc_dagster.sandbox.records import format_date, format_datetime
from mlc_dagster.sandbox.scenario import (
    DUE_FROM_ACCOUNT,
    DUE_TO_ACCOUNT,
    HIGH_VALUE_THRESHOLD,
    HOSTILE_SUPPLIER_NAME,
    NON_ASCII_SUPPLIER_NAMES,
    NORMAL_AMOUNT_CEILING,
    OVERDUE_REMINDER_MEMO,
    PAYMENT_TERM_DAYS,
    UNKNOWN_LEDGER_ACCOUNT,
    PaymentRunTruth,
    Scenario,
    SupplierInvoice,
    SupplierInvoiceVersion,
    invoice_due_terms,
    make_wid,
)
from mlc_dagster.sandbox.schema import SchemaModel
from mlc_dagster.sandbox.workday import WorkdaySandbox

WD = "urn:com.workday/bsvc"
NS = {"wd": WD, "env": "http://schemas.xmlsoap.org/soap/envelope/"}
DAY = date(2026, 11, 29)
PASSWORD = "sandbox-Passw0rd!"

# Byte for byte the fault of a real tenant (tonybaloney/workday tests/fixtures/errors/auth_error).
AUTH_FAULT = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body>'
    b'<SOAP-ENV:Fault xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"'
    b' xmlns:wd="urn:com.workday/bsvc"><faultcode>SOAP-ENV:Client.authenticationError</faultcode>'
    b"<faultstring>invalid username or password</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body>"
    b"</SOAP-ENV:Envelope>"
)


def at(hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, second, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def instant(text: str | None) -> datetime:
    """A dateTime of an answer (tenant-local, with offset and milliseconds) as an aware instant."""
    assert text is not None
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, text
    return moment


def envelope(body: str, *, username: str = "isu_mlc@acme_fin", password: str = PASSWORD) -> bytes:
    return f"""<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" xmlns:wd="{WD}">
  <env:Header>
    <wsse:Security env:mustUnderstand="1"
        xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <wsse:UsernameToken>
        <wsse:Username>{escape(username)}</wsse:Username>
        <wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText">{escape(password)}</wsse:Password>
      </wsse:UsernameToken>
    </wsse:Security>
  </env:Header>
  <env:Body>{body}</env:Body>
</env:Envelope>""".encode()


def invoices_request(
    *,
    updated_from: datetime | None = None,
    updated_through: datetime | None = None,
    invoice_date_from: date | None = None,
    invoice_date_to: date | None = None,
    payment_statuses: tuple[str, ...] = (),
    as_of: datetime | None = None,
    page: int | str | None = 1,
    count: int | str | None = 100,
) -> str:
    """A Get_Supplier_Invoices request, its criteria in schema order.

    The updated window (Transaction_Log_Criteria_Data) is declared by the v46 profile only, after
    every v28 criterion; a v28 tenant refuses it.
    """
    criteria = ""
    if invoice_date_from:
        criteria += f"<wd:Invoice_Date_On_or_After>{invoice_date_from}</wd:Invoice_Date_On_or_After>"
    if invoice_date_to:
        criteria += f"<wd:Invoice_Date_On_or_Before>{invoice_date_to}</wd:Invoice_Date_On_or_Before>"
    for status in payment_statuses:
        criteria += (f'<wd:Payment_Status_Reference><wd:ID wd:type="Document_Payment_Status_ID">{status}</wd:ID>'
                     "</wd:Payment_Status_Reference>")
    if updated_from or updated_through:
        window = ""
        if updated_from:
            window += f"<wd:Updated_From>{iso(updated_from)}</wd:Updated_From>"
        if updated_through:
            window += f"<wd:Updated_Through>{iso(updated_through)}</wd:Updated_Through>"
        criteria += (
            "<wd:Transaction_Log_Criteria_Data><wd:Transaction_Date_Range_Data>"
            f"{window}</wd:Transaction_Date_Range_Data></wd:Transaction_Log_Criteria_Data>"
        )
    response_filter = ""
    if as_of:
        response_filter += f"<wd:As_Of_Entry_DateTime>{iso(as_of)}</wd:As_Of_Entry_DateTime>"
    if page is not None:
        response_filter += f"<wd:Page>{page}</wd:Page>"
    if count is not None:
        response_filter += f"<wd:Count>{count}</wd:Count>"
    return (
        '<wd:Get_Supplier_Invoices_Request wd:version="v46.1">'
        f"<wd:Request_Criteria>{criteria}</wd:Request_Criteria>"
        f"<wd:Response_Filter>{response_filter}</wd:Response_Filter>"
        "<wd:Response_Group><wd:Include_Reference>true</wd:Include_Reference></wd:Response_Group>"
        "</wd:Get_Supplier_Invoices_Request>"
    )


@pytest.fixture
def url(sandbox: WorkdaySandbox) -> str:
    return f"{sandbox.soap_url}/Resource_Management/v46.1"


@pytest.fixture(scope="module")
def running_v46(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    with WorkdaySandbox(scenario, profile="v46") as sandbox:
        yield sandbox


@pytest.fixture
def v46(running_v46: WorkdaySandbox) -> Iterator[WorkdaySandbox]:
    """A tenant of the v46 profile: invoices and payments take the transaction-log window."""
    yield running_v46
    running_v46.clear_faults()
    running_v46.reset_counters()


@pytest.fixture
def v46_url(v46: WorkdaySandbox) -> str:
    return f"{v46.soap_url}/Resource_Management/v46.1"


def post(url: str, body: str, **kwargs: object) -> requests.Response:
    return requests.post(url, data=envelope(body, **kwargs), timeout=10)  # type: ignore[arg-type]


def parse(response: requests.Response) -> etree._Element:
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    return etree.fromstring(response.content)


def results(root: etree._Element) -> dict[str, int]:
    node = root.find(".//wd:Response_Results", NS)
    assert node is not None
    return {child.tag.split("}")[1]: int(child.text) for child in node}


def invoice_rows(root: etree._Element) -> list[dict[str, object]]:
    rows = []
    for inv in root.iterfind(".//wd:Response_Data/wd:Supplier_Invoice", NS):
        data = inv.find("wd:Supplier_Invoice_Data", NS)
        rows.append(
            {
                "wid": inv.findtext("wd:Supplier_Invoice_Reference/wd:ID[@wd:type='WID']", namespaces=NS),
                "id": data.findtext("wd:Supplier_Invoice_ID", namespaces=NS),
                "status": data.findtext(
                    "wd:Invoice_Document_Status_Reference/wd:ID[@wd:type='Document_Status_ID']", namespaces=NS
                ),
                "supplier_name": data.find("wd:Supplier_Reference", NS).get(f"{{{WD}}}Descriptor"),
                "currency": data.findtext(
                    "wd:Currency_Reference/wd:ID[@wd:type='Currency_ID']", namespaces=NS
                ),
                "on_hold": data.findtext("wd:On_Hold", namespaces=NS),
                "amount": Decimal(data.findtext("wd:Control_Amount_Total", namespaces=NS)),
                "memo": data.findtext("wd:Memo", namespaces=NS),
                "terms": data.findtext(
                    "wd:Payment_Terms_Reference/wd:ID[@wd:type='Payment_Terms_ID']", namespaces=NS
                ),
                "due_override": data.findtext("wd:Due_Date_Override", namespaces=NS),
                "invoice_date": data.findtext("wd:Invoice_Date", namespaces=NS),
                "lines": [
                    Decimal(x)
                    for x in data.xpath(
                        "wd:Invoice_Line_Replacement_Data/wd:Extended_Amount/text()", namespaces=NS
                    )
                ],
            }
        )
    return rows


def expected_row(v: SupplierInvoiceVersion, scenario: Scenario, as_of: datetime) -> dict[str, object]:
    supplier = scenario.suppliers[v.supplier_id].as_of(as_of)
    assert supplier is not None
    terms, override = invoice_due_terms(v, scenario.suppliers[v.supplier_id])
    return {
        "wid": v.wid,
        "id": v.supplier_invoice_id,
        "status": v.document_status_id,
        "supplier_name": supplier.name,  # the descriptor is the name as of the as-of moment
        "currency": v.currency_id,
        "on_hold": "1" if v.on_hold else "0",
        "amount": v.control_amount_total,
        "memo": v.memo,
        "terms": terms,
        "due_override": None if override is None else format_date(override),
        "invoice_date": format_date(v.invoice_date),
        "lines": [line.extended_amount for line in v.lines],
    }


def fault_code(response: requests.Response) -> str:
    root = etree.fromstring(response.content)
    return root.findtext(".//faultcode")


# --------------------------------------------------------------------------- scenario


def test_scenario_is_deterministic() -> None:
    a = Scenario.generate(seed=11, scale=0.05, day=DAY)
    b = Scenario.generate(seed=11, scale=0.05, day=DAY)
    c = Scenario.generate(seed=12, scale=0.05, day=DAY)
    assert a == b
    assert a.supplier_invoices != c.supplier_invoices
    assert a.companies["ACME_US"].wid != c.companies["ACME_US"].wid
    wids = [inv.wid for inv in a.supplier_invoices.values()] + [s.wid for s in a.suppliers.values()]
    assert len(set(wids)) == len(wids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", wid) for wid in wids)


def day_invoices(scenario: Scenario) -> list[SupplierInvoice]:
    return [inv for inv in scenario.supplier_invoices.values() if inv.created_at >= scenario.day_start]


def test_scenario_sizes_scale_and_generation_is_fast() -> None:
    small = Scenario.generate(scale=0.001)
    assert len(small.suppliers) == 20 and len(day_invoices(small)) == 30
    started = time.perf_counter()
    full = Scenario.generate(scale=1.0)
    elapsed = time.perf_counter() - started
    assert len(day_invoices(full)) == 5000 and len(full.suppliers) == 500
    assert 400 <= len(full.supplier_invoices) - 5000 <= 1000  # the thin history
    assert 900 <= len(full.purchase_orders) - sum(
        1 for inv in day_invoices(full) if inv.latest.purchase_order_id
    ) <= 1100
    assert 300 <= len(full.payments) <= 500
    assert len(full.journals) == 300 and len(full.cost_centers) == 40
    assert 145 <= len(full.account_set.latest.ledger_accounts) <= 160
    assert elapsed < 2.0  # about 0.5 s here; generous for a shared machine


def test_scenario_contents(scenario: Scenario) -> None:
    assert len({c.currency_id for c in scenario.companies.values()}) >= 2
    names = [s.name for s in scenario.suppliers.values()]
    assert set(NON_ASCII_SUPPLIER_NAMES) <= set(names)
    assert names.count(HOSTILE_SUPPLIER_NAME) == 1
    assert sum("<" in n for n in names) == 1
    invoiced_suppliers = {inv.latest.supplier_id for inv in scenario.supplier_invoices.values()}
    hostile = next(s for s in scenario.suppliers.values() if s.name == HOSTILE_SUPPLIER_NAME)
    assert hostile.supplier_id in invoiced_suppliers

    invoices = day_invoices(scenario)
    credit_memos = [inv for inv in invoices if inv.credit_memo]
    assert len(credit_memos) >= 2
    assert all(inv.latest.control_amount_total < 0 for inv in credit_memos)
    assert any(inv.latest.currency_id == "JPY" for inv in invoices)

    day_start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    for inv in invoices:
        first = inv.versions[0]
        assert first.document_status_id == "DRAFT" and first.version == 1
        assert at(8) <= first.entered_at < at(18)
        times = [v.entered_at for v in inv.versions]
        assert times == sorted(set(times))  # strictly increasing
        assert all(
            t.utcoffset() == timedelta(0) and day_start <= t < day_start + timedelta(days=1) for t in times
        )
        # Unpaid until a settlement run pays it, after its approval.
        assert [v.payment_status_id for v in inv.versions[:-1]] == ["UNPAID"] * (len(inv.versions) - 1)
        if inv.latest.payment_status_id != "UNPAID":
            assert inv.latest.payment_status_id == "PAID" and inv.versions[-2].document_status_id == "APPROVED"
        for v in inv.versions:
            decimals = 0 if v.currency_id == "JPY" else 2
            assert 1 <= len(v.lines) <= 3
            assert v.control_amount_total == sum(line.extended_amount for line in v.lines)
            assert v.control_amount_total.as_tuple().exponent == -decimals
            for line in v.lines:
                assert line.extended_amount == line.quantity * line.unit_cost
                assert line.extended_amount.as_tuple().exponent == -decimals
            assert (v.due_date - v.invoice_date).days in (30, 45, 60)
    statuses = {inv.latest.document_status_id for inv in invoices}
    assert {"DRAFT", "IN_PROGRESS", "APPROVED"} <= statuses
    assert any(inv.latest.on_hold for inv in invoices)
    assert any(len({v.control_amount_total for v in inv.versions}) > 1 for inv in invoices)  # corrections


def test_high_value_ground_truth_matches_data(scenario: Scenario) -> None:
    planted = scenario.ground_truth["high_value_invoice"]
    assert len(planted) >= 2
    found = {
        inv.supplier_invoice_id: inv.latest.control_amount_total
        for inv in scenario.supplier_invoices.values()
        if inv.latest.control_amount_total >= HIGH_VALUE_THRESHOLD
    }
    assert found == planted
    for inv in scenario.supplier_invoices.values():
        for v in inv.versions:
            if inv.supplier_invoice_id in planted:
                assert HIGH_VALUE_THRESHOLD <= v.control_amount_total <= Decimal(2_000_000)
            else:
                assert abs(v.control_amount_total) < NORMAL_AMOUNT_CEILING


def test_invoices_changed_between_uses_as_of_versions(scenario: Scenario) -> None:
    rows = scenario.invoices_changed_between(at(10), at(12), as_of=at(12))
    assert rows == sorted(rows, key=lambda v: v.supplier_invoice_id)
    for v in rows:
        invoice = scenario.supplier_invoices[v.supplier_invoice_id]
        assert v == invoice.as_of(at(12))
        assert any(at(10) <= t <= at(12) for t in invoice.entry_times)
    # Later as-of: same invoices, possibly newer versions.
    later = scenario.invoices_changed_between(at(10), at(12), as_of=at(23))
    assert [v.supplier_invoice_id for v in later] == [v.supplier_invoice_id for v in rows]
    assert any(a.version != b.version for a, b in zip(rows, later, strict=True))


# --------------------------------------------------------------------------- reading


def test_paging_with_pinned_as_of_returns_the_window_exactly_once(
    v46: WorkdaySandbox, v46_url: str, scenario: Scenario
) -> None:
    sandbox, url = v46, v46_url
    start, end, as_of = at(10), at(14), at(16)
    expected = scenario.invoices_changed_between(start, end, as_of)
    assert len(expected) > 100
    count = 37
    session = requests.Session()
    rows: list[dict[str, object]] = []
    page, total_pages = 1, None
    while total_pages is None or page <= total_pages:
        body = invoices_request(updated_from=start, updated_through=end, as_of=as_of, page=page, count=count)
        root = parse(session.post(url, data=envelope(body), timeout=10))
        info = results(root)
        total_pages = info["Total_Pages"]
        assert info["Total_Results"] == len(expected)
        assert info["Page"] == page
        assert info["Page_Results"] == len(invoice_rows(root))
        echoed = root.findtext(".//wd:Response_Filter/wd:As_Of_Entry_DateTime", namespaces=NS)
        assert instant(echoed) == as_of and echoed == "2026-11-29T08:00:00.000-08:00"  # tenant-local
        echo = root.find(".//wd:Request_Criteria//wd:Updated_From", NS)
        assert echo is not None and echo.text == iso(start)  # criteria are echoed as sent
        rows.extend(invoice_rows(root))
        page += 1
    assert total_pages == -(-len(expected) // count)
    assert [r["id"] for r in rows] == [v.supplier_invoice_id for v in expected]  # once each, ordered
    assert rows == [expected_row(v, scenario, as_of) for v in expected]
    assert sandbox.requests_by_operation["Get_Supplier_Invoices"] == total_pages
    assert {rec.as_of for rec in sandbox.request_log} == {as_of}


def test_same_window_and_as_of_gives_identical_answer(v46_url: str) -> None:
    body = invoices_request(updated_from=at(9), updated_through=at(11), as_of=at(12), count=999)
    first = post(v46_url, body)
    assert first.status_code == 200 and results(etree.fromstring(first.content))["Total_Results"] > 0
    assert first.content == post(v46_url, body).content


def test_as_of_hides_later_versions(v46_url: str, scenario: Scenario) -> None:
    body = invoices_request(updated_from=at(9), updated_through=at(11), as_of=at(10), count=999)
    rows = invoice_rows(parse(post(v46_url, body)))
    assert rows == [
        expected_row(v, scenario, at(10)) for v in scenario.invoices_changed_between(at(9), at(11), at(10))
    ]
    # The same window seen later shows newer versions of some of the same invoices.
    later = invoice_rows(parse(post(v46_url, body.replace(iso(at(10)), iso(at(23))))))
    assert later == [
        expected_row(v, scenario, at(23)) for v in scenario.invoices_changed_between(at(9), at(11), at(23))
    ]
    by_id = {r["id"]: r for r in later}
    assert any(by_id.get(r["id"]) not in (None, r) for r in rows)


def test_empty_window_and_page_past_the_end_have_no_response_data(v46_url: str) -> None:
    url = v46_url
    root = parse(post(url, invoices_request(updated_from=at(2), updated_through=at(3), as_of=at(23))))
    assert results(root)["Total_Results"] == 0
    assert root.find(".//wd:Response_Data", NS) is None

    root = parse(
        post(url, invoices_request(updated_from=at(8), updated_through=at(9), as_of=at(23), page=999))
    )
    info = results(root)
    assert info["Total_Results"] > 0 and info["Page_Results"] == 0 and info["Page"] == 999
    assert root.find(".//wd:Response_Data", NS) is None


def test_invoice_date_window_and_no_criteria(url: str, scenario: Scenario) -> None:
    body = invoices_request(
        invoice_date_from=DAY - timedelta(days=2), invoice_date_to=DAY, as_of=at(23), count=999
    )
    rows = invoice_rows(parse(post(url, body)))
    expected = [
        v for v in scenario.invoices_as_of(at(23)) if DAY - timedelta(days=2) <= v.invoice_date <= DAY
    ]
    assert [r["id"] for r in rows] == [v.supplier_invoice_id for v in expected]

    root = parse(post(url, invoices_request(as_of=at(12), count=999)))
    assert results(root)["Total_Results"] == len(scenario.invoices_as_of(at(12)))


def test_defaults_and_echo(url: str, scenario: Scenario) -> None:
    root = parse(post(url, invoices_request(page=None, count=None)))
    info = results(root)
    assert info["Total_Results"] == len(scenario.supplier_invoices)  # as-of defaults to now
    assert info["Page_Results"] == 100 and info["Page"] == 1
    echoed = root.findtext(".//wd:Response_Filter/wd:As_Of_Entry_DateTime", namespaces=NS)
    assert abs(datetime.fromisoformat(echoed) - datetime.now(UTC)) < timedelta(seconds=30)
    response = root.find(".//wd:Get_Supplier_Invoices_Response", NS)
    assert response is not None and response.get(f"{{{WD}}}version") == "v46.1"


def test_hostile_and_non_ascii_names_survive_the_wire(url: str, scenario: Scenario) -> None:
    rows = invoice_rows(parse(post(url, invoices_request(as_of=at(23), count=999))))
    names = {r["supplier_name"] for r in rows}
    assert HOSTILE_SUPPLIER_NAME in names
    assert "株式会社ヤマダ商事" in names
    assert any("<" in str(r["memo"]) or "&" in str(r["memo"]) for r in rows)


def test_request_references(url: str, scenario: Scenario) -> None:
    invoice = next(iter(scenario.supplier_invoices.values()))
    body = (
        "<wd:Get_Supplier_Invoices_Request><wd:Request_References>"
        f'<wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">{invoice.wid}</wd:ID>'
        "</wd:Supplier_Invoice_Reference>"
        "</wd:Request_References><wd:Response_Filter>"
        f"<wd:As_Of_Entry_DateTime>{iso(at(23))}</wd:As_Of_Entry_DateTime></wd:Response_Filter>"
        "</wd:Get_Supplier_Invoices_Request>"
    )
    rows = invoice_rows(parse(post(url, body)))
    assert [r["wid"] for r in rows] == [invoice.wid]
    missing = body.replace(invoice.wid, "0" * 32)
    response = post(url, missing)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"


TOLERANT_BODY = f"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
    xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">
  <s:Header>
    <o:Security s:mustUnderstand="1"
        xmlns:o="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      <o:UsernameToken wsu:Id="UsernameToken-42">
        <o:Username> isu_mlc@acme_fin </o:Username>
        <o:Password>{PASSWORD}</o:Password>
        <o:Nonce EncodingType="...#Base64Binary">bm9uY2U=</o:Nonce>
        <wsu:Created>2026-11-29T10:00:00Z</wsu:Created>
      </o:UsernameToken>
    </o:Security>
    <bsvc:Workday_Common_Header xmlns:bsvc="{WD}"><bsvc:Include_Reference_Descriptors_In_Response>1
      </bsvc:Include_Reference_Descriptors_In_Response></bsvc:Workday_Common_Header>
  </s:Header>
  <s:Body wsu:Id="body-1">
    <ns0:Get_Supplier_Invoices_Request xmlns:ns0="{WD}" ns0:version="v46.1">
      <ns0:Request_Criteria>UNKNOWN
        <ns0:Transaction_Log_Criteria_Data>
          <ns0:Transaction_Date_Range_Data>
            <ns0:Updated_From> 2026-11-29T10:00:00.000+00:00 </ns0:Updated_From>
            <ns0:Updated_Through>2026-11-29T12:00:00+01:00</ns0:Updated_Through>
          </ns0:Transaction_Date_Range_Data>
        </ns0:Transaction_Log_Criteria_Data>
      </ns0:Request_Criteria>
      <ns0:Response_Filter>
        <ns0:As_Of_Entry_DateTime>2026-11-29T03:00:00.000-08:00</ns0:As_Of_Entry_DateTime>
        <ns0:Count>999</ns0:Count>
      </ns0:Response_Filter>
    </ns0:Get_Supplier_Invoices_Request>
  </s:Body>
</s:Envelope>"""


def test_tolerates_other_prefixes_nonce_wsu_ids_and_offsets(v46_url: str, scenario: Scenario) -> None:
    body = TOLERANT_BODY.replace("UNKNOWN", "")
    rows = invoice_rows(parse(requests.post(v46_url, data=body.encode(), timeout=10)))
    expected = scenario.invoices_changed_between(at(10), at(11), at(11))
    assert expected and [r["id"] for r in rows] == [v.supplier_invoice_id for v in expected]


def test_unknown_elements_are_refused_with_their_xpath(v46_url: str) -> None:
    body = TOLERANT_BODY.replace("UNKNOWN", "<ns0:Some_Future_Element>ignored</ns0:Some_Future_Element>")
    response = requests.post(v46_url, data=body.encode(), timeout=10)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"
    root = etree.fromstring(response.content)
    assert root.findtext(".//wd:Validation_Error/wd:Xpath", namespaces=NS) == (
        "/wd:Get_Supplier_Invoices_Request[1]/wd:Request_Criteria[1]/wd:Some_Future_Element[1]")
    assert "Some_Future_Element" in root.findtext(".//wd:Validation_Error/wd:Message", namespaces=NS)
    # Out of schema order is refused too: the Response_Filter's Count before its As_Of_Entry_DateTime.
    swapped = TOLERANT_BODY.replace("UNKNOWN", "").replace(
        "<ns0:As_Of_Entry_DateTime>2026-11-29T03:00:00.000-08:00</ns0:As_Of_Entry_DateTime>", "").replace(
        "<ns0:Count>999</ns0:Count>",
        "<ns0:Count>999</ns0:Count><ns0:As_Of_Entry_DateTime>2026-11-29T11:00:00Z</ns0:As_Of_Entry_DateTime>")
    response = requests.post(v46_url, data=swapped.encode(), timeout=10)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"
    xpath = etree.fromstring(response.content).findtext(".//wd:Validation_Error/wd:Xpath", namespaces=NS)
    assert xpath.startswith("/wd:Get_Supplier_Invoices_Request[1]/wd:Response_Filter[1]/"), xpath


# --------------------------------------------------------------------------- authentication


def test_wrong_password_is_an_authentication_fault(sandbox: WorkdaySandbox, url: str) -> None:
    response = post(url, invoices_request(), password="wrong")
    assert response.status_code == 500
    assert response.content == AUTH_FAULT
    response = post(url, invoices_request(), username="isu_mlc")  # tenant suffix missing
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.authenticationError"
    assert sandbox.faults_served["authentication"] == 2


def test_password_change_and_bearer_tokens(sandbox: WorkdaySandbox, url: str) -> None:
    sandbox.set_password("n3w-Passw0rd")
    assert post(url, invoices_request()).status_code == 500
    assert post(url, invoices_request(), password="n3w-Passw0rd").status_code == 200
    assert sandbox.password == "n3w-Passw0rd"

    no_header = (
        f'<env:Envelope xmlns:env="{NS["env"]}" xmlns:wd="{WD}">'
        f"<env:Body>{invoices_request()}</env:Body></env:Envelope>"
    )
    assert requests.post(url, data=no_header.encode(), timeout=10).status_code == 500
    sandbox.add_bearer_token("tok-123")
    ok = requests.post(url, data=no_header.encode(), headers={"Authorization": "Bearer tok-123"}, timeout=10)
    assert ok.status_code == 200 and sandbox.request_log[-1].authenticated_with == "bearer"
    bad = requests.post(url, data=no_header.encode(), headers={"Authorization": "Bearer nope"}, timeout=10)
    assert bad.status_code == 500 and fault_code(bad) == "SOAP-ENV:Client.authenticationError"
    sandbox.revoke_bearer_token("tok-123")


# --------------------------------------------------------------------------- validation and routing


@pytest.mark.parametrize(
    ("page", "count", "message"),
    [
        (0, 100, "Page number cannot be zero"),
        (-1, 100, "Page number cannot be negative"),
        (1, 1000, "Count cannot be greater than 999"),
        (1, 0, "Count must be at least 1"),
        ("one", 100, "Invalid value 'one' for element 'Page'"),  # the schema's decimal check comes first
        (1.5, 100, "Invalid value for Page: '1.5'"),
    ],
)
def test_paging_validation_faults(url: str, page: int | str, count: int, message: str) -> None:
    response = post(url, invoices_request(page=page, count=count))
    assert response.status_code == 500
    root = etree.fromstring(response.content)
    assert root.findtext(".//faultcode") == "SOAP-ENV:Client.validationError"
    assert root.findtext(".//faultstring") == f"Validation error occurred. {message}"
    assert root.findtext(".//wd:Validation_Error/wd:Message", namespaces=NS) == message
    assert root.findtext(".//wd:Validation_Error/wd:Xpath", namespaces=NS).endswith("[1]")


def test_malformed_request_xml_is_a_validation_fault(url: str) -> None:
    response = requests.post(url, data=b"<env:Envelope><unclosed>", timeout=10)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"
    bad_date = invoices_request(invoice_date_from=DAY).replace(DAY.isoformat(), "yesterday")
    response = post(url, bad_date)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"
    root = etree.fromstring(response.content)
    assert root.findtext(".//wd:Validation_Error/wd:Xpath", namespaces=NS) == (
        "/wd:Get_Supplier_Invoices_Request[1]/wd:Request_Criteria[1]/wd:Invoice_Date_On_or_After[1]")
    assert "yesterday" in root.findtext(".//wd:Validation_Error/wd:Message", namespaces=NS)


def test_routing(sandbox: WorkdaySandbox) -> None:
    body = envelope(invoices_request())
    base = sandbox.base_url
    for path in (
        "/ccx/service/other_tenant/Resource_Management/v46.1",
        "/ccx/service/acme_fin/No_Such_Service/v46.1",
        "/ccx/service/acme_fin/Resource_Management/v12.0",
        "/somewhere/else",
    ):
        assert requests.post(base + path, data=body, timeout=10).status_code == 404, path
    unknown_op = envelope("<wd:Get_Unicorns_Request/>")
    response = requests.post(f"{sandbox.soap_url}/Resource_Management/v46.1", data=unknown_op, timeout=10)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"
    health = requests.get(f"{base}/_sandbox/health", timeout=10)
    assert health.status_code == 200 and health.json()["ok"] is True and health.json()["tenant"] == "acme_fin"


# --------------------------------------------------------------------------- fault injection


@pytest.mark.parametrize(
    ("kind", "status", "check"),
    [
        ("authentication", 500, "SOAP-ENV:Client.authenticationError"),
        ("processing", 500, "SOAP-ENV:Server.processingError"),
        ("validation", 500, "SOAP-ENV:Client.validationError"),
        ("http_500", 500, "html"),
        ("http_502", 502, "html"),
        ("http_503", 503, "html"),
        ("http_504", 504, "html"),
        ("http_429", 429, "html"),
    ],
)
def test_injected_fault_then_service_resumes(
    sandbox: WorkdaySandbox, url: str, kind: str, status: int, check: str
) -> None:
    body = invoices_request(as_of=at(12))
    sandbox.inject("Get_Supplier_Invoices", kind, times=2, retry_after=7)
    for _ in range(2):
        response = post(url, body)
        assert response.status_code == status
        if check == "html":
            assert response.headers["Content-Type"].startswith("text/html")
            assert b"<html>" in response.content
        else:
            assert fault_code(response) == check
        if kind == "http_429":
            assert response.headers["Retry-After"] == "7"
    if kind == "processing":
        root = etree.fromstring(response.content)
        assert (
            root.findtext(".//faultstring")
            == "Processing error occurred. The task submitted is not authorized."
        )
        detail = root.findtext(".//wd:Processing_Fault/wd:Detail_Message", namespaces=NS)
        assert detail == "The task submitted is not authorized."
    assert post(url, body).status_code == 200
    assert sandbox.faults_served[kind] == 2
    assert sandbox.requests_by_operation["Get_Supplier_Invoices"] == 3
    assert sandbox.pending_faults == []


def test_injected_fault_on_one_page_only(sandbox: WorkdaySandbox, url: str) -> None:
    sandbox.inject("Get_Supplier_Invoices", "http_503", page=2)
    assert post(url, invoices_request(as_of=at(12), page=1, count=10)).status_code == 200
    assert post(url, invoices_request(as_of=at(12), page=2, count=10)).status_code == 503
    assert post(url, invoices_request(as_of=at(12), page=2, count=10)).status_code == 200
    sandbox.inject("Get_Suppliers", "http_503")  # another operation: never matches here
    assert post(url, invoices_request(as_of=at(12))).status_code == 200
    sandbox.clear_faults()
    assert sandbox.pending_faults == []


def test_slow(sandbox: WorkdaySandbox, url: str) -> None:
    sandbox.inject("Get_Supplier_Invoices", "slow", delay=0.4)
    started = time.perf_counter()
    assert post(url, invoices_request(as_of=at(12))).status_code == 200
    assert time.perf_counter() - started >= 0.4
    with pytest.raises(requests.exceptions.Timeout):
        sandbox.inject("Get_Supplier_Invoices", "slow", delay=0.5)
        requests.post(url, data=envelope(invoices_request()), timeout=0.2)
    time.sleep(0.4)  # let the slow handler finish before the next test counts requests


def test_drop_truncates_the_body_and_closes(sandbox: WorkdaySandbox, url: str) -> None:
    sandbox.inject("Get_Supplier_Invoices", "drop")
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        post(url, invoices_request(as_of=at(12), count=200))
    assert post(url, invoices_request(as_of=at(12), count=200)).status_code == 200
    assert sandbox.faults_served["drop"] == 1


def test_malformed_response(sandbox: WorkdaySandbox, url: str) -> None:
    sandbox.inject("*", "malformed")
    response = post(url, invoices_request(as_of=at(12)))
    assert response.status_code == 200
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)
    parse(post(url, invoices_request(as_of=at(12))))


def test_concurrent_requests_and_fault_accounting(
    sandbox: WorkdaySandbox, url: str, scenario: Scenario
) -> None:
    sandbox.inject("Get_Supplier_Invoices", "http_503", times=3)
    body = envelope(invoices_request(invoice_date_from=DAY - timedelta(days=30), invoice_date_to=DAY, as_of=at(18),
                                     count=50))
    statuses: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        with requests.Session() as session:
            for _ in range(4):
                response = session.post(url, data=body, timeout=10)
                if response.status_code == 200:
                    assert results(etree.fromstring(response.content))["Page_Results"] == 50
                with lock:
                    statuses.append(response.status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 32
    assert statuses.count(503) == 3 and statuses.count(200) == 29
    assert sandbox.requests_by_operation["Get_Supplier_Invoices"] == 32


def test_inject_rejects_unknown_kinds(sandbox: WorkdaySandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.inject("Get_Supplier_Invoices", "teapot")


def test_stop_closes_the_port(scenario: Scenario) -> None:
    sandbox = WorkdaySandbox(scenario).start()
    health = f"{sandbox.base_url}/_sandbox/health"
    with requests.Session() as session:
        assert session.get(health, timeout=5).status_code == 200
        sandbox.stop()
        with pytest.raises(requests.exceptions.ConnectionError):
            session.get(health, timeout=5)


# --------------------------------------------------------------------------- ground truth
# Each check re-derives a ground-truth key from the records with an independent detector, over
# several seeds and scales (the tiny one exercises the minimum counts).


@pytest.fixture(
    scope="module", params=[(7, 0.1), (3, 1.0), (11, 0.001)], ids=["seed7-x0.1", "seed3-x1", "seed11-x0.001"]
)
def any_scenario(request: pytest.FixtureRequest, scenario: Scenario) -> Scenario:
    seed, scale = request.param
    return scenario if (seed, scale) == (7, 0.1) else Scenario.generate(seed=seed, scale=scale, day=DAY)


def test_every_collection_is_versioned_in_utc_and_ordered(any_scenario: Scenario) -> None:
    s = any_scenario
    for name in ("suppliers", "cost_centers", "account_sets", "supplier_invoices", "purchase_orders", "payments",
                 "journals"):
        records = s.collection(name)
        assert records, name
        assert list(records) == sorted(records), name  # ID order
        for key, record in records.items():
            times = [v.entered_at for v in record.versions]
            assert times == sorted(set(times)) and record.entry_times == tuple(times), (name, key)
            assert all(t.utcoffset() == timedelta(0) and t <= s.day_end for t in times), (name, key)
            assert {v.wid for v in record.versions} == {record.wid}, (name, key)
            assert [v.version for v in record.versions] == list(range(1, len(times) + 1)), (name, key)
    with pytest.raises(KeyError):
        s.collection("invoices")
    wids = [r.wid for name in ("suppliers", "supplier_invoices", "purchase_orders", "payments", "journals")
            for r in s.collection(name).values()]
    assert len(set(wids)) == len(wids)


def test_changed_between_matches_invoices_changed_between(scenario: Scenario) -> None:
    assert scenario.changed_between("supplier_invoices", at(9), at(12), at(15)) == (
        scenario.invoices_changed_between(at(9), at(12), at(15))
    )
    changed = scenario.changed_between("suppliers", scenario.day_start, scenario.day_end)
    assert changed and all(v.version > 1 for v in changed)
    assert len(scenario.records_as_of("cost_centers", at(12))) == 40


def test_overdue_invoice_ground_truth(any_scenario: Scenario) -> None:
    s = any_scenario
    found = {
        invoice_id: (DAY - inv.latest.due_date).days
        for invoice_id, inv in s.supplier_invoices.items()
        if inv.latest.payment_status_id in ("UNPAID", "PARTIALLY_PAID") and inv.latest.due_date < DAY
    }
    assert found == s.ground_truth["overdue_invoice"] and len(found) >= 2
    assert all(days >= 1 for days in found.values())
    overdue = [s.supplier_invoices[i].latest for i in found]
    assert {v.payment_status_id for v in overdue} == {"UNPAID", "PARTIALLY_PAID"}
    history = [inv for inv in s.supplier_invoices.values() if inv.created_at < s.day_start]
    assert all(s.day_start - timedelta(days=70) < inv.created_at for inv in history)
    assert all(DAY - timedelta(days=60) <= inv.latest.invoice_date < DAY for inv in history)
    if s.scale >= 0.1:
        assert 0.01 <= len(found) / len(history) <= 0.03  # about 2% of the history is overdue
    # Planted overdue invoices are history; a poll of the day sees them through a version of the day.
    assert all(s.supplier_invoices[i].created_at < s.day_start for i in found)


@pytest.mark.parametrize("seed, scale", [(11, 0.1), (7, 0.1), (3, 1.0), (11, 0.001)])
def test_planted_invoices_have_a_version_entered_on_the_day(scenario: Scenario, seed: int, scale: float) -> None:
    """A poller of the scenario day alone sees every planted overdue invoice and duplicate."""
    s = scenario if (seed, scale) == (7, 0.1) else Scenario.generate(seed=seed, scale=scale, day=DAY)
    truth = s.ground_truth
    planted = set(truth["overdue_invoice"]) | {i for pair in truth["duplicate_invoice"] for i in pair}
    for invoice_id in sorted(planted):
        assert any(v.entered_at.date() == DAY for v in s.supplier_invoices[invoice_id].versions), invoice_id
    # The unpaid overdue ones got a memo-only version in business hours; nothing else changed.
    reminded = 0
    for invoice_id in truth["overdue_invoice"]:
        invoice = s.supplier_invoices[invoice_id]
        if invoice.latest.payment_status_id != "UNPAID":
            continue
        *earlier, previous, last = invoice.versions
        assert all(v.entered_at < s.day_start for v in (*earlier, previous)), invoice_id
        assert at(8) <= last.entered_at < at(18) and last.memo == OVERDUE_REMINDER_MEMO != previous.memo
        assert last == replace(previous, version=previous.version + 1, entered_at=last.entered_at, memo=last.memo)
        reminded += 1
    assert reminded
    # Late approvals (history invoices approved in the day's afternoon) get that approval as their one day version.
    late = set(truth.get("late_approved_invoice", []))  # type: ignore[call-overload]
    for invoice_id in late:
        *_, previous, last = s.supplier_invoices[invoice_id].versions
        assert (previous.document_status_id, last.document_status_id) == ("IN_PROGRESS", "APPROVED"), invoice_id
        assert previous.entered_at < s.day_start and at(13) <= last.entered_at < at(16), invoice_id
    # Nothing else got one: every other history invoice is untouched or settled by a payment.
    paid = {r.document_id for p in s.payments.values() for r in p.latest.remittances}
    for invoice_id, invoice in s.supplier_invoices.items():
        if invoice.created_at < s.day_start and invoice_id not in planted | late:
            assert [v.entered_at >= s.day_start for v in invoice.versions] == (
                [False, True] if invoice_id in paid else [False]), invoice_id


def test_journal_ground_truth(any_scenario: Scenario) -> None:
    s = any_scenario
    accounts = s.ledger_accounts_as_of(s.day_end)
    closed = {cid for cid, cc in s.cost_centers.items() if not cc.active}
    unbalanced, header, retired, intercompany = [], [], [], []
    for journal_id, journal in s.journals.items():
        v = journal.latest
        assert v.journal_number == journal_id and v.accounting_date == DAY
        assert {x.lines for x in journal.versions} == {v.lines}  # only the status changes
        assert [x.journal_status_id for x in journal.versions] in (["DRAFT"], ["DRAFT", "POSTED"])
        assert 2 <= len(v.lines) <= 6
        assert all((line.debit_amount == 0) != (line.credit_amount == 0) for line in v.lines)
        assert all(line.debit_amount >= 0 and line.credit_amount >= 0 for line in v.lines)
        assert all(line.currency_id == v.currency_id for line in v.lines)
        assert all(line.cost_center_id not in closed for line in v.lines)
        debits, credits = v.line_debits, v.line_credits
        if debits != credits:
            unbalanced.append(journal_id)
        if (v.total_ledger_debits, v.total_ledger_credits) != (debits, credits):
            header.append(journal_id)
        if any(line.ledger_account_id not in accounts or accounts[line.ledger_account_id].retired
               for line in v.lines):
            retired.append(journal_id)
        ic_lines = [line for line in v.lines if line.ledger_account_id in (DUE_FROM_ACCOUNT, DUE_TO_ACCOUNT)]
        companies = {line.company_id for line in v.lines}
        if v.intercompany:
            assert len(companies) == 2 and ic_lines
            for company in companies:  # each company's side balances on its own
                side = [line for line in v.lines if line.company_id == company]
                assert sum(x.debit_amount for x in side) == sum(x.credit_amount for x in side)
            if sum(line.debit_amount - line.credit_amount for line in ic_lines) != 0:
                intercompany.append(journal_id)
        else:
            assert companies == {v.company_id} and not ic_lines
    truth = s.ground_truth
    assert unbalanced == truth["unbalanced_journal"] and len(unbalanced) >= 2
    assert header == truth["journal_header_mismatch"] and len(header) >= 2
    assert retired == truth["retired_account_posting"] and len(retired) >= 2
    assert intercompany == truth["intercompany_mismatch"] and len(intercompany) >= 2
    planted = [set(unbalanced), set(header), set(retired), set(intercompany)]
    assert sum(map(len, planted)) == len(set().union(*planted))  # each journal has one anomaly at most
    postings = {line.ledger_account_id for j in retired for line in s.journals[j].latest.lines}
    assert UNKNOWN_LEDGER_ACCOUNT in postings and any(accounts.get(a) and accounts[a].retired for a in postings)
    assert sum(j.latest.intercompany for j in s.journals.values()) > len(intercompany)  # clean ones too
    assert {j.latest.journal_source_id for j in s.journals.values()} <= set(s.journal_sources)


def test_duplicate_invoice_ground_truth(any_scenario: Scenario) -> None:
    s = any_scenario
    by_number: dict[tuple[str, str], list[str]] = defaultdict(list)
    by_amount_and_date: dict[tuple[str, Decimal, date], list[str]] = defaultdict(list)
    for invoice_id, inv in s.supplier_invoices.items():
        v = inv.latest
        by_number[(v.supplier_id, v.invoice_number)].append(invoice_id)
        by_amount_and_date[(v.supplier_id, v.control_amount_total, v.invoice_date)].append(invoice_id)
    same_number = {pair for ids in by_number.values() for pair in combinations(sorted(ids), 2)}
    same_amount = {pair for ids in by_amount_and_date.values() for pair in combinations(sorted(ids), 2)}
    assert sorted(same_number | same_amount) == s.ground_truth["duplicate_invoice"]
    assert same_number and same_amount and not same_number & same_amount
    for a, b in s.ground_truth["duplicate_invoice"]:  # a duplicate at every moment both exist
        first, second = s.supplier_invoices[a], s.supplier_invoices[b]
        assert len({v.control_amount_total for v in (*first.versions, *second.versions)}) == 1 or (a, b) in same_number


def test_payment_ground_truth(any_scenario: Scenario) -> None:
    s = any_scenario
    runs: dict[str, PaymentRunTruth] = {}
    keys: set[tuple[str, str, str]] = set()
    settled: list[str] = []
    for payment_id, payment in s.payments.items():
        v = payment.latest
        assert [x.payment_status for x in payment.versions] == ["Pending", "Complete"]
        assert v.payment_amount == sum(r.amount_paid for r in v.remittances) > 0
        assert v.payment_date == DAY and re.fullmatch(r"SR-2026-11-29-[12]", v.settlement_run_id)
        key = (v.settlement_run_id, v.supplier_id, v.currency_id)
        assert key not in keys, payment_id  # one payment per supplier, run and currency
        keys.add(key)
        assert payment.created_at >= s.settlement_runs[v.settlement_run_id].started_at
        for r in v.remittances:
            invoice = s.supplier_invoices[r.document_id]
            iv = invoice.latest
            assert (r.document_type, r.document_wid) == ("Supplier_Invoice", invoice.wid)
            assert r.document_date == iv.invoice_date
            assert (iv.supplier_id, iv.company_id, iv.currency_id) == (v.supplier_id, v.company_id, v.currency_id)
            assert r.total_payable_amount == iv.control_amount_total
            assert r.amount_due == r.total_payable_amount - r.amount_paid - r.discount_taken >= 0
            assert iv.payment_status_id == ("PAID" if r.amount_due == 0 else "PARTIALLY_PAID")
            assert iv.entered_at == v.entered_at  # the invoice shows paid when the payment completes
            assert invoice.versions[-2].document_status_id == "APPROVED"
            assert invoice.versions[-2].entered_at < payment.created_at
            settled.append(r.document_id)
        run = runs.setdefault(v.settlement_run_id, PaymentRunTruth(payments=0, totals={}, complete_at=v.entered_at))
        run["payments"] += 1
        run["totals"][(v.company_id, v.currency_id)] = run["totals"].get((v.company_id, v.currency_id), 0) + (
            v.payment_amount
        )
        run["complete_at"] = max(run["complete_at"], v.entered_at)
    assert runs == s.ground_truth["payment_runs"]
    assert set(runs) == set(s.settlement_runs) == {"SR-2026-11-29-1", "SR-2026-11-29-2"}
    assert len(settled) == len(set(settled))  # no invoice paid twice
    assert set(settled) == {i for i, inv in s.supplier_invoices.items() if inv.latest.payment_status_id != "UNPAID"}
    if s.scale >= 0.1:
        remittances = [r for p in s.payments.values() for r in p.latest.remittances]
        assert any(r.discount_taken for r in remittances) and any(r.amount_due for r in remittances)
        assert any(p.latest.currency_id != s.companies[p.latest.company_id].currency_id for p in s.payments.values())
        day_paid = [i for i in settled if s.supplier_invoices[i].created_at >= s.day_start]
        assert day_paid and len(day_paid) < len(settled)
    if s.scale == 1.0:
        assert 350 <= len(s.payments) <= 450


def test_suppliers_cost_centers_accounts_and_purchase_orders(any_scenario: Scenario) -> None:
    s = any_scenario
    deactivated = {i for i, sup in s.suppliers.items() if sup.status == "INACTIVE"}
    renamed = {i for i, sup in s.suppliers.items() if sup.versions[0].name != sup.name}
    assert deactivated and renamed and not deactivated & renamed
    assert all(len(sup.versions) == 1 and sup.created_at < s.day_start
               for i, sup in s.suppliers.items() if i not in deactivated | renamed)
    assert all(s.suppliers[i].versions[-1].entered_at >= s.day_start for i in deactivated | renamed)
    # Nothing is paid, newly ordered or billed (from history) for a supplier that is gone.
    assert not {p.latest.supplier_id for p in s.payments.values()} & deactivated
    assert not {o.latest.supplier_id for o in s.purchase_orders.values() if o.created_at >= s.day_start} & deactivated
    assert not {i.latest.supplier_id for i in s.supplier_invoices.values() if i.created_at < s.day_start} & deactivated

    assert len(s.cost_centers) == 40 and list(s.cost_centers)[:2] == ["CC100", "CC110"]
    closing = [cc for cc in s.cost_centers.values() if not cc.active]
    assert 1 <= len(closing) <= 2 and all(cc.versions[0].active and len(cc.versions) == 2 for cc in closing)
    assert all(cc.code == cc.cost_center_id for cc in s.cost_centers.values())

    before, after = s.account_set.versions
    assert after.entered_at == at(13) and len(after.ledger_accounts) == len(before.ledger_accounts) + 1
    identifiers = [a.ledger_account_id for a in after.ledger_accounts]
    assert identifiers == sorted(identifiers) and len(set(identifiers)) == len(identifiers)
    assert {"2000", DUE_FROM_ACCOUNT, DUE_TO_ACCOUNT} <= set(identifiers) and UNKNOWN_LEDGER_ACCOUNT not in identifiers
    assert 3 <= sum(a.retired for a in after.ledger_accounts) <= 8
    assert {a.account_type_id for a in after.ledger_accounts} == set(s.ledger_account_types)

    linked = {inv.latest.purchase_order_id: inv.latest for inv in s.supplier_invoices.values()
              if inv.latest.purchase_order_id}
    assert linked and set(linked) <= set(s.purchase_orders)
    for po_id, order in s.purchase_orders.items():
        v = order.latest
        assert 1 <= len(v.lines) <= 3 and all(x.extended_amount == x.quantity * x.unit_cost for x in v.lines)
        statuses = [x.document_status_id for x in order.versions]
        if po_id in linked:
            invoice = linked[po_id]
            assert statuses == ["ISSUED"] and v.document_date < invoice.invoice_date
            assert (v.supplier_id, v.company_id, v.currency_id) == (invoice.supplier_id, invoice.company_id,
                                                                    invoice.currency_id)
            assert v.total_amount == invoice.control_amount_total
        else:
            assert v.document_date == DAY and order.created_at >= s.day_start
            assert statuses in (["DRAFT"], ["DRAFT", "CANCELED"], ["DRAFT", "APPROVED"],
                                ["DRAFT", "APPROVED", "ISSUED"])
    if s.scale >= 0.1:
        assert {o.latest.document_status_id for o in s.purchase_orders.values()} == {
            "DRAFT", "APPROVED", "ISSUED", "CANCELED"}


# --------------------------------------------------------------------------- other operations

SERVICE_OF = {
    "Get_Supplier_Invoices": "Resource_Management",
    "Get_Suppliers": "Resource_Management",
    "Get_Purchase_Orders": "Resource_Management",
    "Get_Payments": "Settlement_Services",
    "Get_Journals": "Financial_Management",
    "Get_Account_Sets": "Financial_Management",
    "Get_Cost_Centers": "Financial_Management",
    "Get_Payment_Terms": "Financial_Management",
}


def get_request(operation: str, criteria: str | None = "", *, as_of: datetime | None = None, page: int = 1,
                count: int = 100, references: str | None = None, group: dict[str, bool] | None = None) -> str:
    """A Get_ request in schema order: selection, Response_Filter (as-of, page, count), Response_Group."""
    response_filter = f"<wd:Page>{page}</wd:Page><wd:Count>{count}</wd:Count>"
    if as_of is not None:
        response_filter = f"<wd:As_Of_Entry_DateTime>{iso(as_of)}</wd:As_Of_Entry_DateTime>{response_filter}"
    selection = ""
    if references is not None:
        selection = f"<wd:Request_References>{references}</wd:Request_References>"
    elif criteria is not None:
        selection = f"<wd:Request_Criteria>{criteria}</wd:Request_Criteria>"
    response_group = ""
    if group is not None:
        flags = "".join(f"<wd:{name}>{str(value).lower()}</wd:{name}>" for name, value in group.items())
        response_group = f"<wd:Response_Group>{flags}</wd:Response_Group>"
    return (f'<wd:{operation}_Request wd:version="v46.1">{selection}'
            f"<wd:Response_Filter>{response_filter}</wd:Response_Filter>{response_group}</wd:{operation}_Request>")


def flat_window(start: datetime, end: datetime) -> str:
    return (f"<wd:Updated_From_Date>{iso(start)}</wd:Updated_From_Date>"
            f"<wd:Updated_To_Date>{iso(end)}</wd:Updated_To_Date>")


def log_window(start: datetime, end: datetime) -> str:
    """The transaction-log window: declared for invoices and payments by the v46 profile only."""
    return ("<wd:Transaction_Log_Criteria_Data><wd:Transaction_Date_Range_Data>"
            f"<wd:Updated_From>{iso(start)}</wd:Updated_From><wd:Updated_Through>{iso(end)}</wd:Updated_Through>"
            "</wd:Transaction_Date_Range_Data></wd:Transaction_Log_Criteria_Data>")


def payment_dates(first: date, last: date) -> str:
    """v28's only payment window: payment dates inside General_Payment_Criteria."""
    return ("<wd:General_Payment_Criteria>"
            f"<wd:Payment_Date_on_Date_Or_After>{first}</wd:Payment_Date_on_Date_Or_After>"
            f"<wd:Payment_Date_on_Date_Or_Before>{last}</wd:Payment_Date_on_Date_Or_Before>"
            "</wd:General_Payment_Criteria>")


def call(sandbox: WorkdaySandbox, operation: str, body: str) -> requests.Response:
    return requests.post(sandbox.service_url(SERVICE_OF[operation]), data=envelope(body), timeout=10)


def validation_xpath(response: requests.Response) -> str:
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError", (
        response.status_code, response.text[:500])
    xpath = etree.fromstring(response.content).findtext(".//wd:Validation_Error/wd:Xpath", namespaces=NS)
    assert xpath is not None
    return xpath


def fetch_all(sandbox: WorkdaySandbox, operation: str, criteria: str | None, as_of: datetime,
              count: int = 999, group: dict[str, bool] | None = None) -> list[etree._Element]:
    """Every record over all pages, checking the paging envelope on the way."""
    record = operation.removeprefix("Get_").removesuffix("s").replace("Journal", "Journal_Entry")
    records: list[etree._Element] = []
    page, total_pages, total = 1, 1, None
    with requests.Session() as session:
        while page <= total_pages:
            body = envelope(get_request(operation, criteria, as_of=as_of, page=page, count=count, group=group))
            root = parse(session.post(sandbox.service_url(SERVICE_OF[operation]), data=body, timeout=10))
            info = results(root)
            total_pages, total = info["Total_Pages"], info["Total_Results"] if total is None else total
            assert info["Total_Results"] == total and info["Page"] == page
            echoed = root.findtext(".//wd:Response_Filter/wd:As_Of_Entry_DateTime", namespaces=NS)
            assert instant(echoed) == as_of and echoed == format_datetime(as_of)
            found = root.findall(f".//wd:Response_Data/wd:{record}", NS)
            assert len(found) == info["Page_Results"] == min(count, total - (page - 1) * count)
            records.extend(found)
            page += 1
    assert len(records) == total
    return records


def ref_id(element: etree._Element, path: str, id_type: str) -> str | None:
    return element.findtext(f"{path}/wd:ID[@wd:type='{id_type}']", namespaces=NS)


def text(element: etree._Element, path: str) -> str:
    value = element.findtext(path, namespaces=NS)
    assert value is not None, path
    return value


# What a row shows of its version as of the moment asked for (something that changes during the day).
VERSION_CHECKS: dict[str, Any] = {
    "Get_Supplier_Invoices": lambda row, v: (
        ref_id(row, "wd:Supplier_Invoice_Data/wd:Invoice_Document_Status_Reference", "Document_Status_ID"),
        Decimal(text(row, "wd:Supplier_Invoice_Data/wd:Control_Amount_Total"))) == (
        v.document_status_id, v.control_amount_total),
    "Get_Suppliers": lambda row, v: (
        text(row, "wd:Supplier_Data/wd:Supplier_Name"),
        ref_id(row, "wd:Supplier_Data/wd:Supplier_Status_Data/wd:Status_Reference",
               "Business_Entity_Status_Value_ID")) == (v.name, v.status),
    "Get_Purchase_Orders": lambda row, v: ref_id(
        row, "wd:Purchase_Order_Data/wd:Purchase_Order_Document_Status_Reference", "Document_Status_ID",
    ) == v.document_status_id,
    "Get_Payments": lambda row, v: text(row, "wd:Payment_Data/wd:Payment_Status") == v.payment_status,
    "Get_Journals": lambda row, v: (
        instant(text(row, "wd:Journal_Entry_Data/wd:Last_Updated_Date")),
        ref_id(row, "wd:Journal_Entry_Data/wd:Journal_Status_Reference", "Journal_Entry_Status_ID")) == (
        v.entered_at, v.journal_status_id),
    "Get_Cost_Centers": lambda row, v: text(
        row, "wd:Cost_Center_Data/wd:Organization_Data/wd:Organization_Active") == ("1" if v.active else "0"),
    "Get_Account_Sets": lambda row, v: len(row.findall("wd:Account_Set_Data/wd:Ledger_Account_Data", NS)) == len(
        v.ledger_accounts),
}

OPERATION_CASES = [
    # operation, record, ID type, collection, ID field, window, Request_References element, profile
    ("Get_Supplier_Invoices", "Supplier_Invoice", "Supplier_Invoice_Reference_ID", "supplier_invoices",
     "supplier_invoice_id", log_window, "Supplier_Invoice_Reference", "v46"),
    ("Get_Suppliers", "Supplier", "Supplier_ID", "suppliers", "supplier_id", flat_window, "Supplier_Reference", "v28"),
    ("Get_Purchase_Orders", "Purchase_Order", "Purchase_Order_Reference_ID", "purchase_orders", "purchase_order_id",
     flat_window, "Purchase_Order_Reference", "v28"),
    ("Get_Payments", "Payment", "Payment_Reference_ID", "payments", "payment_id", None, "Payment_WWS_Reference",
     "v28"),
    ("Get_Payments", "Payment", "Payment_Reference_ID", "payments", "payment_id", log_window, "Payment_WWS_Reference",
     "v46"),
    ("Get_Journals", "Journal_Entry", "Journal_Entry_Reference_ID", "journals", "journal_entry_id", flat_window,
     "JournalEntryReference", "v28"),
    ("Get_Cost_Centers", "Cost_Center", "Cost_Center_Reference_ID", "cost_centers", "cost_center_id", flat_window,
     "Cost_Center_Reference", "v28"),
    ("Get_Account_Sets", "Account_Set", "Account_Set_ID", "account_sets", "account_set_id", None,
     "Account_Set_Reference", "v28"),
]
# The response-group flags that bring each operation's data (Include_Reference is on by default).
DATA_GROUPS: dict[str, dict[str, bool]] = {
    "Get_Payments": {"Include_Reference": True, "Include_Payment_Group_Data": True},
    "Get_Cost_Centers": {"Include_Reference": True, "Include_Cost_Center_Data": True},
}


@pytest.mark.parametrize(
    ("operation", "record", "id_type", "collection", "id_field", "window", "reference_element", "profile"),
    OPERATION_CASES, ids=[f"{c[0]}-{c[7]}" for c in OPERATION_CASES])
def test_operation_pages_windows_and_as_of(request: pytest.FixtureRequest, scenario: Scenario, operation: str,
                                           record: str, id_type: str, collection: str, id_field: str, window: object,
                                           reference_element: str, profile: str) -> None:
    sandbox: WorkdaySandbox = request.getfixturevalue("v46" if profile == "v46" else "sandbox")
    assert sandbox.profile == profile
    start, end, as_of = at(0), at(23, 59, 59), at(15)
    if window is None:  # no window criteria: the whole collection as of the as-of
        criteria, expected = None, scenario.records_as_of(collection, as_of)
    else:
        assert callable(window)
        criteria, expected = window(start, end), scenario.changed_between(collection, start, end, as_of)
    assert expected
    group = DATA_GROUPS.get(operation)
    rows = fetch_all(sandbox, operation, criteria, as_of, count=max(1, len(expected) // 3), group=group)
    assert [ref_id(r, f"wd:{record}_Reference", id_type) for r in rows] == [getattr(v, id_field) for v in expected]
    for row, v in zip(rows, expected, strict=True):
        assert ref_id(row, f"wd:{record}_Reference", "WID") == v.wid
        assert len(row.findall(f"wd:{record}_Data", NS)) == 1
        assert VERSION_CHECKS[operation](row, v), getattr(v, id_field)
        assert not list(row.iter(f"{{{WD}}}Last_Updated_DateTime"))  # not declared anywhere
    assert sandbox.requests_by_operation[operation] == -(-len(expected) // max(1, len(expected) // 3))

    # Nothing changed in the night; and before the collection existed there is nothing at all.
    quiet = None if window is None else window(at(0), at(1))  # type: ignore[operator]
    quiet_as_of = at(2) if window is not None else scenario.day_start - timedelta(days=500)
    root = parse(call(sandbox, operation, get_request(operation, quiet, as_of=quiet_as_of)))
    assert results(root)["Total_Results"] == 0 and root.find(".//wd:Response_Data", NS) is None

    # Request_References (v28's element name) by business ID, and an unknown one skipped when asked to.
    v = expected[0]
    refs = (f'<wd:{reference_element}><wd:ID wd:type="{id_type}">{getattr(v, id_field)}</wd:ID>'
            f'</wd:{reference_element}>'
            f'<wd:{reference_element}><wd:ID wd:type="{id_type}">NOPE</wd:ID></wd:{reference_element}>')
    body = get_request(operation, as_of=as_of, references=refs).replace(
        "<wd:Request_References>", '<wd:Request_References wd:Skip_Non_Existing_Instances="1">')
    found = parse(call(sandbox, operation, body)).findall(f".//wd:Response_Data/wd:{record}", NS)
    assert [ref_id(r, f"wd:{record}_Reference", "WID") for r in found] == [v.wid]


@pytest.mark.parametrize(
    ("operation", "criteria"),
    [
        ("Get_Journals", log_window(at(9), at(10))),
        ("Get_Suppliers", log_window(at(9), at(10))),
        ("Get_Payments", flat_window(at(9), at(10))),
        ("Get_Supplier_Invoices", flat_window(at(9), at(10))),
        ("Get_Account_Sets", flat_window(at(9), at(10))),
        ("Get_Account_Sets", log_window(at(9), at(10))),
    ],
)
def test_window_criteria_an_operation_does_not_offer_are_rejected(sandbox: WorkdaySandbox, operation: str,
                                                                  criteria: str) -> None:
    xpath = validation_xpath(call(sandbox, operation, get_request(operation, criteria, as_of=at(12))))
    first = re.search(r"<wd:(\w+)>", criteria)
    assert first is not None
    assert xpath == f"/wd:{operation}_Request[1]/wd:Request_Criteria[1]/wd:{first[1]}[1]"


@pytest.mark.parametrize("operation", ["Get_Supplier_Invoices", "Get_Payments"])
def test_transaction_log_window_is_v46_only(sandbox: WorkdaySandbox, v46: WorkdaySandbox, scenario: Scenario,
                                            operation: str) -> None:
    body = get_request(operation, log_window(at(10), at(12)), as_of=at(23), count=999)
    xpath = validation_xpath(call(sandbox, operation, body))
    assert xpath == f"/wd:{operation}_Request[1]/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]"
    assert sandbox.faults_served["validation"] == 1

    collection = {"Get_Supplier_Invoices": "supplier_invoices", "Get_Payments": "payments"}[operation]
    expected = scenario.changed_between(collection, at(10), at(12), at(23))
    everything = scenario.records_as_of(collection, at(23))
    assert expected and len(expected) < len(everything)  # the window selects, it does not pass all through
    rows = fetch_all(v46, operation, log_window(at(10), at(12)), at(23))
    record = "Supplier_Invoice" if operation == "Get_Supplier_Invoices" else "Payment"
    assert [ref_id(r, f"wd:{record}_Reference", "WID") for r in rows] == [v.wid for v in expected]
    # The echo is the criteria as sent.
    root = parse(call(v46, operation, body))
    assert root.findtext(".//wd:Request_Criteria/wd:Transaction_Log_Criteria_Data/wd:Transaction_Date_Range_Data"
                         "/wd:Updated_From", namespaces=NS) == iso(at(10))


def test_get_suppliers_fields_renames_and_deactivations(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    def by_id(as_of: datetime) -> dict[str, etree._Element]:
        rows = fetch_all(sandbox, "Get_Suppliers", None, as_of)
        return {text(r, "wd:Supplier_Data/wd:Supplier_ID"): r for r in rows}

    late = by_id(at(23))
    assert len(late) == len(scenario.suppliers)
    for supplier_id, row in late.items():
        v = scenario.suppliers[supplier_id].latest
        data = row.find("wd:Supplier_Data", NS)
        assert row.find("wd:Supplier_Reference", NS).get(f"{{{WD}}}Descriptor") == v.name
        assert text(data, "wd:Supplier_Name") == v.name
        assert ref_id(data, "wd:Supplier_Category_Reference", "Supplier_Category_ID") == v.supplier_category_id
        assert ref_id(data, "wd:Currency_Reference", "Currency_ID") == v.currency_id
        assert ref_id(data, "wd:Payment_Terms_Reference", "Payment_Terms_ID") == v.payment_terms_id
        assert ref_id(data, "wd:Supplier_Status_Data/wd:Status_Reference", "Business_Entity_Status_Value_ID") == (
            v.status)
        assert [etree.QName(child).localname for child in data] == [
            "Supplier_ID", "Supplier_Name", "Supplier_Category_Reference", "Payment_Terms_Reference",
            "Supplier_Status_Data", "Currency_Reference"]
    assert HOSTILE_SUPPLIER_NAME in {text(r, "wd:Supplier_Data/wd:Supplier_Name") for r in late.values()}

    early = by_id(at(7))  # before any change of the day
    renamed = next(s for s in scenario.suppliers.values() if s.versions[0].name != s.name)
    assert text(early[renamed.supplier_id], "wd:Supplier_Data/wd:Supplier_Name") == renamed.versions[0].name
    assert text(late[renamed.supplier_id], "wd:Supplier_Data/wd:Supplier_Name") == renamed.name
    # The renamed supplier's invoices carry the name of the moment in their Supplier_Reference too.
    renamed_at = renamed.versions[-1].entered_at
    invoice = next(i for i in scenario.supplier_invoices.values()
                   if i.latest.supplier_id == renamed.supplier_id and i.created_at < renamed_at)
    refs = f'<wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">{invoice.wid}</wd:ID></wd:Supplier_Invoice_Reference>'
    for as_of, name in ((renamed_at - timedelta(seconds=1), renamed.versions[0].name), (renamed_at, renamed.name)):
        body = get_request("Get_Supplier_Invoices", as_of=as_of, references=refs)
        root = parse(post(f"{sandbox.soap_url}/Resource_Management/v46.1", body))
        names = [e.get(f"{{{WD}}}Descriptor") for e in root.iterfind(".//wd:Supplier_Reference", NS)]
        assert names == [name]
    statuses = {i: ref_id(r, "wd:Supplier_Data/wd:Supplier_Status_Data/wd:Status_Reference",
                          "Business_Entity_Status_Value_ID") for i, r in early.items()}
    assert set(statuses.values()) == {"ACTIVE"}
    assert "INACTIVE" in {ref_id(r, "wd:Supplier_Data/wd:Supplier_Status_Data/wd:Status_Reference",
                                 "Business_Entity_Status_Value_ID") for r in late.values()}


def test_get_purchase_orders_fields_and_invoice_links(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    rows = fetch_all(sandbox, "Get_Purchase_Orders", None, at(23), count=50)
    assert len(rows) == len(scenario.purchase_orders)
    for row in rows:
        data = row.find("wd:Purchase_Order_Data", NS)
        v = scenario.purchase_orders[text(data, "wd:Purchase_Order_ID")].as_of(at(23))
        assert v is not None
        assert text(data, "wd:Document_Number") == v.document_number
        assert ref_id(data, "wd:Purchase_Order_Document_Status_Reference", "Document_Status_ID") == (
            v.document_status_id)
        assert ref_id(data, "wd:Company_Reference", "Company_Reference_ID") == v.company_id
        assert ref_id(data, "wd:Supplier_Reference", "Supplier_ID") == v.supplier_id
        assert ref_id(data, "wd:Currency_Reference", "Currency_ID") == v.currency_id
        assert (text(data, "wd:Document_Date"), text(data, "wd:Due_Date")) == (
            format_date(v.document_date), format_date(v.due_date))
        lines = data.findall("wd:Goods_Line_Data", NS)
        assert [(text(x, "wd:Goods_Purchase_Order_Line_ID"), int(text(x, "wd:Line_Number")),
                 ref_id(x, "wd:Resource_Category_Reference", "Spend_Category_ID"),
                 Decimal(text(x, "wd:Quantity")) * Decimal(text(x, "wd:Unit_Cost")),
                 Decimal(text(x, "wd:Extended_Amount")), text(x, "wd:Due_Date")) for x in lines] == [
            (x.line_id, x.line_number, x.spend_category_id, x.extended_amount, x.extended_amount,
             format_date(x.due_date)) for x in v.lines]
    # As of noon some of the day's orders were still drafts that are approved or issued by night.
    noon = {text(r, "wd:Purchase_Order_Data/wd:Purchase_Order_ID"): ref_id(
        r, "wd:Purchase_Order_Data/wd:Purchase_Order_Document_Status_Reference", "Document_Status_ID")
        for r in fetch_all(sandbox, "Get_Purchase_Orders", flat_window(at(0), at(12)), at(12))}
    assert "DRAFT" in noon.values()
    assert any(scenario.purchase_orders[i].latest.document_status_id != status for i, status in noon.items())

    # Invoices raised against a PO reference its lines, by WID only (v28 has no header PO reference).
    linked = next(i for i in scenario.supplier_invoices.values() if i.latest.purchase_order_id)
    unlinked = next(i for i in scenario.supplier_invoices.values() if not i.latest.purchase_order_id)
    refs = "".join(f'<wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">{i.wid}</wd:ID>'
                   "</wd:Supplier_Invoice_Reference>" for i in (linked, unlinked))
    root = parse(post(f"{sandbox.soap_url}/Resource_Management/v46.1",
                      get_request("Get_Supplier_Invoices", as_of=at(23), references=refs)))
    order_id = linked.latest.purchase_order_id or ""
    assert order_id in scenario.purchase_orders
    by_wid = {ref_id(r, "wd:Supplier_Invoice_Reference", "WID"): r.find("wd:Supplier_Invoice_Data", NS)
              for r in root.iterfind(".//wd:Response_Data/wd:Supplier_Invoice", NS)}
    data = by_wid[linked.wid]
    assert data.find("wd:Purchase_Order_Reference", NS) is None
    lines = data.findall("wd:Invoice_Line_Replacement_Data", NS)
    assert len(lines) == len(linked.latest.lines)
    for line, truth in zip(lines, linked.latest.lines, strict=True):
        po_line = line.find("wd:Purchase_Order_Line_Reference", NS)
        assert po_line is not None and [i.get(f"{{{WD}}}type") for i in po_line] == ["WID"]
        assert po_line[0].text == make_wid(scenario.seed, "purchase_order_line", f"{order_id}:{truth.line_order}")
    assert len({line.findtext("wd:Purchase_Order_Line_Reference/wd:ID", namespaces=NS) for line in lines}) == len(lines)
    assert not by_wid[unlinked.wid].findall(".//wd:Purchase_Order_Line_Reference", NS)


def payment_rows(rows: list[etree._Element]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        data = row.find("wd:Payment_Data", NS)
        assert data.find("wd:Payment_ID", NS) is None  # the ID is only in the Payment_Reference
        found[str(ref_id(row, "wd:Payment_Reference", "Payment_Reference_ID"))] = {
            "wid": ref_id(row, "wd:Payment_Reference", "WID"),
            "date": data.findtext("wd:Payment_Group_Data/wd:Payment_Date", namespaces=NS),
            "run": ref_id(data, "wd:Settlement_Run_Reference", "Settlement_Run_ID"),
            "status": text(data, "wd:Payment_Status"),
            "amount": Decimal(text(data, "wd:Payment_Amount")),
            "currency": ref_id(data, "wd:Currency_Reference", "Currency_ID"),
            "company": ref_id(data, "wd:Company_Reference", "Company_Reference_ID"),
            "supplier": ref_id(data, "wd:Receiving_Party_Reference", "Supplier_ID"),
            "remittances": [
                (text(r, "wd:Document_Type"), text(r, "wd:Document_ID"), r.findtext("wd:Document_Reference", None, NS),
                 text(r, "wd:Document_Date"), Decimal(text(r, "wd:Total_Payable_Amount")),
                 Decimal(text(r, "wd:Amount_Paid")), Decimal(text(r, "wd:Amount_Due")),
                 Decimal(text(r, "wd:Discount_Taken")))
                for r in data.iterfind("wd:Remittance_Data/wd:Document_Remittance_Data", NS)
            ],
        }
    return found


WITH_PAYMENT_DATE = {"Include_Reference": True, "Include_Payment_Group_Data": True}


def test_get_payments_over_the_wire_match_the_runs(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    rows = payment_rows(fetch_all(sandbox, "Get_Payments", None, at(23, 59, 59), 10, group=WITH_PAYMENT_DATE))
    assert set(rows) == set(scenario.payments)
    totals: dict[str, dict[tuple[str, str], Decimal]] = defaultdict(dict)
    for payment_id, row in rows.items():
        v = scenario.payments[payment_id].latest
        assert row["wid"] == v.wid
        assert row["status"] == "Complete" and row["date"] == format_date(DAY)
        # Default remittance mode: the invoice's WID in Document_ID, its Supplier_Invoice_ID in Document_Reference.
        assert row["remittances"] == [
            ("Supplier_Invoice", r.document_wid, r.document_id, format_date(r.document_date), r.total_payable_amount,
             r.amount_paid, r.amount_due, r.discount_taken) for r in v.remittances]
        assert row["amount"] == sum(r[5] for r in row["remittances"])
        key = (str(row["company"]), str(row["currency"]))
        run_totals = totals[str(row["run"])]
        run_totals[key] = run_totals.get(key, Decimal(0)) + row["amount"]
    assert {run: dict(t) for run, t in totals.items()} == {
        run: truth["totals"] for run, truth in scenario.ground_truth["payment_runs"].items()}

    # Shortly after the first run started its payments are still pending.
    first_run = scenario.settlement_runs["SR-2026-11-29-1"].started_at
    soon_after = first_run + timedelta(minutes=5)
    early = payment_rows(fetch_all(sandbox, "Get_Payments", None, soon_after))
    assert early and {r["status"] for r in early.values()} <= {"Pending", "Complete"}
    assert "Pending" in {r["status"] for r in early.values()}


def test_get_payments_by_payment_date(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    rows = fetch_all(sandbox, "Get_Payments", payment_dates(DAY, DAY), at(23, 59, 59))
    assert len(rows) == len(scenario.payments)
    root = parse(call(sandbox, "Get_Payments", get_request("Get_Payments", payment_dates(DAY, DAY), as_of=at(23))))
    echo = root.find(".//wd:Request_Criteria/wd:General_Payment_Criteria/wd:Payment_Date_on_Date_Or_After", NS)
    assert echo is not None and echo.text == DAY.isoformat()  # as sent
    tomorrow = DAY + timedelta(days=1)
    root = parse(call(sandbox, "Get_Payments", get_request("Get_Payments", payment_dates(tomorrow, tomorrow),
                                                           as_of=at(23))))
    assert results(root)["Total_Results"] == 0 and root.find(".//wd:Response_Data", NS) is None


def test_payment_dates_directly_under_request_criteria_are_refused(sandbox: WorkdaySandbox) -> None:
    direct = re.sub(r"</?wd:General_Payment_Criteria>", "", payment_dates(DAY, DAY))
    xpath = validation_xpath(call(sandbox, "Get_Payments", get_request("Get_Payments", direct, as_of=at(23))))
    assert xpath == "/wd:Get_Payments_Request[1]/wd:Request_Criteria[1]/wd:Payment_Date_on_Date_Or_After[1]"


def test_payment_group_data_only_with_its_flag(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    def dates(group: dict[str, bool] | None) -> dict[str, str | None]:
        return {i: r["date"] for i, r in payment_rows(fetch_all(sandbox, "Get_Payments", None, at(23), group=group))
                .items()}

    assert set(dates(None).values()) == {None}
    assert set(dates({"Include_Payment_Group_Data": False}).values()) == {None}
    with_flag = dates(WITH_PAYMENT_DATE)
    assert with_flag == {i: format_date(p.latest.payment_date) for i, p in scenario.payments.items()}
    # Include_Reference sent false leaves the reference out (and with it the only place of the ID).
    row = fetch_all(sandbox, "Get_Payments", None, at(23), group={"Include_Reference": False})[0]
    assert row.find("wd:Payment_Reference", NS) is None and row.find("wd:Payment_Data", NS) is not None


@pytest.mark.parametrize("mode", ["reference", "id"])
def test_remittance_document_modes(scenario: Scenario, mode: str) -> None:
    with WorkdaySandbox(scenario, remittance_document=mode) as sandbox:  # type: ignore[arg-type]
        rows = payment_rows(fetch_all(sandbox, "Get_Payments", None, at(23)))
        answer = answer_element(call(sandbox, "Get_Payments", get_request("Get_Payments", as_of=at(23), count=999)))
    assert SchemaModel.load("v28").validate("Settlement_Services", "Get_Payments", answer, direction="response") == []
    assert set(rows) == set(scenario.payments)
    for payment_id, row in rows.items():
        truth = scenario.payments[payment_id].latest.remittances
        documents = [(r[1], r[2]) for r in row["remittances"]]
        if mode == "reference":  # WID in Document_ID, the invoice's ID as the Document_Reference string
            assert documents == [(r.document_wid, r.document_id) for r in truth]
        else:  # only Document_ID, holding the invoice's ID
            assert documents == [(r.document_id, None) for r in truth]
        # Either way a reader finds the invoice: by WID, or by its Supplier_Invoice_ID.
        assert all((d[0] in scenario.supplier_invoices) == (mode == "id") for d in documents)


def test_journal_ground_truth_over_the_wire(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    """A detector reading only the SOAP answers finds exactly the planted journal anomalies."""
    account_set = fetch_all(sandbox, "Get_Account_Sets", None, at(23, 59, 59))[0]
    accounts = {text(a, "wd:Ledger_Account_Identifier"): text(a, "wd:Retired") == "1"
                for a in account_set.iterfind("wd:Account_Set_Data/wd:Ledger_Account_Data", NS)}
    rows = fetch_all(sandbox, "Get_Journals", flat_window(at(0), at(23, 59, 59)), at(23, 59, 59), count=7)
    assert len(rows) == len(scenario.journals)
    found: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        data = row.find("wd:Journal_Entry_Data", NS)
        number = text(data, "wd:Journal_Number")
        lines = data.findall("wd:Journal_Entry_Line_Data", NS)
        for line in lines:  # exactly one side is present; the zero one is omitted
            assert (line.find("wd:Debit_Amount", NS) is None) != (line.find("wd:Credit_Amount", NS) is None)
            account = line.find("wd:Ledger_Account_Reference/wd:ID[@wd:type='Ledger_Account_ID']", NS)
            assert account.get(f"{{{WD}}}parent_type") == "Account_Set_ID"
            assert account.get(f"{{{WD}}}parent_id") == "ACME_COA"
        debits = [Decimal(line.findtext("wd:Debit_Amount", "0", NS)) for line in lines]
        credits = [Decimal(line.findtext("wd:Credit_Amount", "0", NS)) for line in lines]
        ids = [ref_id(line, "wd:Ledger_Account_Reference", "Ledger_Account_ID") for line in lines]
        if sum(debits) != sum(credits):
            found["unbalanced_journal"].append(number)
        if (Decimal(text(data, "wd:Total_Ledger_Debits")), Decimal(text(data, "wd:Total_Ledger_Credits"))) != (
                sum(debits), sum(credits)):
            found["journal_header_mismatch"].append(number)
        if any(i not in accounts or accounts[i] for i in ids):
            found["retired_account_posting"].append(number)
        net = sum((d - c for d, c, i in zip(debits, credits, ids, strict=True) if i in ("1500", "2500")), Decimal(0))
        # v28 answers carry no Intercompany_Journal flag: an intercompany journal is one whose lines
        # belong to more than one company.
        assert data.find("wd:Intercompany_Journal", NS) is None
        companies = {ref_id(line, "wd:Line_Company_Reference", "Company_Reference_ID") for line in lines}
        if len(companies) > 1 and net != 0:
            found["intercompany_mismatch"].append(number)
        journal = scenario.journals[number]
        assert instant(text(data, "wd:Creation_Date")) == journal.created_at
        assert instant(text(data, "wd:Last_Updated_Date")) == journal.latest.entered_at
    truth = scenario.ground_truth
    for key in ("unbalanced_journal", "journal_header_mismatch", "retired_account_posting", "intercompany_mismatch"):
        assert sorted(found[key]) == truth[key], key  # type: ignore[literal-required]

    # v28 spells the request reference JournalEntryReference.
    journal = next(iter(scenario.journals.values()))
    refs = f'<wd:JournalEntryReference><wd:ID wd:type="WID">{journal.wid}</wd:ID></wd:JournalEntryReference>'
    root = parse(call(sandbox, "Get_Journals", get_request("Get_Journals", as_of=at(23), references=refs)))
    assert [r.text for r in root.iterfind(".//wd:Journal_Number", NS)] == [journal.journal_entry_id]


def test_journals_refuse_include_reference_and_always_carry_their_reference(sandbox: WorkdaySandbox,
                                                                            scenario: Scenario) -> None:
    window = flat_window(at(0), at(23, 59, 59))
    for value in (True, False):
        body = get_request("Get_Journals", window, as_of=at(23), group={"Include_Reference": value})
        assert validation_xpath(call(sandbox, "Get_Journals", body)) == (
            "/wd:Get_Journals_Request[1]/wd:Response_Group[1]/wd:Include_Reference[1]")
    rows = fetch_all(sandbox, "Get_Journals", window, at(23), group={"Include_Attachment_Data": False})
    assert [ref_id(r, "wd:Journal_Entry_Reference", "Journal_Entry_Reference_ID") for r in rows] == list(
        scenario.journals)


def test_get_account_sets_and_cost_centers_change_during_the_day(sandbox: WorkdaySandbox,
                                                                 scenario: Scenario) -> None:
    def identifiers(as_of: datetime) -> list[str]:
        (row,) = fetch_all(sandbox, "Get_Account_Sets", None, as_of)
        return [x.text for x in row.iterfind(".//wd:Ledger_Account_Identifier", NS)]

    assert len(identifiers(at(14))) == len(identifiers(at(12))) + 1 == len(scenario.account_set.latest.ledger_accounts)

    closing = next(cc for cc in scenario.cost_centers.values() if not cc.active)
    closed_at = closing.versions[-1].entered_at
    for as_of, active in ((closed_at - timedelta(seconds=1), "1"), (closed_at, "0")):
        rows = fetch_all(sandbox, "Get_Cost_Centers", None, as_of, group={"Include_Cost_Center_Data": True})
        data = {text(r, "wd:Cost_Center_Data/wd:Organization_Data/wd:ID"): r for r in rows}
        assert len(data) == 40
        row = data[closing.cost_center_id]
        assert text(row, "wd:Cost_Center_Data/wd:Organization_Data/wd:Organization_Active") == active
        assert text(row, "wd:Cost_Center_Data/wd:Organization_Data/wd:Organization_Name") == closing.name
        assert text(row, "wd:Cost_Center_Data/wd:Organization_Data/wd:Organization_Code") == closing.code
    window = fetch_all(sandbox, "Get_Cost_Centers", flat_window(at(0), at(23, 59, 59)), at(23, 59, 59))
    assert {ref_id(r, "wd:Cost_Center_Reference", "Cost_Center_Reference_ID") for r in window} == {
        cc.cost_center_id for cc in scenario.cost_centers.values() if not cc.active}


def test_cost_center_data_only_with_its_flags(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    def children(group: dict[str, bool] | None) -> set[tuple[str, ...]]:
        rows = fetch_all(sandbox, "Get_Cost_Centers", None, at(23), group=group)
        assert len(rows) == len(scenario.cost_centers)
        return {tuple(etree.QName(child).localname for child in row) for row in rows}

    assert children(None) == {("Cost_Center_Reference",)}
    assert children({"Include_Cost_Center_Data": False}) == {("Cost_Center_Reference",)}
    assert children({"Include_Cost_Center_Data": True}) == {("Cost_Center_Reference", "Cost_Center_Data")}
    assert children({"Include_Simple_Cost_Center_Data": True}) == {
        ("Cost_Center_Reference", "Simple_Cost_Center_Data")}
    assert children({"Include_Reference": False, "Include_Cost_Center_Data": True,
                     "Include_Simple_Cost_Center_Data": True}) == {("Cost_Center_Data", "Simple_Cost_Center_Data")}
    rows = fetch_all(sandbox, "Get_Cost_Centers", None, at(23),
                     group={"Include_Cost_Center_Data": True, "Include_Simple_Cost_Center_Data": True})
    for row in rows:
        v = scenario.cost_centers[text(row, "wd:Cost_Center_Data/wd:Organization_Data/wd:ID")].as_of(at(23))
        assert v is not None
        assert (text(row, "wd:Simple_Cost_Center_Data/wd:ID"),
                text(row, "wd:Simple_Cost_Center_Data/wd:Organization_Name")) == (v.cost_center_id, v.name)


# --------------------------------------------------------------------------- v28 invoices: status filter, due dates


def test_invoices_payment_status_filter(url: str, scenario: Scenario) -> None:
    def ids(*statuses: str, **kwargs: Any) -> list[str]:
        body = invoices_request(payment_statuses=statuses, as_of=at(23), count=999, **kwargs)
        root = parse(post(url, body))
        assert results(root)["Total_Pages"] <= 1
        return [str(r["id"]) for r in invoice_rows(root)]

    everything = scenario.invoices_as_of(at(23))
    open_ones = ids("UNPAID", "PARTIALLY_PAID")
    assert open_ones == [v.supplier_invoice_id for v in everything
                         if v.payment_status_id in ("UNPAID", "PARTIALLY_PAID")]
    assert {scenario.supplier_invoices[i].latest.payment_status_id for i in open_ones} == {"UNPAID", "PARTIALLY_PAID"}
    paid = ids("PAID")
    assert paid and sorted(paid + open_ones) == sorted(v.supplier_invoice_id for v in everything)
    # Criteria combine: unpaid ones of the last two days only.
    recent = ids("UNPAID", invoice_date_from=DAY - timedelta(days=2), invoice_date_to=DAY)
    assert recent and recent == [v.supplier_invoice_id for v in everything if v.payment_status_id == "UNPAID"
                                 and DAY - timedelta(days=2) <= v.invoice_date <= DAY]
    # As of earlier, nothing was paid yet: the settlement runs had not happened.
    first_run = min(run.started_at for run in scenario.settlement_runs.values())
    body = invoices_request(payment_statuses=("PAID", "PARTIALLY_PAID"), as_of=first_run - timedelta(seconds=1))
    assert results(parse(post(url, body)))["Total_Results"] == 0


def test_invoice_due_dates_come_from_terms_or_an_override(sandbox: WorkdaySandbox, url: str,
                                                          scenario: Scenario) -> None:
    """A reader of the wire alone finds every invoice's due date: override, the invoice's terms or the supplier's."""
    due_days = {text(r, "wd:Payment_Term_Data/wd:Payment_Terms_ID"): int(text(r, "wd:Payment_Term_Data/wd:Due_Days"))
                for r in fetch_all(sandbox, "Get_Payment_Terms", None, at(23))}
    supplier_terms = {
        text(r, "wd:Supplier_Data/wd:Supplier_ID"): ref_id(r, "wd:Supplier_Data/wd:Payment_Terms_Reference",
                                                          "Payment_Terms_ID")
        for r in fetch_all(sandbox, "Get_Suppliers", None, at(23))}
    root = parse(post(url, invoices_request(as_of=at(23), count=999)))
    assert results(root)["Total_Pages"] == 1
    ways: Counter = Counter()
    for invoice in root.iterfind(".//wd:Response_Data/wd:Supplier_Invoice", NS):
        data = invoice.find("wd:Supplier_Invoice_Data", NS)
        assert data.find("wd:Due_Date", NS) is None and data.find("wd:Payment_Status_Reference", NS) is None
        invoice_date = date.fromisoformat(text(data, "wd:Invoice_Date")[:10])
        override = data.findtext("wd:Due_Date_Override", namespaces=NS)
        terms = ref_id(data, "wd:Payment_Terms_Reference", "Payment_Terms_ID")
        if override is not None:
            assert terms is None
            due, way = date.fromisoformat(override[:10]), "override"
        elif terms is not None:
            due, way = invoice_date + timedelta(days=due_days[terms]), "invoice terms"
        else:
            supplier_id = ref_id(data, "wd:Supplier_Reference", "Supplier_ID")
            due, way = invoice_date + timedelta(days=due_days[str(supplier_terms[str(supplier_id)])]), "supplier terms"
        v = scenario.supplier_invoices[text(data, "wd:Supplier_Invoice_ID")].as_of(at(23))
        assert v is not None
        assert due == v.due_date, (v.supplier_invoice_id, way)
        assert (terms, None if override is None else date.fromisoformat(override[:10])) == invoice_due_terms(
            v, scenario.suppliers[v.supplier_id])
        ways[way] += 1
    assert set(ways) == {"override", "invoice terms", "supplier terms"}, ways
    assert sum(ways.values()) == len(scenario.invoices_as_of(at(23)))


def test_get_payment_terms(sandbox: WorkdaySandbox, scenario: Scenario) -> None:
    rows = fetch_all(sandbox, "Get_Payment_Terms", None, at(23))
    found = {text(r, "wd:Payment_Term_Data/wd:Payment_Terms_ID"): r for r in rows}
    assert len(rows) == len(found) == 4 and set(found) == set(PAYMENT_TERM_DAYS) == set(scenario.payment_terms)
    for terms_id, row in found.items():
        due, discount_days, percent, grace = PAYMENT_TERM_DAYS[terms_id]
        data = row.find("wd:Payment_Term_Data", NS)
        assert ref_id(row, "wd:Payment_Term_Reference", "WID") == scenario.payment_terms[terms_id].wid
        assert text(data, "wd:Payment_Terms_Name") == scenario.payment_terms[terms_id].name
        assert (int(text(data, "wd:Due_Days")), int(text(data, "wd:Payment_Discount_Days")),
                Decimal(text(data, "wd:Payment_Discount_Percent")), int(text(data, "wd:Grace_Days"))) == (
            due, discount_days, percent, grace)
    assert {int(text(r, "wd:Payment_Term_Data/wd:Due_Days")) for r in rows} == {30, 45, 60}
    # By reference, and no window criteria to offer.
    refs = '<wd:Payment_Term_Reference><wd:ID wd:type="Payment_Terms_ID">NET_45</wd:ID></wd:Payment_Term_Reference>'
    root = parse(call(sandbox, "Get_Payment_Terms", get_request("Get_Payment_Terms", as_of=at(23), references=refs)))
    assert [e.text for e in root.iterfind(".//wd:Payment_Terms_ID", NS)] == ["NET_45"]
    xpath = validation_xpath(call(sandbox, "Get_Payment_Terms",
                                  get_request("Get_Payment_Terms", flat_window(at(0), at(23)), as_of=at(23))))
    assert xpath == "/wd:Get_Payment_Terms_Request[1]/wd:Request_Criteria[1]/wd:Updated_From_Date[1]"


# --------------------------------------------------------------------------- answers conform to the schema


def answer_element(response: requests.Response) -> etree._Element:
    root = parse(response)
    body = root.find("env:Body", NS)
    assert body is not None and len(body) == 1
    return body[0]


def group_variants(model: SchemaModel, operation: str) -> list[dict[str, bool] | None]:
    flags = model.response_group_flags(operation)
    assert flags, operation
    return [None, dict.fromkeys(flags, True), dict.fromkeys(flags, False),
            *({flag: True} for flag in flags)]


V28_SELECTIONS: dict[str, list[str | None]] = {
    "Get_Supplier_Invoices": [None, f"<wd:Invoice_Date_On_or_After>{DAY}</wd:Invoice_Date_On_or_After>"
                              '<wd:Payment_Status_Reference><wd:ID wd:type="Document_Payment_Status_ID">UNPAID</wd:ID>'
                              "</wd:Payment_Status_Reference>"],
    "Get_Suppliers": [None, flat_window(at(0), at(23, 59, 59))],
    "Get_Purchase_Orders": [f"<wd:Purchase_Order_Date_On_or_After>{DAY}</wd:Purchase_Order_Date_On_or_After>"
                            + flat_window(at(0), at(23, 59, 59))],
    "Get_Payments": [None, payment_dates(DAY, DAY)],
    "Get_Journals": [f"<wd:Accounting_From_Date>{DAY}</wd:Accounting_From_Date>"
                     f"<wd:Accounting_To_Date>{DAY}</wd:Accounting_To_Date>" + flat_window(at(0), at(23, 59, 59))],
    "Get_Account_Sets": [None],
    "Get_Cost_Centers": [None, flat_window(at(0), at(23, 59, 59))],
    "Get_Payment_Terms": [None],
}


def test_every_kind_of_answer_validates_against_v28(sandbox: WorkdaySandbox, v46: WorkdaySandbox,
                                                    scenario: Scenario) -> None:
    model = SchemaModel.load("v28")
    assert set(V28_SELECTIONS) == set(SERVICE_OF) and set(SERVICE_OF) <= set(model.operations)
    checked: Counter = Counter()

    def check(tenant: WorkdaySandbox, schema: SchemaModel, operation: str, body: str) -> None:
        response = answer_element(call(tenant, operation, body))
        violations = schema.validate(SERVICE_OF[operation], operation, response, direction="response")
        assert violations == [], (operation, body, violations[:3])
        assert not list(response.iter(f"{{{WD}}}Last_Updated_DateTime"))
        records = len(response.findall("wd:Response_Data/*", NS))
        checked[(operation, "records" if records else "empty")] += 1

    for operation, selections in V28_SELECTIONS.items():
        for group in group_variants(model, operation):
            if operation == "Get_Journals" and group is not None:
                continue  # test_journals_answer_with_a_response_group_is_in_schema_order (sandbox bug)
            for criteria in selections:
                check(sandbox, model, operation, get_request(operation, criteria, as_of=at(23), count=50, group=group))
            check(sandbox, model, operation, get_request(operation, selections[0], as_of=at(23), page=999,
                                                         group=group))
    # By reference (the Request_References echo).
    invoice = next(iter(scenario.supplier_invoices.values()))
    refs = f'<wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">{invoice.wid}</wd:ID></wd:Supplier_Invoice_Reference>'
    check(sandbox, model, "Get_Supplier_Invoices", get_request("Get_Supplier_Invoices", as_of=at(23), references=refs))
    # The v46 tenant's transaction-log answers validate against the v46 profile.
    later = SchemaModel.load("v46")
    for operation in ("Get_Supplier_Invoices", "Get_Payments"):
        for group in group_variants(later, operation):
            check(v46, later, operation, get_request(operation, log_window(at(10), at(12)), as_of=at(23), group=group))
    assert {operation for operation, kind in checked if kind == "records"} == set(SERVICE_OF)
    assert {operation for operation, kind in checked if kind == "empty"} == set(SERVICE_OF)


def v28_answer_violations(sandbox: WorkdaySandbox, operation: str, body: str) -> list[Any]:
    response = answer_element(call(sandbox, operation, body))
    return SchemaModel.load("v28").validate(SERVICE_OF[operation], operation, response, direction="response")


def test_journals_answer_with_a_response_group_is_in_schema_order(sandbox: WorkdaySandbox) -> None:
    body = get_request("Get_Journals", flat_window(at(0), at(23, 59, 59)), as_of=at(23),
                       group={"Include_Attachment_Data": False})
    assert v28_answer_violations(sandbox, "Get_Journals", body) == []


def test_request_references_echo_with_skip_non_existing_instances_validates(sandbox: WorkdaySandbox,
                                                                            scenario: Scenario) -> None:
    invoice = next(iter(scenario.supplier_invoices.values()))
    refs = f'<wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">{invoice.wid}</wd:ID></wd:Supplier_Invoice_Reference>'
    body = get_request("Get_Supplier_Invoices", as_of=at(23), references=refs).replace(
        "<wd:Request_References>", '<wd:Request_References wd:Skip_Non_Existing_Instances="1">')
    assert v28_answer_violations(sandbox, "Get_Supplier_Invoices", body) == []
