"""The Workday schema model: requests and answers validated against v28 (and v46's overlay), the way a tenant would."""

from __future__ import annotations

import time

import pytest
from lxml import etree

from mlc_dagster.sandbox.schema import PROFILES, WD, SchemaModel, Violation

RM = "Resource_Management"
SS = "Settlement_Services"
FM = "Financial_Management"


def xml(body: str) -> etree._Element:
    """Parse a fragment written with the `wd:` prefix (bound here, as in a SOAP body)."""
    root = etree.fromstring(f'<wrapper xmlns:wd="{WD}">{body}</wrapper>')
    return root[0]


def validate(operation: str, body: str, *, profile: str = "v28", direction: str = "request") -> list[Violation]:
    model = SchemaModel.load(profile)
    service = model.operation(operation)[0]
    return model.validate(service, operation, xml(body), direction=direction)  # type: ignore[arg-type]


def request(operation: str, inner: str) -> str:
    return f'<wd:{operation}_Request wd:version="v46.1">{inner}</wd:{operation}_Request>'


RESPONSE_FILTER = (
    "<wd:Response_Filter><wd:As_Of_Entry_DateTime>2026-11-29T12:00:00Z</wd:As_Of_Entry_DateTime>"
    "<wd:Page>1</wd:Page><wd:Count>999</wd:Count></wd:Response_Filter>"
)
INVOICE_DATES = (
    "<wd:Invoice_Date_On_or_After>2026-11-01</wd:Invoice_Date_On_or_After>"
    "<wd:Invoice_Date_On_or_Before>2026-11-30</wd:Invoice_Date_On_or_Before>"
)
TRANSACTION_LOG = (
    "<wd:Transaction_Log_Criteria_Data><wd:Transaction_Date_Range_Data>"
    "<wd:Updated_From>2026-11-28T00:00:00Z</wd:Updated_From>"
    "<wd:Updated_Through>2026-11-29T00:00:00.000-08:00</wd:Updated_Through>"
    "</wd:Transaction_Date_Range_Data></wd:Transaction_Log_Criteria_Data>"
)


def invoices_request(
    criteria: str = INVOICE_DATES,
    *,
    group: str = "<wd:Include_Reference>true</wd:Include_Reference>",
    response_filter: str = RESPONSE_FILTER,
) -> str:
    return request(
        "Get_Supplier_Invoices",
        f"<wd:Request_Criteria>{criteria}</wd:Request_Criteria>{response_filter}"
        f"<wd:Response_Group>{group}</wd:Response_Group>",
    )


def messages(violations: list[Violation]) -> list[str]:
    return [violation.message for violation in violations]


# -- loading and look-ups -----------------------------------------------------------------------------------------


def test_loads_every_operation_once_per_profile() -> None:
    model = SchemaModel.load("v28")
    assert SchemaModel.load() is model
    assert SchemaModel.load("v46") is not model
    assert PROFILES == ("v28", "v46")
    assert set(model.operations) >= {
        "Get_Suppliers",
        "Get_Supplier_Invoices",
        "Get_Purchase_Orders",
        "Get_Payments",
        "Get_Journals",
        "Get_Account_Sets",
        "Get_Cost_Centers",
        "Get_Payment_Terms",
    }
    assert model.operation("Get_Payments") == (SS, "Get_Payments_RequestType", "Get_Payments_ResponseType")
    assert model.type_count() > 500
    with pytest.raises(ValueError, match="unknown schema profile"):
        SchemaModel.load("v99")
    with pytest.raises(KeyError, match="Get_Workers"):
        model.operation("Get_Workers")


def test_children_come_in_schema_order() -> None:
    names = [child.name for child in SchemaModel.load().children(RM, "Response_FilterType")]
    assert names == ["As_Of_Effective_Date", "As_Of_Entry_DateTime", "Page", "Count"]


def test_response_group_flags_are_the_groups_booleans() -> None:
    model = SchemaModel.load()
    assert model.response_group_flags("Get_Journals") == ("Include_Attachment_Data",)
    assert model.response_group_flags("Get_Supplier_Invoices") == ("Include_Reference", "Include_Attachment_Data")
    assert "Include_Cost_Center_Data" in model.response_group_flags("Get_Cost_Centers")


