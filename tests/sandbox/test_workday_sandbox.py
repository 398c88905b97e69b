"""Protocol-level tests of the Workday sandbox: raw HTTP + lxml, no project client involved."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from xml.sax.saxutils import escape

import pytest
import requests
from lxml import etree

from mlc_dagster.sandbox.scenario import (
    HIGH_VALUE_THRESHOLD,
    HOSTILE_SUPPLIER_NAME,
    NON_ASCII_SUPPLIER_NAMES,
    NORMAL_AMOUNT_CEILING,
    Scenario,
    SupplierInvoiceVersion,
)
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
    as_of: datetime | None = None,
    page: int | str | None = 1,
    count: int | str | None = 100,
) -> str:
    criteria = ""
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
    if invoice_date_from:
        criteria += f"<wd:Invoice_Date_On_or_After>{invoice_date_from}</wd:Invoice_Date_On_or_After>"
    if invoice_date_to:
        criteria += f"<wd:Invoice_Date_On_or_Before>{invoice_date_to}</wd:Invoice_Date_On_or_Before>"
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


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario.generate(seed=7, scale=0.1, day=DAY)


@pytest.fixture(scope="module")
def running_sandbox(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    with WorkdaySandbox(scenario) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox: WorkdaySandbox) -> Iterator[WorkdaySandbox]:
    yield running_sandbox
    running_sandbox.clear_faults()
    running_sandbox.set_password(PASSWORD)
    running_sandbox.reset_counters()


@pytest.fixture
def url(sandbox: WorkdaySandbox) -> str:
    return f"{sandbox.soap_url}/Resource_Management/v46.1"


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
                "updated": data.findtext("wd:Last_Updated_DateTime", namespaces=NS),
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


def expected_row(v: SupplierInvoiceVersion, scenario: Scenario) -> dict[str, object]:
    return {
        "wid": v.wid,
        "id": v.supplier_invoice_id,
        "status": v.document_status_id,
        "supplier_name": scenario.suppliers[v.supplier_id].name,
        "currency": v.currency_id,
        "on_hold": "1" if v.on_hold else "0",
        "amount": v.control_amount_total,
        "memo": v.memo,
        "updated": iso(v.entered_at),
        "invoice_date": v.invoice_date.isoformat(),
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


def test_scenario_sizes_scale_and_generation_is_fast() -> None:
    small = Scenario.generate(scale=0.001)
    assert len(small.suppliers) == 20 and len(small.supplier_invoices) == 30
    started = time.perf_counter()
    full = Scenario.generate(scale=1.0)
    elapsed = time.perf_counter() - started
    assert len(full.supplier_invoices) == 5000 and len(full.suppliers) == 500
    assert elapsed < 2.0  # about 0.3 s here; generous for a shared machine


def test_scenario_contents(scenario: Scenario) -> None:
    assert len({c.currency_id for c in scenario.companies.values()}) >= 2
    names = [s.name for s in scenario.suppliers.values()]
    assert set(NON_ASCII_SUPPLIER_NAMES) <= set(names)
    assert names.count(HOSTILE_SUPPLIER_NAME) == 1
    assert sum("<" in n for n in names) == 1
    invoiced_suppliers = {inv.latest.supplier_id for inv in scenario.supplier_invoices.values()}
    hostile = next(s for s in scenario.suppliers.values() if s.name == HOSTILE_SUPPLIER_NAME)
    assert hostile.supplier_id in invoiced_suppliers

    invoices = list(scenario.supplier_invoices.values())
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
        for v in inv.versions:
            decimals = 0 if v.currency_id == "JPY" else 2
            assert v.payment_status_id == "UNPAID"
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
    sandbox: WorkdaySandbox, url: str, scenario: Scenario
) -> None:
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
        assert root.findtext(".//wd:Response_Filter/wd:As_Of_Entry_DateTime", namespaces=NS) == iso(as_of)
        echo = root.find(".//wd:Request_Criteria//wd:Updated_From", NS)
        assert echo is not None and echo.text == iso(start)
        rows.extend(invoice_rows(root))
        page += 1
    assert total_pages == -(-len(expected) // count)
    assert [r["id"] for r in rows] == [v.supplier_invoice_id for v in expected]  # once each, ordered
    assert rows == [expected_row(v, scenario) for v in expected]
    assert sandbox.requests_by_operation["Get_Supplier_Invoices"] == total_pages
    assert {rec.as_of for rec in sandbox.request_log} == {as_of}


def test_same_window_and_as_of_gives_identical_answer(url: str) -> None:
    body = invoices_request(updated_from=at(9), updated_through=at(11), as_of=at(12), count=999)
    assert post(url, body).content == post(url, body).content


def test_as_of_hides_later_versions(url: str, scenario: Scenario) -> None:
    body = invoices_request(updated_from=at(9), updated_through=at(11), as_of=at(10), count=999)
    rows = invoice_rows(parse(post(url, body)))
    assert rows == [
        expected_row(v, scenario) for v in scenario.invoices_changed_between(at(9), at(11), at(10))
    ]
    assert all(str(r["updated"]) <= iso(at(10)) for r in rows)


def test_empty_window_and_page_past_the_end_have_no_response_data(url: str) -> None:
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


def test_tolerates_other_prefixes_nonce_wsu_ids_and_unknown_elements(url: str, scenario: Scenario) -> None:
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
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
      <ns0:Request_Criteria>
        <ns0:Some_Future_Element>ignored</ns0:Some_Future_Element>
        <ns0:Transaction_Log_Criteria_Data>
          <ns0:Transaction_Date_Range_Data>
            <ns0:Updated_From> 2026-11-29T10:00:00.000+00:00 </ns0:Updated_From>
            <ns0:Updated_Through>2026-11-29T12:00:00+01:00</ns0:Updated_Through>
          </ns0:Transaction_Date_Range_Data>
        </ns0:Transaction_Log_Criteria_Data>
      </ns0:Request_Criteria>
      <ns0:Response_Filter>
        <ns0:As_Of_Entry_DateTime>2026-11-29T11:00:00Z</ns0:As_Of_Entry_DateTime>
        <ns0:Count>999</ns0:Count>
      </ns0:Response_Filter>
    </ns0:Get_Supplier_Invoices_Request>
  </s:Body>
</s:Envelope>"""
    rows = invoice_rows(parse(requests.post(url, data=body.encode(), timeout=10)))
    expected = scenario.invoices_changed_between(at(10), at(11), at(11))
    assert [r["id"] for r in rows] == [v.supplier_invoice_id for v in expected]


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
        ("one", 100, "Invalid value for Page: 'one'"),
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
    bad_date = invoices_request(updated_from=at(1)).replace(iso(at(1)), "yesterday")
    response = post(url, bad_date)
    assert response.status_code == 500 and fault_code(response) == "SOAP-ENV:Client.validationError"


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
    body = envelope(invoices_request(updated_from=at(8), updated_through=at(18), as_of=at(18), count=50))
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
