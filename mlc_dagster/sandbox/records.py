"""How the Workday sandbox renders one record of each operation, as a v28 tenant sends it.

Every renderer emits only elements the schema declares for its type, in schema order (the
conformance test validates each kind of answer against `schema.SchemaModel`). Response-group flags
gate what they gate on a tenant: `Include_Reference` the record's own reference,
`Include_Payment_Group_Data` a payment's date, `Include_Cost_Center_Data` /
`Include_Simple_Cost_Center_Data` a cost center's data. Times and dates are tenant-local, with
offsets and milliseconds (`2026-11-28T05:05:00.120-08:00`, `2026-11-27-08:00`), as Workday sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from mlc_dagster.sandbox.scenario import (
    ACCOUNT_SET_ID,
    PAYMENT_TERM_DAYS,
    AccountSetVersion,
    CostCenterVersion,
    JournalEntryVersion,
    PaymentVersion,
    PurchaseOrderVersion,
    Scenario,
    SupplierInvoiceVersion,
    SupplierVersion,
    invoice_due_terms,
    make_wid,
)

# The tenant's zone: Pacific, standard time (the scenario's days are in late November and December).
TENANT_ZONE = timezone(timedelta(hours=-8))
_TENANT_OFFSET = "-08:00"

RemittanceDocument = Literal["reference", "id"]
Flags = frozenset[str]


def format_datetime(moment: datetime) -> str:
    """A tenant-local xsd:dateTime with milliseconds and offset: 2026-11-28T05:05:00.120-08:00."""
    local = moment.astimezone(TENANT_ZONE)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{local.microsecond // 1000:03d}{_TENANT_OFFSET}"


def format_date(day: date) -> str:
    """A tenant calendar day with the tenant's offset, as Workday writes xsd:date: 2026-11-27-08:00."""
    return day.isoformat() + _TENANT_OFFSET


def _money(amount: Decimal) -> str:
    # "f" never produces exponent notation, whatever the Decimal's internal exponent.
    return format(amount, "f")


def _bool(value: bool) -> str:
    return "1" if value else "0"


def reference(element: str, descriptor: str | None, ids: Iterable[tuple[str, str]]) -> str:
    descriptor_attr = "" if descriptor is None else f" wd:Descriptor={quoteattr(descriptor)}"
    id_xml = "".join(f'<wd:ID wd:type="{id_type}">{escape(value)}</wd:ID>' for id_type, value in ids)
    return f"<wd:{element}{descriptor_attr}>{id_xml}</wd:{element}>"


@dataclass(frozen=True, slots=True)
class PaymentTermVersion:
    wid: str
    payment_terms_id: str
    entered_at: datetime
    name: str
    due_days: int
    discount_days: int
    discount_percent: Decimal
    grace_days: int


@dataclass(frozen=True, slots=True)
class PaymentTerm:
    """Get_Payment_Terms' records: the scenario's terms, unchanged for a year before the day."""

    wid: str
    versions: tuple[PaymentTermVersion, ...]
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry_times", tuple(v.entered_at for v in self.versions))


def payment_terms(scenario: Scenario) -> list[PaymentTerm]:
    entered = scenario.day_start - timedelta(days=365)
    records = []
    for terms_id, value in sorted(scenario.payment_terms.items()):
        due, discount_days, percent, grace = PAYMENT_TERM_DAYS[terms_id]
        version = PaymentTermVersion(value.wid, terms_id, entered, value.name, due, discount_days, percent, grace)
        records.append(PaymentTerm(value.wid, (version,)))
    return records