def test_criteria_elements_and_declares_follow_the_profile() -> None:
    v28, v46 = SchemaModel.load("v28"), SchemaModel.load("v46")
    assert "Invoice_Date_On_or_After" in v28.criteria_elements("Get_Supplier_Invoices")
    assert "Transaction_Log_Criteria_Data" not in v28.criteria_elements("Get_Supplier_Invoices")
    assert "Transaction_Log_Criteria_Data" in v46.criteria_elements("Get_Supplier_Invoices")
    assert not v28.declares(SS, "Payments_Request_CriteriaType", "Transaction_Log_Criteria_Data")
    assert v46.declares(SS, "Payments_Request_CriteriaType", "Transaction_Log_Criteria_Data")
    assert v28.since(RM, "Supplier_Invoice_Request_CriteriaType", "Transaction_Log_Criteria_Data") == "v46"
    assert v28.since(RM, "Supplier_Invoice_Request_CriteriaType", "Invoice_Date_On_or_After") is None
    assert not v28.declares(SS, "Payment_WWS_DataType", "Payment_ID")


# -- requests -----------------------------------------------------------------------------------------------------


def test_a_valid_v28_invoices_request_passes() -> None:
    assert validate("Get_Supplier_Invoices", invoices_request()) == []


def test_transaction_log_criteria_for_invoices_fails_on_v28_and_passes_on_v46() -> None:
    body = invoices_request(INVOICE_DATES + TRANSACTION_LOG)
    (violation,) = validate("Get_Supplier_Invoices", body, profile="v28")
    assert violation.message == "Element 'Transaction_Log_Criteria_Data' is not valid in Request_Criteria"
    assert violation.xpath == (
        "/wd:Get_Supplier_Invoices_Request[1]/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]"
    )
    assert "v46" in violation.detail
    assert validate("Get_Supplier_Invoices", body, profile="v46") == []
    assert validate("Get_Supplier_Invoices", invoices_request(TRANSACTION_LOG), profile="v46") == []


def test_v46_transaction_log_goes_after_the_v28_criteria() -> None:
    body = invoices_request(TRANSACTION_LOG + INVOICE_DATES)
    assert messages(validate("Get_Supplier_Invoices", body, profile="v46")) == [
        "Element 'Invoice_Date_On_or_After' is out of order in Request_Criteria",
        "Element 'Invoice_Date_On_or_Before' is out of order in Request_Criteria",
    ]


def test_undeclared_element_inside_the_v46_transaction_log_fails() -> None:
    criteria = TRANSACTION_LOG.replace(
        "<wd:Updated_From>", "<wd:Updated_From_Date>2026-11-28</wd:Updated_From_Date><wd:Updated_From>"
    )
    (violation,) = validate("Get_Supplier_Invoices", invoices_request(criteria), profile="v46")
    assert violation.xpath.endswith("/wd:Transaction_Date_Range_Data[1]/wd:Updated_From_Date[1]")


def payments_request(criteria: str) -> str:
    return request("Get_Payments", f"<wd:Request_Criteria>{criteria}</wd:Request_Criteria>{RESPONSE_FILTER}")


GENERAL_PAYMENT_CRITERIA = (
    "<wd:General_Payment_Criteria><wd:Payment_Date_on_Date_Or_After>2026-11-01</wd:Payment_Date_on_Date_Or_After>"
    "<wd:Payment_Date_on_Date_Or_Before>2026-11-30</wd:Payment_Date_on_Date_Or_Before></wd:General_Payment_Criteria>"
)


def test_payments_transaction_log_alone_passes_only_on_v46() -> None:
    body = payments_request(TRANSACTION_LOG)
    (violation,) = validate("Get_Payments", body, profile="v28")
    assert violation.xpath == "/wd:Get_Payments_Request[1]/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]"
    assert validate("Get_Payments", body, profile="v46") == []
    assert validate("Get_Payments", payments_request(GENERAL_PAYMENT_CRITERIA), profile="v28") == []


