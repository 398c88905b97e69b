"""The entity registry: one row of data per Workday entity the product polls.

Adding an entity is adding an `Entity` row to `ENTITIES`: the warehouse tables, the analyst view and
the Dagster asset are all derived from it. Field sources name Workday elements under the record's
`*_Data` element; where versions or tenants differ, a field lists alternatives, tried in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MONEY = "DECIMAL(18,4)"  # exact; four places covers every ISO 4217 minor unit (at most three)
QUANTITY = "DECIMAL(18,4)"

Cadence = Literal["transactional", "reference"]


@dataclass(frozen=True)
class Field:
    """A column and where it comes from in the record's `*_Data` element.

    `sources` are child element names tried in order (the first present wins); `A/B` descends into
    child `A` for its child `B`. For a `*_Reference` source, `id_type` picks the `ID` of that
    `wd:type`, or `descriptor=True` takes `wd:Descriptor`.
    """

    name: str
    type: str
    sources: tuple[str, ...]
    id_type: str | None = None
    descriptor: bool = False
    required: bool = False


def f(name: str, type_: str, *sources: str, id_type: str | None = None, descriptor: bool = False,
      required: bool = False) -> Field:
    return Field(name, type_, sources, id_type, descriptor, required)


@dataclass(frozen=True)
class TransactionLogWindow:
    """`Transaction_Log_Criteria_Data/Transaction_Date_Range_Data/Updated_From` and `Updated_Through`."""

    kind: Literal["transaction_log"] = "transaction_log"


@dataclass(frozen=True)
class UpdatedDateWindow:
    """Flat `Updated_From_Date` / `Updated_To_Date` criteria."""

    kind: Literal["updated_date"] = "updated_date"


@dataclass(frozen=True)
class DocumentDateWindow:
    """A document-date range (e.g. invoice date) plus a look-back, for tenants without the log.

    `container` names the criteria element the dates sit in, when they are not directly under
    `Request_Criteria` (payments: `General_Payment_Criteria`).
    """

    from_element: str
    to_element: str
    lookback_days: int = 7
    container: str | None = None
    kind: Literal["document_date"] = "document_date"


@dataclass(frozen=True)
class WholeCollection:
    """No window criteria: the whole collection as of the window's end (small reference data whose
    operation offers no updated-window criteria, e.g. Get_Account_Sets)."""

    kind: Literal["whole"] = "whole"


WindowCriteria = TransactionLogWindow | UpdatedDateWindow | DocumentDateWindow | WholeCollection


@dataclass(frozen=True)
class LineSpec:
    """Repeated child rows of a record (invoice lines, journal lines), kept in their own table."""

    table: str
    element: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class RestSpec:
    """A Workday REST collection (limit/offset paging) mapped onto the entity's columns.

    `fields` maps column -> a dotted path in one JSON item; `query` is sent on every page.
    """

    path: str  # under {WORKDAY_REST_URL}, with {tenant}: e.g. "v1/{tenant}/organizations"
    fields: dict[str, str]
    query: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Entity:
    name: str
    service: str
    operation: str
    record_element: str
    cadence: Cadence
    window: WindowCriteria
    id_type: str  # the business ID type in the record's reference, e.g. Supplier_Invoice_Reference_ID
    fields: tuple[Field, ...]
    lines: LineSpec | None = None
    # Alternate windows a tenant can be switched to by configuration (name -> criteria).
    alternate_windows: dict[str, WindowCriteria] = field(default_factory=dict)
    description: str = ""
    table_name: str = ""  # the header table, when it is not the entity's name
    rest: RestSpec | None = None  # a REST resource that can serve this entity instead of SOAP
    # Fields whose changes between snapshots are recorded in diffs.changes (status, amount, ...).
    tracked: tuple[str, ...] = ()
    # Data-quality checks run on every loaded window: name -> description; the SQL is sql/checks/<name>.sql.
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def reference_element(self) -> str:
        return f"{self.record_element}_Reference"

    @property
    def data_element(self) -> str:
        return f"{self.record_element}_Data"

    @property
    def table(self) -> str:
        return self.table_name or self.name


SUPPLIER_INVOICES = Entity(
    name="supplier_invoices",
    service="Resource_Management",
    operation="Get_Supplier_Invoices",
    record_element="Supplier_Invoice",
    cadence="transactional",
    window=TransactionLogWindow(),
    alternate_windows={
        "document_date": DocumentDateWindow("Invoice_Date_On_or_After", "Invoice_Date_On_or_Before"),
    },
    id_type="Supplier_Invoice_Reference_ID",
    description="Supplier invoices changed in the window, with their lines, as of the window's end.",
    tracked=("approval_status", "payment_status", "amount", "currency", "due_date", "supplier_id", "on_hold"),
    fields=(
        f("invoice_id", "VARCHAR", "Supplier_Invoice_ID", required=True),
        f("invoice_number", "VARCHAR", "Invoice_Number"),
        f("supplier_id", "VARCHAR", "Supplier_Reference", id_type="Supplier_ID"),
        f("supplier_name", "VARCHAR", "Supplier_Reference", descriptor=True),
        f("company_id", "VARCHAR", "Company_Reference", id_type="Company_Reference_ID"),
        f("invoice_date", "DATE", "Invoice_Date"),
        f("due_date", "DATE", "Due_Date", "Due_Date_Override"),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID", required=True),
        # Decision 5: Control_Amount_Total, else Gross_Invoice_Amount, else the sum of the lines.
        f("amount", MONEY, "Control_Amount_Total", "Gross_Invoice_Amount"),
        f("approval_status", "VARCHAR", "Invoice_Document_Status_Reference", id_type="Document_Status_ID"),
        f("payment_status", "VARCHAR", "Payment_Status_Reference", id_type="Document_Payment_Status_ID"),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime"),
        f("on_hold", "BOOLEAN", "On_Hold"),
        f("memo", "VARCHAR", "Memo"),
        f("supplier_wid", "VARCHAR", "Supplier_Reference", id_type="WID"),
        f("purchase_order_id", "VARCHAR", "Purchase_Order_Reference", id_type="Purchase_Order_Reference_ID"),
    ),
    lines=LineSpec(
        table="supplier_invoice_lines",
        element="Invoice_Line_Replacement_Data",
        fields=(
            f("line_id", "VARCHAR", "Supplier_Invoice_Line_ID"),
            f("line_order", "INTEGER", "Line_Order"),
            f("description", "VARCHAR", "Item_Description"),
            f("spend_category_id", "VARCHAR", "Spend_Category_Reference", id_type="Spend_Category_ID"),
            f("spend_category", "VARCHAR", "Spend_Category_Reference", descriptor=True),
            f("quantity", QUANTITY, "Quantity"),
            f("unit_cost", MONEY, "Unit_Cost"),
            f("amount", MONEY, "Extended_Amount"),
            f("ledger_account_id", "VARCHAR", "Ledger_Account_Reference", id_type="Ledger_Account_ID"),
            f("cost_center_id", "VARCHAR", "Worktags_Reference", id_type="Cost_Center_Reference_ID"),
        ),
    ),
)

PURCHASE_ORDERS = Entity(
    name="purchase_orders",
    service="Resource_Management",
    operation="Get_Purchase_Orders",
    record_element="Purchase_Order",
    cadence="transactional",
    window=UpdatedDateWindow(),
    id_type="Purchase_Order_Reference_ID",
    description="Purchase orders changed in the window, with their goods lines, as of the window's end.",
    tracked=("status", "amount", "currency", "due_date", "supplier_id"),
    fields=(
        f("purchase_order_id", "VARCHAR", "Purchase_Order_ID", required=True),
        f("document_number", "VARCHAR", "Document_Number"),
        f("status", "VARCHAR", "Purchase_Order_Document_Status_Reference", id_type="Document_Status_ID"),
        f("company_id", "VARCHAR", "Company_Reference", id_type="Company_Reference_ID"),
        f("supplier_id", "VARCHAR", "Supplier_Reference", id_type="Supplier_ID"),
        f("supplier_name", "VARCHAR", "Supplier_Reference", descriptor=True),
        f("document_date", "DATE", "Document_Date"),
        f("due_date", "DATE", "Due_Date"),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID", required=True),
        # Filled from the lines: v28's outbound PO data carries no header total.
        f("amount", MONEY, "Total_Amount"),
        f("memo", "VARCHAR", "Memo"),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime"),
    ),
    lines=LineSpec(
        table="purchase_order_lines",
        element="Goods_Line_Data",
        fields=(
            f("line_id", "VARCHAR", "Goods_Purchase_Order_Line_ID"),
            f("line_number", "INTEGER", "Line_Number"),
            f("description", "VARCHAR", "Item_Description"),
            f("spend_category_id", "VARCHAR", "Resource_Category_Reference", id_type="Spend_Category_ID"),
            f("quantity", QUANTITY, "Quantity"),
            f("unit_cost", MONEY, "Unit_Cost"),
            f("amount", MONEY, "Extended_Amount"),
            f("due_date", "DATE", "Due_Date"),
        ),
    ),
)

PAYMENTS = Entity(
    name="payments",
    service="Settlement_Services",
    operation="Get_Payments",
    record_element="Payment",
    cadence="transactional",
    window=TransactionLogWindow(),
    alternate_windows={
        "document_date": DocumentDateWindow("Payment_Date_on_Date_Or_After", "Payment_Date_on_Date_Or_Before",
                                            container="General_Payment_Criteria"),
    },
    id_type="Payment_Reference_ID",
    description="Supplier payments changed in the window, with their remittance lines to invoices.",
    tracked=("status", "amount", "currency", "payment_date", "supplier_id"),
    fields=(
        f("payment_id", "VARCHAR", "Payment_ID", required=True),
        f("payment_date", "DATE", "Payment_Group_Data/Payment_Date", "Payment_Date"),
        f("settlement_run_id", "VARCHAR", "Settlement_Run_Reference", id_type="Settlement_Run_ID"),
        f("status", "VARCHAR", "Payment_Status"),
        f("reference_number", "VARCHAR", "Payment_Reference_Number"),
        f("amount", MONEY, "Payment_Amount", required=True),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID", required=True),
        f("company_id", "VARCHAR", "Company_Reference", id_type="Company_Reference_ID"),
        f("supplier_id", "VARCHAR", "Receiving_Party_Reference", id_type="Supplier_ID"),
        f("supplier_name", "VARCHAR", "Receiving_Party_Reference", descriptor=True),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime"),
    ),
    lines=LineSpec(
        table="payment_remittances",
        element="Remittance_Data",
        fields=(
            f("document_type", "VARCHAR", "Document_Remittance_Data/Document_Type"),
            f("document_id", "VARCHAR", "Document_Remittance_Data/Document_ID"),
            f("invoice_id", "VARCHAR", "Document_Remittance_Data/Document_Reference",
              id_type="Supplier_Invoice_Reference_ID"),
            f("document_date", "DATE", "Document_Remittance_Data/Document_Date"),
            f("total_payable", MONEY, "Document_Remittance_Data/Total_Payable_Amount"),
            f("amount_paid", MONEY, "Document_Remittance_Data/Amount_Paid"),
            f("amount_due", MONEY, "Document_Remittance_Data/Amount_Due"),
            f("discount_taken", MONEY, "Document_Remittance_Data/Discount_Taken"),
        ),
    ),
)

JOURNAL_ENTRIES = Entity(
    name="journal_entries",
    service="Financial_Management",
    operation="Get_Journals",
    record_element="Journal_Entry",
    cadence="transactional",
    window=UpdatedDateWindow(),
    id_type="Journal_Entry_Reference_ID",
    description="Journal entries changed in the window, with their lines, as of the window's end.",
    tracked=("status", "total_debits", "total_credits", "accounting_date"),
    checks={"journals_balance": "Every journal in the window has line debits equal to line credits."},
    fields=(
        f("journal_id", "VARCHAR", "Journal_Number", required=True),
        f("status", "VARCHAR", "Journal_Status_Reference", id_type="Journal_Entry_Status_ID"),
        f("company_id", "VARCHAR", "Company_Reference", id_type="Company_Reference_ID"),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID"),
        f("accounting_date", "DATE", "Accounting_Date"),
        f("journal_source", "VARCHAR", "Journal_Source_Reference", id_type="Journal_Source_ID"),
        f("memo", "VARCHAR", "Memo"),
        f("total_debits", MONEY, "Total_Ledger_Debits"),
        f("total_credits", MONEY, "Total_Ledger_Credits"),
        f("intercompany", "BOOLEAN", "Intercompany_Journal"),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime", "Last_Updated_Date"),
    ),
    lines=LineSpec(
        table="journal_lines",
        element="Journal_Entry_Line_Data",
        fields=(
            f("line_order", "INTEGER", "Line_Order"),
            f("company_id", "VARCHAR", "Line_Company_Reference", id_type="Company_Reference_ID"),
            f("ledger_account_id", "VARCHAR", "Ledger_Account_Reference", id_type="Ledger_Account_ID"),
            f("debit", MONEY, "Debit_Amount", "Ledger_Debit_Amount"),
            f("credit", MONEY, "Credit_Amount", "Ledger_Credit_Amount"),
            f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID"),
            f("memo", "VARCHAR", "Memo"),
            f("cost_center_id", "VARCHAR", "Worktags_Reference", id_type="Cost_Center_Reference_ID"),
        ),
    ),
)

SUPPLIERS = Entity(
    name="suppliers",
    service="Resource_Management",
    operation="Get_Suppliers",
    record_element="Supplier",
    cadence="reference",
    window=UpdatedDateWindow(),
    id_type="Supplier_ID",
    description="Suppliers changed during the day, as of the day's end.",
    fields=(
        f("supplier_id", "VARCHAR", "Supplier_ID", required=True),
        f("name", "VARCHAR", "Supplier_Name"),
        f("category_id", "VARCHAR", "Supplier_Category_Reference", id_type="Supplier_Category_ID"),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID"),
        f("payment_terms_id", "VARCHAR", "Payment_Terms_Reference", id_type="Payment_Terms_ID"),
        f("status", "VARCHAR", "Supplier_Status_Data/Status_Reference", id_type="Business_Entity_Status_Value_ID"),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime"),
    ),
)

LEDGER_ACCOUNTS = Entity(
    name="ledger_accounts",
    service="Financial_Management",
    operation="Get_Account_Sets",
    record_element="Account_Set",
    cadence="reference",
    window=WholeCollection(),
    id_type="Account_Set_ID",
    table_name="account_sets",
    description="The chart of accounts: every account set with its ledger accounts, as of the day's end.",
    fields=(
        f("account_set_id", "VARCHAR", "Account_Set_ID", required=True),
        f("name", "VARCHAR", "Account_Set_Name"),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime"),
    ),
    lines=LineSpec(
        table="ledger_accounts",
        element="Ledger_Account_Data",
        fields=(
            f("ledger_account_id", "VARCHAR", "Ledger_Account_Identifier", required=True),
            f("name", "VARCHAR", "Ledger_Account_Name"),
            f("account_type", "VARCHAR", "Ledger_Account_Type_Reference", id_type="Ledger_Account_Type_ID"),
            f("retired", "BOOLEAN", "Retired"),
        ),
    ),
)

WORKTAGS = Entity(
    name="worktags",
    service="Financial_Management",
    operation="Get_Cost_Centers",
    record_element="Cost_Center",
    cadence="reference",
    window=UpdatedDateWindow(),
    id_type="Cost_Center_Reference_ID",
    description="Cost-center worktags changed during the day, as of the day's end.",
    fields=(
        f("worktag_id", "VARCHAR", "Organization_Data/ID", required=True),
        f("name", "VARCHAR", "Organization_Data/Organization_Name"),
        f("code", "VARCHAR", "Organization_Data/Organization_Code"),
        f("active", "BOOLEAN", "Organization_Data/Organization_Active"),
        f("updated_at", "TIMESTAMP", "Last_Updated_DateTime"),
    ),
    # Lighter read over REST (MLC_REST_ENTITIES=worktags): the whole list, 100 a page.
    rest=RestSpec(
        path="v1/{tenant}/organizations",
        query={"type": "Cost_Center"},
        fields={"wid": "id", "worktag_id": "referenceID", "name": "descriptor", "code": "code",
                "active": "isActive"},
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (SUPPLIERS, SUPPLIER_INVOICES, PURCHASE_ORDERS, PAYMENTS, JOURNAL_ENTRIES, LEDGER_ACCOUNTS, WORKTAGS)
}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown Workday entity {name!r}; known: {', '.join(sorted(ENTITIES))}") from None