class ReferenceCache:
    """Pre-rendered ``*_Reference`` fragments of the scenario's reference data.

    Rendering the same company or supplier reference thousands of times per page is the bulk of
    the serialisation cost otherwise. Races only ever store identical strings, so no lock.
    """

    def __init__(self, scenario: Scenario, remittance_document: RemittanceDocument = "reference") -> None:
        self._scenario = scenario
        self.remittance_document = remittance_document
        self._cache: dict[tuple[str, str], str] = {}
        # Only renamed suppliers need an as-of lookup for their descriptor; the rest have one name.
        self._renamed = {
            supplier_id
            for supplier_id, supplier in scenario.suppliers.items()
            if len({v.name for v in supplier.versions}) > 1
        }
        self._accounts = scenario.account_set.latest.accounts_by_id() if scenario.account_sets else {}

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    def at(self, as_of: datetime, flags: Flags) -> Refs:
        return Refs(self, as_of, flags)

    def get(self, kind: str, key: str) -> str:
        fragment = self._cache.get((kind, key))
        if fragment is None:
            fragment = self._render(kind, key)
            self._cache[(kind, key)] = fragment
        return fragment

    def supplier(self, element: str, supplier_id: str, as_of: datetime) -> str:
        """A reference to a supplier whose descriptor is its name as of ``as_of``."""
        supplier = self._scenario.suppliers[supplier_id]
        name = supplier.name
        if supplier_id in self._renamed:
            name = (supplier.as_of(as_of) or supplier.versions[0]).name
        key = (element, f"{supplier_id}\x00{name}")
        fragment = self._cache.get(key)
        if fragment is None:
            fragment = reference(element, name, (("WID", supplier.wid), ("Supplier_ID", supplier_id)))
            self._cache[key] = fragment
        return fragment

    def _render(self, kind: str, key: str) -> str:
        s = self._scenario
        if kind in ("company", "line_company"):
            company = s.companies[key]
            return reference(
                "Company_Reference" if kind == "company" else "Line_Company_Reference",
                company.name,
                (("WID", company.wid), ("Company_Reference_ID", company.company_id)),
            )
        if kind == "currency":
            currency = s.currencies[key]
            return reference("Currency_Reference", key, (("WID", currency.wid), ("Currency_ID", key)))
        if kind in ("document_status", "po_status"):
            status = s.document_statuses[key]
            element = "Invoice" if kind == "document_status" else "Purchase_Order"
            return reference(
                f"{element}_Document_Status_Reference",
                status.name,
                (("WID", status.wid), ("Document_Status_ID", key)),
            )
        if kind in ("spend_category", "resource_category"):
            category = s.spend_categories[key]
            return reference(
                "Spend_Category_Reference" if kind == "spend_category" else "Resource_Category_Reference",
                category.name,
                (("WID", category.wid), ("Spend_Category_ID", key)),
            )
        if kind == "cost_center":
            cost_center = s.cost_centers[key]
            return reference(
                "Worktags_Reference",
                cost_center.descriptor,
                (("WID", cost_center.wid), ("Cost_Center_Reference_ID", key)),
            )
        if kind == "purchase_order_line":
            # A PO line is known to an invoice line by its WID only.
            return reference("Purchase_Order_Line_Reference", None,
                             (("WID", make_wid(s.seed, "purchase_order_line", key)),))
        if kind == "settlement_run":
            run = s.settlement_runs[key]
            return reference("Settlement_Run_Reference", key, (("WID", run.wid), ("Settlement_Run_ID", key)))
        if kind == "ledger_account":
            return self._ledger_account(key)
        enumeration = {
            "supplier_category": ("Supplier_Category_Reference", "Supplier_Category_ID", s.supplier_categories),
            "payment_terms": ("Payment_Terms_Reference", "Payment_Terms_ID", s.payment_terms),
            "supplier_status": ("Status_Reference", "Business_Entity_Status_Value_ID", s.supplier_statuses),
            "journal_status": ("Journal_Status_Reference", "Journal_Entry_Status_ID", s.journal_statuses),
            "journal_source": ("Journal_Source_Reference", "Journal_Source_ID", s.journal_sources),
            "ledger_account_type": (
                "Ledger_Account_Type_Reference",
                "Ledger_Account_Type_ID",
                s.ledger_account_types,
            ),
        }.get(kind)
        if enumeration is None:
            raise KeyError(kind)
        element, id_type, values = enumeration
        value = values[key]
        return reference(element, value.name, (("WID", value.wid), (id_type, key)))

    def _ledger_account(self, key: str) -> str:
        # A ledger account ID is only unique within its account set, hence the parent attributes.
        parent = f' wd:parent_type="Account_Set_ID" wd:parent_id="{ACCOUNT_SET_ID}"'
        account = self._accounts.get(key)
        id_xml = f'<wd:ID wd:type="Ledger_Account_ID"{parent}>{escape(key)}</wd:ID>'
        if account is None:
            # An account the tenant does not know (the planted typo) has no WID or descriptor.
            return f"<wd:Ledger_Account_Reference>{id_xml}</wd:Ledger_Account_Reference>"
        return (
            f"<wd:Ledger_Account_Reference wd:Descriptor={quoteattr(account.descriptor)}>"
            f'<wd:ID wd:type="WID">{account.wid}</wd:ID>{id_xml}</wd:Ledger_Account_Reference>'
        )