def test_payments_criteria_is_a_choice() -> None:
    remittance = "<wd:Remittance_File_Criteria/>"
    (violation,) = validate("Get_Payments", payments_request(GENERAL_PAYMENT_CRITERIA + remittance))
    assert "together with General_Payment_Criteria" in violation.message
    assert violation.xpath.endswith("/wd:Request_Criteria[1]/wd:Remittance_File_Criteria[1]")
    (violation,) = validate("Get_Payments", payments_request(GENERAL_PAYMENT_CRITERIA + TRANSACTION_LOG), profile="v46")
    assert violation.xpath.endswith("/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]")


def test_request_criteria_and_request_references_are_a_choice() -> None:
    references = (
        '<wd:Request_References><wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">abc</wd:ID>'
        "</wd:Supplier_Invoice_Reference></wd:Request_References>"
    )
    body = request("Get_Supplier_Invoices", f"<wd:Request_Criteria>{INVOICE_DATES}</wd:Request_Criteria>{references}")
    (violation,) = validate("Get_Supplier_Invoices", body)
    assert violation.xpath == "/wd:Get_Supplier_Invoices_Request[1]/wd:Request_References[1]"


def test_skip_non_existing_instances_is_accepted_on_request_references() -> None:
    references = (
        '<wd:Request_References wd:Skip_Non_Existing_Instances="true"><wd:Supplier_Invoice_Reference>'
        '<wd:ID wd:type="Supplier_Invoice_Reference_ID">SI-1</wd:ID><wd:ID wd:type="WID">abc</wd:ID>'
        '</wd:Supplier_Invoice_Reference><wd:Supplier_Invoice_Reference><wd:ID wd:type="WID">def</wd:ID>'
        "</wd:Supplier_Invoice_Reference></wd:Request_References>"
    )
    assert validate("Get_Supplier_Invoices", request("Get_Supplier_Invoices", references)) == []
    (violation,) = validate(
        "Get_Supplier_Invoices",
        request(
            "Get_Supplier_Invoices",
            references.replace('Skip_Non_Existing_Instances="true"', 'Skip_Non_Existing_Instances="yes"'),
        ),
    )
    assert violation.xpath == (
        "/wd:Get_Supplier_Invoices_Request[1]/wd:Request_References[1]/@wd:Skip_Non_Existing_Instances"
    )


def test_undeclared_attribute_fails_and_foreign_namespaces_are_ignored() -> None:
    group = (
        '<wd:Include_Reference xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="false">1'
        "</wd:Include_Reference>"
    )
    assert validate("Get_Supplier_Invoices", invoices_request(group=group)) == []
    criteria = '<wd:Supplier_Reference wd:Bogus="1"><wd:ID wd:type="Supplier_ID">S-1</wd:ID></wd:Supplier_Reference>'
    (violation,) = validate("Get_Supplier_Invoices", invoices_request(criteria))
    assert violation.message == "Attribute 'Bogus' is not valid on Supplier_Reference"


def test_include_reference_in_the_journals_group_fails() -> None:
    def journals(group: str) -> str:
        return request(
            "Get_Journals",
            "<wd:Request_Criteria><wd:Updated_From_Date>2026-11-28T00:00:00Z</wd:Updated_From_Date>"
            "<wd:Updated_To_Date>2026-11-29T00:00:00Z</wd:Updated_To_Date></wd:Request_Criteria>"
            f"{RESPONSE_FILTER}<wd:Response_Group>{group}</wd:Response_Group>",
        )

    assert validate("Get_Journals", journals("<wd:Include_Attachment_Data>false</wd:Include_Attachment_Data>")) == []
    (violation,) = validate("Get_Journals", journals("<wd:Include_Reference>true</wd:Include_Reference>"))
    assert violation.message == "Element 'Include_Reference' is not valid in Response_Group"
    assert violation.xpath == "/wd:Get_Journals_Request[1]/wd:Response_Group[1]/wd:Include_Reference[1]"
    assert "Include_Attachment_Data" in violation.detail


def test_response_filter_out_of_order_fails() -> None:
    response_filter = (
        "<wd:Response_Filter><wd:Page>2</wd:Page>"
        "<wd:As_Of_Entry_DateTime>2026-11-29T12:00:00Z</wd:As_Of_Entry_DateTime>"
        "<wd:Count>100</wd:Count></wd:Response_Filter>"
    )
    (violation,) = validate("Get_Supplier_Invoices", invoices_request(response_filter=response_filter))
    assert violation.message == "Element 'As_Of_Entry_DateTime' is out of order in Response_Filter"
    assert violation.xpath == "/wd:Get_Supplier_Invoices_Request[1]/wd:Response_Filter[1]/wd:As_Of_Entry_DateTime[1]"