class Refs:
    """The reference cache bound to one request: its as-of moment and its response-group flags."""

    __slots__ = ("_cache", "as_of", "flags")

    def __init__(self, cache: ReferenceCache, as_of: datetime, flags: Flags) -> None:
        self._cache = cache
        self.as_of = as_of
        self.flags = flags

    @property
    def scenario(self) -> Scenario:
        return self._cache.scenario

    @property
    def remittance_document(self) -> RemittanceDocument:
        return self._cache.remittance_document

    def get(self, kind: str, key: str) -> str:
        return self._cache.get(kind, key)

    def supplier(self, supplier_id: str, element: str = "Supplier_Reference") -> str:
        return self._cache.supplier(element, supplier_id, self.as_of)

    def own(self, element: str, descriptor: str | None, ids: Iterable[tuple[str, str]]) -> str:
        """The record's own reference, when the response group asks for it."""
        return reference(element, descriptor, ids) if "Include_Reference" in self.flags else ""


def render_supplier_invoice(refs: Refs, v: SupplierInvoiceVersion) -> str:
    terms_id, override = invoice_due_terms(v, refs.scenario.suppliers[v.supplier_id])
    parts: list[str] = [
        "<wd:Supplier_Invoice>",
        refs.own("Supplier_Invoice_Reference", f"Supplier Invoice: {v.supplier_invoice_id}",
                 (("WID", v.wid), ("Supplier_Invoice_Reference_ID", v.supplier_invoice_id))),
        "<wd:Supplier_Invoice_Data>"
        f"<wd:Supplier_Invoice_ID>{v.supplier_invoice_id}</wd:Supplier_Invoice_ID>"
        f"<wd:Invoice_Number>{escape(v.invoice_number)}</wd:Invoice_Number>"
        f"{refs.get('document_status', v.document_status_id)}"
        f"{refs.get('company', v.company_id)}"
        f"{refs.get('currency', v.currency_id)}"
        f"{refs.supplier(v.supplier_id)}"
        f"<wd:Invoice_Date>{format_date(v.invoice_date)}</wd:Invoice_Date>",
    ]
    if override is not None:
        parts.append(f"<wd:Due_Date_Override>{format_date(override)}</wd:Due_Date_Override>")
    parts.append(
        f"<wd:On_Hold>{_bool(v.on_hold)}</wd:On_Hold>"
        f"<wd:Control_Amount_Total>{_money(v.control_amount_total)}</wd:Control_Amount_Total>"
        f"<wd:Memo>{escape(v.memo)}</wd:Memo>"
    )
    if terms_id is not None:
        parts.append(refs.get("payment_terms", terms_id))
    parts.append(f"<wd:Gross_Invoice_Amount>{_money(v.gross_invoice_amount)}</wd:Gross_Invoice_Amount>")
    for line in v.lines:
        po_line = ("" if v.purchase_order_id is None
                   else refs.get("purchase_order_line", f"{v.purchase_order_id}:{line.line_order}"))
        parts.append(
            "<wd:Invoice_Line_Replacement_Data>"
            f"<wd:Supplier_Invoice_Line_ID>{line.line_id}</wd:Supplier_Invoice_Line_ID>"
            f"<wd:Line_Order>{line.line_order}</wd:Line_Order>"
            f"<wd:Item_Description>{escape(line.item_description)}</wd:Item_Description>"
            f"{po_line}"
            f"{refs.get('spend_category', line.spend_category_id)}"
            f"<wd:Quantity>{_money(line.quantity)}</wd:Quantity>"
            f"<wd:Unit_Cost>{_money(line.unit_cost)}</wd:Unit_Cost>"
            f"<wd:Extended_Amount>{_money(line.extended_amount)}</wd:Extended_Amount>"
            f"{refs.get('cost_center', line.cost_center_id)}"
            "</wd:Invoice_Line_Replacement_Data>"
        )
    parts.append("</wd:Supplier_Invoice_Data></wd:Supplier_Invoice>")
    return "".join(parts)


def render_supplier(refs: Refs, v: SupplierVersion) -> str:
    own = refs.own("Supplier_Reference", v.name, (("WID", v.wid), ("Supplier_ID", v.supplier_id)))
    return (
        f"<wd:Supplier>{own}<wd:Supplier_Data>"
        f"<wd:Supplier_ID>{escape(v.supplier_id)}</wd:Supplier_ID>"
        f"<wd:Supplier_Name>{escape(v.name)}</wd:Supplier_Name>"
        f"{refs.get('supplier_category', v.supplier_category_id)}"
        f"{refs.get('payment_terms', v.payment_terms_id)}"
        f"<wd:Supplier_Status_Data>{refs.get('supplier_status', v.status)}</wd:Supplier_Status_Data>"
        f"{refs.get('currency', v.currency_id)}"
        "</wd:Supplier_Data></wd:Supplier>"
    )


def render_purchase_order(refs: Refs, v: PurchaseOrderVersion) -> str:
    parts: list[str] = [
        "<wd:Purchase_Order>",
        refs.own("Purchase_Order_Reference", f"Purchase Order: {v.purchase_order_id}",
                 (("WID", v.wid), ("Purchase_Order_Reference_ID", v.purchase_order_id))),
        "<wd:Purchase_Order_Data>"
        f"<wd:Purchase_Order_ID>{escape(v.purchase_order_id)}</wd:Purchase_Order_ID>"
        f"<wd:Document_Number>{escape(v.document_number)}</wd:Document_Number>"
        f"{refs.get('po_status', v.document_status_id)}"
        f"{refs.get('company', v.company_id)}"
        f"{refs.supplier(v.supplier_id)}"
        f"<wd:Document_Date>{format_date(v.document_date)}</wd:Document_Date>"
        f"<wd:Due_Date>{format_date(v.due_date)}</wd:Due_Date>"
        f"{refs.get('currency', v.currency_id)}"
        f"<wd:Memo>{escape(v.memo)}</wd:Memo>",
    ]
    for line in v.lines:
        parts.append(
            "<wd:Goods_Line_Data>"
            f"<wd:Goods_Purchase_Order_Line_ID>{escape(line.line_id)}</wd:Goods_Purchase_Order_Line_ID>"
            f"<wd:Line_Number>{line.line_number}</wd:Line_Number>"
            f"<wd:Item_Description>{escape(line.item_description)}</wd:Item_Description>"
            f"{refs.get('resource_category', line.spend_category_id)}"
            f"<wd:Quantity>{_money(line.quantity)}</wd:Quantity>"
            f"<wd:Unit_Cost>{_money(line.unit_cost)}</wd:Unit_Cost>"
            f"<wd:Extended_Amount>{_money(line.extended_amount)}</wd:Extended_Amount>"
            f"<wd:Due_Date>{format_date(line.due_date)}</wd:Due_Date>"
            "</wd:Goods_Line_Data>"
        )
    parts.append("</wd:Purchase_Order_Data></wd:Purchase_Order>")
    return "".join(parts)