def test_repeated_reference_passes_but_a_single_element_twice_fails() -> None:
    statuses = "".join(
        f'<wd:Payment_Status_Reference><wd:ID wd:type="Document_Payment_Status_ID">{status}</wd:ID>'
        "</wd:Payment_Status_Reference>"
        for status in ("UNPAID", "PARTIALLY_PAID")
    )
    assert validate("Get_Supplier_Invoices", invoices_request(INVOICE_DATES + statuses)) == []
    twice = INVOICE_DATES.replace(
        "<wd:Invoice_Date_On_or_Before>",
        "<wd:Invoice_Date_On_or_After>2026-11-02</wd:Invoice_Date_On_or_After><wd:Invoice_Date_On_or_Before>",
    )
    (violation,) = validate("Get_Supplier_Invoices", invoices_request(twice))
    assert violation.message == "Element 'Invoice_Date_On_or_After' appears more than once in Request_Criteria"
    assert violation.xpath.endswith("/wd:Request_Criteria[1]/wd:Invoice_Date_On_or_After[2]")


@pytest.mark.parametrize("value", ["true", "false", "1", "0", " true "])
def test_well_formed_bool_passes(value: str) -> None:
    group = f"<wd:Include_Reference>{value}</wd:Include_Reference>"
    assert validate("Get_Supplier_Invoices", invoices_request(group=group)) == []


@pytest.mark.parametrize("value", ["yes", "True", "2", ""])
def test_malformed_bool_fails(value: str) -> None:
    group = f"<wd:Include_Reference>{value}</wd:Include_Reference>"
    (violation,) = validate("Get_Supplier_Invoices", invoices_request(group=group))
    assert violation.message == f"Invalid value '{value}' for element 'Include_Reference'"
    assert violation.xpath == "/wd:Get_Supplier_Invoices_Request[1]/wd:Response_Group[1]/wd:Include_Reference[1]"


@pytest.mark.parametrize(
    ("element", "value", "valid"),
    [
        ("Invoice_Date_On_or_After", "2026-11-01", True),
        ("Invoice_Date_On_or_After", "2026-11-01Z", True),
        ("Invoice_Date_On_or_After", "2026-11-01-07:00", True),
        ("Invoice_Date_On_or_After", "2026-11-01T00:00:00Z", False),
        ("Invoice_Date_On_or_After", "2026-02-30", False),
        ("Invoice_Date_On_or_After", "01/11/2026", False),
        ("Page", "3", True),
        ("Page", "-1.50", True),
        ("Page", "1e3", False),
        ("Page", "NaN", False),
        ("As_Of_Entry_DateTime", "2026-11-29T12:00:00", True),
        ("As_Of_Entry_DateTime", "2024-05-22T06:34:08.883-07:00", True),
        ("As_Of_Entry_DateTime", "2026-11-29T12:00:00+05:30", True),
        ("As_Of_Entry_DateTime", "2026-11-29", False),
        ("As_Of_Entry_DateTime", "2026-11-29 12:00:00Z", False),
        ("As_Of_Entry_DateTime", "2026-11-29T25:00:00Z", False),
        ("As_Of_Entry_DateTime", "2026-11-29T12:00:00+5:30", False),
        ("As_Of_Entry_DateTime", "2026-11-29T12:00:00+15:00", False),
        ("Invoice_Date_On_or_After", "2026-11-01+05:75", False),
    ],
)
def test_simple_type_values(element: str, value: str, valid: bool) -> None:
    if element == "Invoice_Date_On_or_After":
        body = invoices_request(f"<wd:{element}>{value}</wd:{element}>")
    else:
        body = invoices_request(
            response_filter=f"<wd:Response_Filter><wd:{element}>{value}</wd:{element}></wd:Response_Filter>"
        )
    assert (validate("Get_Supplier_Invoices", body) == []) is valid