def render_payment(refs: Refs, v: PaymentVersion) -> str:
    # Payment_WWS_Data has no ID element: the payment's ID is only in its Payment_Reference.
    group = (f"<wd:Payment_Group_Data><wd:Payment_Date>{format_date(v.payment_date)}</wd:Payment_Date>"
             "</wd:Payment_Group_Data>") if "Include_Payment_Group_Data" in refs.flags else ""
    parts: list[str] = [
        "<wd:Payment>",
        refs.own("Payment_Reference", f"Payment: {v.payment_id}",
                 (("WID", v.wid), ("Payment_Reference_ID", v.payment_id))),
        f"<wd:Payment_Data>{group}"
        f"{refs.get('settlement_run', v.settlement_run_id)}"
        f"<wd:Payment_Status>{escape(v.payment_status)}</wd:Payment_Status>"
        f"<wd:Payment_Reference_Number>{escape(v.payment_reference_number)}</wd:Payment_Reference_Number>"
        f"<wd:Payment_Amount>{_money(v.payment_amount)}</wd:Payment_Amount>"
        f"{refs.get('currency', v.currency_id)}"
        f"{refs.get('company', v.company_id)}"
        f"{refs.supplier(v.supplier_id, 'Receiving_Party_Reference')}",
    ]
    by_reference = refs.remittance_document == "reference"
    for r in v.remittances:
        # Document_Reference is a string in v28. Tenants differ in what they fill (UNCONFIRMED): the
        # invoice's ID in Document_Reference beside its WID in Document_ID, or the ID in Document_ID only.
        if by_reference:
            document = (f"<wd:Document_ID>{r.document_wid}</wd:Document_ID>"
                        f"<wd:Document_Reference>{escape(r.document_id)}</wd:Document_Reference>")
        else:
            document = f"<wd:Document_ID>{escape(r.document_id)}</wd:Document_ID>"
        parts.append(
            "<wd:Remittance_Data><wd:Document_Remittance_Data>"
            f"<wd:Document_Type>{escape(r.document_type)}</wd:Document_Type>"
            f"{document}"
            f"<wd:Document_Date>{format_date(r.document_date)}</wd:Document_Date>"
            f"<wd:Total_Payable_Amount>{_money(r.total_payable_amount)}</wd:Total_Payable_Amount>"
            f"<wd:Amount_Paid>{_money(r.amount_paid)}</wd:Amount_Paid>"
            f"<wd:Amount_Due>{_money(r.amount_due)}</wd:Amount_Due>"
            f"<wd:Discount_Taken>{_money(r.discount_taken)}</wd:Discount_Taken>"
            "</wd:Document_Remittance_Data></wd:Remittance_Data>"
        )
    parts.append("</wd:Payment_Data></wd:Payment>")
    return "".join(parts)


def render_journal(refs: Refs, v: JournalEntryVersion) -> str:
    # Journal_Entry_Response_Group has no Include_Reference: the reference always comes.
    created = refs.scenario.journals[v.journal_entry_id].created_at
    parts: list[str] = [
        "<wd:Journal_Entry>",
        reference("Journal_Entry_Reference", f"Journal Entry: {v.journal_entry_id}",
                  (("WID", v.wid), ("Journal_Entry_Reference_ID", v.journal_entry_id))),
        "<wd:Journal_Entry_Data>"
        f"<wd:Journal_Number>{escape(v.journal_number)}</wd:Journal_Number>"
        f"{refs.get('journal_status', v.journal_status_id)}"
        f"{refs.get('company', v.company_id)}"
        f"{refs.get('currency', v.currency_id)}"
        f"<wd:Accounting_Date>{format_date(v.accounting_date)}</wd:Accounting_Date>"
        f"{refs.get('journal_source', v.journal_source_id)}"
        f"<wd:Memo>{escape(v.memo)}</wd:Memo>"
        f"<wd:Total_Ledger_Debits>{_money(v.total_ledger_debits)}</wd:Total_Ledger_Debits>"
        f"<wd:Total_Ledger_Credits>{_money(v.total_ledger_credits)}</wd:Total_Ledger_Credits>"
        f"<wd:Creation_Date>{format_datetime(created)}</wd:Creation_Date>"
        f"<wd:Last_Updated_Date>{format_datetime(v.entered_at)}</wd:Last_Updated_Date>",
    ]
    for line in v.lines:
        # Workday leaves out the side of a line that is zero.
        debit = f"<wd:Debit_Amount>{_money(line.debit_amount)}</wd:Debit_Amount>" if line.debit_amount else ""
        credit = f"<wd:Credit_Amount>{_money(line.credit_amount)}</wd:Credit_Amount>" if line.credit_amount else ""
        worktag = "" if line.cost_center_id is None else refs.get("cost_center", line.cost_center_id)
        parts.append(
            "<wd:Journal_Entry_Line_Data>"
            f"<wd:Line_Order>{line.line_order}</wd:Line_Order>"
            f"{refs.get('line_company', line.company_id)}"
            f"{refs.get('ledger_account', line.ledger_account_id)}"
            f"{debit}{credit}"
            f"{refs.get('currency', line.currency_id)}"
            f"<wd:Memo>{escape(line.memo)}</wd:Memo>"
            f"{worktag}"
            "</wd:Journal_Entry_Line_Data>"
        )
    parts.append("</wd:Journal_Entry_Data></wd:Journal_Entry>")
    return "".join(parts)


def render_account_set(refs: Refs, v: AccountSetVersion) -> str:
    parts: list[str] = [
        "<wd:Account_Set>",
        refs.own("Account_Set_Reference", v.name, (("WID", v.wid), ("Account_Set_ID", v.account_set_id))),
        "<wd:Account_Set_Data>"
        f"<wd:Account_Set_ID>{escape(v.account_set_id)}</wd:Account_Set_ID>"
        f"<wd:Account_Set_Name>{escape(v.name)}</wd:Account_Set_Name>",
    ]
    for account in v.ledger_accounts:
        parts.append(
            "<wd:Ledger_Account_Data>"
            f"<wd:Ledger_Account_Identifier>{escape(account.ledger_account_id)}</wd:Ledger_Account_Identifier>"
            f"<wd:Ledger_Account_Name>{escape(account.name)}</wd:Ledger_Account_Name>"
            f"{refs.get('ledger_account_type', account.account_type_id)}"
            f"<wd:Retired>{_bool(account.retired)}</wd:Retired>"
            "</wd:Ledger_Account_Data>"
        )
    parts.append("</wd:Account_Set_Data></wd:Account_Set>")
    return "".join(parts)


def render_cost_center(refs: Refs, v: CostCenterVersion) -> str:
    own = refs.own("Cost_Center_Reference", f"{v.cost_center_id} {v.name}",
                   (("WID", v.wid), ("Cost_Center_Reference_ID", v.cost_center_id)))
    data = simple = ""
    if "Include_Cost_Center_Data" in refs.flags:
        data = (
            "<wd:Cost_Center_Data><wd:Organization_Data>"
            f"<wd:ID>{escape(v.cost_center_id)}</wd:ID>"
            f"<wd:Organization_Name>{escape(v.name)}</wd:Organization_Name>"
            f"<wd:Organization_Code>{escape(v.code)}</wd:Organization_Code>"
            f"<wd:Organization_Active>{_bool(v.active)}</wd:Organization_Active>"
            "</wd:Organization_Data></wd:Cost_Center_Data>"
        )
    if "Include_Simple_Cost_Center_Data" in refs.flags:
        simple = (f"<wd:Simple_Cost_Center_Data><wd:ID>{escape(v.cost_center_id)}</wd:ID>"
                  f"<wd:Organization_Name>{escape(v.name)}</wd:Organization_Name></wd:Simple_Cost_Center_Data>")
    return f"<wd:Cost_Center>{own}{data}{simple}</wd:Cost_Center>"


def render_payment_term(refs: Refs, v: PaymentTermVersion) -> str:
    own = refs.own("Payment_Term_Reference", v.name, (("WID", v.wid), ("Payment_Terms_ID", v.payment_terms_id)))
    return (
        f"<wd:Payment_Term>{own}<wd:Payment_Term_Data>"
        f"<wd:Payment_Terms_ID>{escape(v.payment_terms_id)}</wd:Payment_Terms_ID>"
        f"<wd:Payment_Terms_Name>{escape(v.name)}</wd:Payment_Terms_Name>"
        f"<wd:Due_Days>{v.due_days}</wd:Due_Days>"
        f"<wd:Payment_Discount_Days>{v.discount_days}</wd:Payment_Discount_Days>"
        f"<wd:Payment_Discount_Percent>{_money(v.discount_percent)}</wd:Payment_Discount_Percent>"
        f"<wd:Grace_Days>{v.grace_days}</wd:Grace_Days>"
        "</wd:Payment_Term_Data></wd:Payment_Term>"
    )


__all__ = [
    "TENANT_ZONE",
    "UTC",
    "PaymentTerm",
    "ReferenceCache",
    "Refs",
    "format_date",
    "format_datetime",
    "payment_terms",
    "reference",
    "render_account_set",
    "render_cost_center",
    "render_journal",
    "render_payment",
    "render_payment_term",
    "render_purchase_order",
    "render_supplier",
    "render_supplier_invoice",
]