def test_elements_outside_workdays_namespace_fail() -> None:
    body = invoices_request('<Invoice_Date_On_or_After xmlns="">2026-11-01</Invoice_Date_On_or_After>')
    (violation,) = validate("Get_Supplier_Invoices", body)
    assert "namespace" in violation.detail
    assert violation.xpath == "/wd:Get_Supplier_Invoices_Request[1]/wd:Request_Criteria[1]/Invoice_Date_On_or_After[1]"


def test_the_root_must_be_the_operations_request() -> None:
    (violation,) = validate("Get_Supplier_Invoices", request("Get_Suppliers", ""))
    assert violation.xpath == "/wd:Get_Suppliers_Request[1]"
    with pytest.raises(ValueError, match="Resource_Management"):
        SchemaModel.load().validate(SS, "Get_Supplier_Invoices", xml(invoices_request()))


def test_text_inside_a_complex_element_fails() -> None:
    body = invoices_request(response_filter="<wd:Response_Filter>1<wd:Page>1</wd:Page></wd:Response_Filter>")
    (violation,) = validate("Get_Supplier_Invoices", body)
    assert violation.message == "Element 'Response_Filter' cannot have text content"


# -- responses ----------------------------------------------------------------------------------------------------


def payment(inner: str = "", *, wid: str = "p1") -> str:
    return (
        f'<wd:Payment><wd:Payment_Reference wd:Descriptor="Payment {wid}"><wd:ID wd:type="WID">{wid}</wd:ID>'
        f'<wd:ID wd:type="Payment_Reference_ID">PAY-{wid}</wd:ID></wd:Payment_Reference>'
        f"<wd:Payment_Data>{inner}<wd:Payment_Amount>1250.00</wd:Payment_Amount>"
        '<wd:Currency_Reference><wd:ID wd:type="Currency_ID">USD</wd:ID></wd:Currency_Reference>'
        "</wd:Payment_Data></wd:Payment>"
    )


def payments_response(data: str) -> str:
    return (
        '<wd:Get_Payments_Response wd:version="v46.1">'
        f"<wd:Request_Criteria>{GENERAL_PAYMENT_CRITERIA}</wd:Request_Criteria>{RESPONSE_FILTER}"
        "<wd:Response_Results><wd:Total_Results>2</wd:Total_Results><wd:Total_Pages>1</wd:Total_Pages>"
        "<wd:Page_Results>2</wd:Page_Results><wd:Page>1</wd:Page></wd:Response_Results>"
        f"<wd:Response_Data>{data}</wd:Response_Data></wd:Get_Payments_Response>"
    )


def test_a_valid_payments_response_passes() -> None:
    body = payments_response(payment(wid="p1") + payment(wid="p2"))
    assert validate("Get_Payments", body, direction="response") == []
    # A response is not a request.
    assert validate("Get_Payments", body, direction="request") != []


def test_payment_id_inside_payment_data_fails_in_a_response() -> None:
    body = payments_response(payment(wid="p1") + payment("<wd:Payment_ID>PAY-p2</wd:Payment_ID>", wid="p2"))
    (violation,) = validate("Get_Payments", body, direction="response")
    assert violation.message == "Element 'Payment_ID' is not valid in Payment_Data"
    assert violation.xpath == (
        "/wd:Get_Payments_Response[1]/wd:Response_Data[1]/wd:Payment[2]/wd:Payment_Data[1]/wd:Payment_ID[1]"
    )


def test_response_data_holds_only_its_wrapped_element() -> None:
    body = payments_response(payment() + "<wd:Supplier_Invoice/>")
    (violation,) = validate("Get_Payments", body, direction="response")
    assert violation.message == "Element 'Supplier_Invoice' is not valid in Response_Data"
    twice = payments_response(payment()).replace(
        "</wd:Get_Payments_Response>", f"<wd:Response_Data>{payment()}</wd:Response_Data></wd:Get_Payments_Response>"
    )
    (violation,) = validate("Get_Payments", twice, direction="response")
    assert violation.xpath == "/wd:Get_Payments_Response[1]/wd:Response_Data[2]"


def invoice(index: int) -> str:
    lines = "".join(
        f"<wd:Invoice_Line_Replacement_Data><wd:Supplier_Invoice_Line_ID>L-{index}-{line}"
        f"</wd:Supplier_Invoice_Line_ID><wd:Line_Order>{line}</wd:Line_Order>"
        f"<wd:Item_Description>Consulting services, week {line}</wd:Item_Description>"
        '<wd:Spend_Category_Reference><wd:ID wd:type="Spend_Category_ID">SC_CONSULTING</wd:ID>'
        "</wd:Spend_Category_Reference><wd:Quantity>1</wd:Quantity><wd:Unit_Cost>100.00</wd:Unit_Cost>"
        "<wd:Extended_Amount>100.00</wd:Extended_Amount>"
        '<wd:Worktags_Reference><wd:ID wd:type="Cost_Center_Reference_ID">CC-100</wd:ID></wd:Worktags_Reference>'
        "</wd:Invoice_Line_Replacement_Data>"
        for line in range(3)
    )
    return (
        f'<wd:Supplier_Invoice><wd:Supplier_Invoice_Reference wd:Descriptor="Invoice {index}">'
        f'<wd:ID wd:type="WID">{index:032x}</wd:ID><wd:ID wd:type="Supplier_Invoice_Reference_ID">SI-{index}</wd:ID>'
        f"</wd:Supplier_Invoice_Reference><wd:Supplier_Invoice_Data><wd:Supplier_Invoice_ID>SI-{index}"
        f"</wd:Supplier_Invoice_ID><wd:Invoice_Number>INV-{index}</wd:Invoice_Number>"
        '<wd:Company_Reference><wd:ID wd:type="Company_Reference_ID">ACME</wd:ID></wd:Company_Reference>'
        '<wd:Currency_Reference><wd:ID wd:type="Currency_ID">USD</wd:ID></wd:Currency_Reference>'
        f'<wd:Supplier_Reference><wd:ID wd:type="Supplier_ID">S-{index % 50}</wd:ID></wd:Supplier_Reference>'
        "<wd:Invoice_Date>2026-11-01-08:00</wd:Invoice_Date><wd:Due_Date_Override>2026-12-01-08:00"
        "</wd:Due_Date_Override><wd:On_Hold>0</wd:On_Hold><wd:Control_Amount_Total>300.00</wd:Control_Amount_Total>"
        "<wd:Memo>Monthly services</wd:Memo>"
        '<wd:Payment_Terms_Reference><wd:ID wd:type="Payment_Terms_ID">NET_30</wd:ID></wd:Payment_Terms_Reference>'
        f"<wd:Gross_Invoice_Amount>300.00</wd:Gross_Invoice_Amount>{lines}"
        "</wd:Supplier_Invoice_Data></wd:Supplier_Invoice>"
    )


def test_a_one_megabyte_response_validates_in_one_quick_pass() -> None:
    invoices: list[str] = []
    size = 0
    while size < 1_000_000:
        invoices.append(invoice(len(invoices)))
        size += len(invoices[-1])
    body = (
        '<wd:Get_Supplier_Invoices_Response wd:version="v46.1">'
        f"<wd:Request_Criteria>{TRANSACTION_LOG}</wd:Request_Criteria>{RESPONSE_FILTER}"
        "<wd:Response_Group><wd:Include_Reference>1</wd:Include_Reference></wd:Response_Group>"
        f"<wd:Response_Results><wd:Total_Results>{len(invoices)}</wd:Total_Results></wd:Response_Results>"
        f"<wd:Response_Data>{''.join(invoices)}</wd:Response_Data></wd:Get_Supplier_Invoices_Response>"
    )
    element = xml(body)
    model = SchemaModel.load("v46")
    started = time.perf_counter()
    violations = model.validate(RM, "Get_Supplier_Invoices", element, direction="response")
    elapsed = time.perf_counter() - started
    assert violations == []
    assert elapsed < 2.0, f"validating {len(body)} bytes took {elapsed:.2f}s"
    # The same answer from a v28 tenant could not echo v46 criteria.
    assert [
        v.xpath for v in SchemaModel.load("v28").validate(RM, "Get_Supplier_Invoices", element, direction="response")
    ] == ["/wd:Get_Supplier_Invoices_Response[1]/wd:Request_Criteria[1]/wd:Transaction_Log_Criteria_Data[1]"]
