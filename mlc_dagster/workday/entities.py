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
    `wd:type`, or `descriptor=True` takes `wd:Descriptor`. `reference=True` reads the `id_type` ID of
    the record's own `*_Reference` (beside `*_Data`): where Workday puts a record's business ID when
    its data has none (decision 5). No sources at all: Workday does not send the value; the entity's
    load SQL fills it (a due date from payment terms, a payment status from remittances).
    """

    name: str
    type: str
    sources: tuple[str, ...]
    id_type: str | None = None
    descriptor: bool = False
    required: bool = False
    reference: bool = False

    @property
    def derived(self) -> bool:
        return not self.sources


def f(name: str, type_: str, *sources: str, id_type: str | None = None, descriptor: bool = False,
      required: bool = False, reference: bool = False) -> Field:
    return Field(name, type_, sources, id_type, descriptor, required, reference)


def derived(name: str, type_: str) -> Field:
    """A column Workday does not send, filled by the entity's load SQL (`sql/load/<entity>.sql`)."""
    return Field(name, type_, ())


@dataclass(frozen=True)
class TransactionLogWindow:
    """`Transaction_Log_Criteria_Data/Transaction_Date_Range_Data/Updated_From` and `Updated_Through`:
    exactly the records changed in the window. Not in v28's invoice or payment criteria (only a
    later version may have it: unconfirmed), so tenants that refuse it move to the next route."""

    kind: Literal["transaction_log"] = "transaction_log"

    @property
    def elements(self) -> tuple[str, ...]:
        return ("Transaction_Log_Criteria_Data", "Transaction_Date_Range_Data", "Updated_From", "Updated_Through")


@dataclass(frozen=True)
class UpdatedDateWindow:
    """Flat `Updated_From_Date` / `Updated_To_Date` criteria: the records updated in the window."""

    kind: Literal["updated_date"] = "updated_date"

    @property
    def elements(self) -> tuple[str, ...]:
        return ("Updated_From_Date", "Updated_To_Date")


@dataclass(frozen=True)
class OpenDocumentSweep:
    """In the last window of each UTC day, on the document-date route: every document still open (by a
    status reference of the criteria, e.g. invoices unpaid or partly paid) dated in the last `days`
    days, so a change to an older document (approved, put on hold, re-amounted) is seen within a day
    though its date is long past the look-back; and, when `recent_days` is set, every document dated
    in the last `recent_days` whatever its status, so one entered back-dated past the look-back and
    settled the same day (a large invoice paid at once) is seen too. UNCONFIRMED: the status IDs are
    the tenant's (`Document_Payment_Status_ID` values differ by configuration); set them in
    `statuses`."""

    element: str  # a repeated *_Reference of the request criteria, e.g. Payment_Status_Reference
    id_type: str  # e.g. Document_Payment_Status_ID
    statuses: tuple[str, ...]
    days: int = 365
    recent_days: int = 0


@dataclass(frozen=True)
class DocumentDateWindow:
    """A document-date range (e.g. invoice date) plus a look-back, for tenants without updated-time
    criteria: every document dated from `lookback_days` before the window to the window's end, each
    window. `container` names the criteria element the dates sit in, when they are not directly under
    `Request_Criteria` (payments: `General_Payment_Criteria`). It cannot see a change to a document
    dated before the look-back, except through `sweep`."""

    from_element: str
    to_element: str
    lookback_days: int = 7
    container: str | None = None
    sweep: OpenDocumentSweep | None = None
    kind: Literal["document_date"] = "document_date"

    @property
    def elements(self) -> tuple[str, ...]:
        return tuple(e for e in (self.container, self.from_element, self.to_element) if e)

    @property
    def sweeps(self) -> tuple[OpenDocumentsWindow, ...]:
        """The requests of the daily sweep: open documents, then recent ones when `recent_days` is set."""
        if self.sweep is None:
            return ()
        return (OpenDocumentsWindow(self), OpenDocumentsWindow(self, recent=True))[: 2 if self.sweep.recent_days else 1]


@dataclass(frozen=True)
class WholeCollection:
    """No window criteria: the whole collection as of the window's end (small reference data whose
    operation offers no updated-window criteria, e.g. Get_Account_Sets, Get_Payment_Terms)."""

    kind: Literal["whole"] = "whole"

    @property
    def elements(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class OpenDocumentsWindow:
    """The daily sweep of a document-date route (`DocumentDateWindow.sweep`), asked as its own request."""

    route: DocumentDateWindow
    recent: bool = False  # the sweep's `recent_days` request: every status, no status element
    kind: Literal["open_documents"] = "open_documents"

    @property
    def sweep(self) -> OpenDocumentSweep:
        assert self.route.sweep is not None
        return self.route.sweep

    @property
    def days(self) -> int:
        return self.sweep.recent_days if self.recent else self.sweep.days

    @property
    def statuses(self) -> tuple[str, ...]:
        return () if self.recent else self.sweep.statuses

    @property
    def elements(self) -> tuple[str, ...]:
        return self.route.elements if self.recent else (*self.route.elements, self.sweep.element)


WindowCriteria = TransactionLogWindow | UpdatedDateWindow | DocumentDateWindow | WholeCollection | OpenDocumentsWindow
RouteName = Literal["transaction_log", "updated_date", "document_date", "whole"]


@dataclass(frozen=True)
class LineSpec:
    """Repeated child rows of a record (invoice lines, journal lines), kept in their own table."""

    table: str
    element: str
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class RestSpec:
    """A Workday REST collection (limit/offset paging) mapped onto the entity's columns.

    `fields` maps column -> a dotted path in one JSON item; `query` is sent on every page. No entity of
    the registry uses one today: Workday's documented REST items (`{id, descriptor, href}`) do not carry
    what any entity requires (e.g. a cost center's Cost_Center_Reference_ID), so worktags are read over
    SOAP only.
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
    # How a window is asked, in order of preference: a tenant refusing one (a validation fault naming its
    # criteria) moves the entity to the next, remembered per tenant and operation (`routes.RouteBook`).
    routes: tuple[WindowCriteria, ...]
    id_type: str  # the business ID type in the record's reference, e.g. Supplier_Invoice_Reference_ID
    fields: tuple[Field, ...]
    lines: LineSpec | None = None
    # Response_Group flags sent as true: exactly those the operation's response group declares and the
    # columns need (e.g. Include_Payment_Group_Data gates a payment's date). None declared: no group.
    response_group: tuple[str, ...] = ("Include_Reference",)
    description: str = ""
    table_name: str = ""  # the header table, when it is not the entity's name
    # Fields whose changes between snapshots are recorded in diffs.changes (status, amount, ...).
    tracked: tuple[str, ...] = ()
    # Data-quality checks run on every loaded window: name -> description; the SQL is sql/checks/<name>.sql.
    checks: dict[str, str] = field(default_factory=dict)
    # SQL run in a window's transaction after its rows are inserted (sql/load/<name>.sql): fills the
    # derived fields. Parameters: $window_start.
    load_sql: str | None = None
    rest: RestSpec | None = None  # a REST resource that can serve this entity instead of SOAP

    @property
    def window(self) -> WindowCriteria:
        """The preferred route."""
        return self.routes[0]

    def route(self, kind: str) -> WindowCriteria:
        for route in self.routes:
            if route.kind == kind:
                return route
        known = ", ".join(r.kind for r in self.routes)
        raise KeyError(f"{self.name} has no window route {kind!r}; its routes: {known}")

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
    routes=(
        TransactionLogWindow(),
        DocumentDateWindow("Invoice_Date_On_or_After", "Invoice_Date_On_or_Before", lookback_days=7,
                           sweep=OpenDocumentSweep("Payment_Status_Reference", "Document_Payment_Status_ID",
                                                   ("UNPAID", "PARTIALLY_PAID"), recent_days=31)),
    ),
    id_type="Supplier_Invoice_Reference_ID",
    description="Supplier invoices changed in the window, with their lines, as of the window's end.",
    tracked=("approval_status", "payment_status", "amount", "currency", "due_date", "supplier_id", "on_hold"),
    load_sql="supplier_invoices",
    fields=(
        f("invoice_id", "VARCHAR", "Supplier_Invoice_ID", required=True),
        f("invoice_number", "VARCHAR", "Invoice_Number"),
        f("supplier_id", "VARCHAR", "Supplier_Reference", id_type="Supplier_ID"),
        f("supplier_name", "VARCHAR", "Supplier_Reference", descriptor=True),
        f("company_id", "VARCHAR", "Company_Reference", id_type="Company_Reference_ID"),
        f("invoice_date", "DATE", "Invoice_Date"),
        # Decision 6: Due_Date_Override, else the invoice date plus its terms' Due_Days (load SQL).
        derived("due_date", "DATE"),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID", required=True),
        # Decision 6: Control_Amount_Total, else Gross_Invoice_Amount, else the sum of the lines.
        f("amount", MONEY, "Control_Amount_Total", "Gross_Invoice_Amount"),
        f("approval_status", "VARCHAR", "Invoice_Document_Status_Reference", id_type="Document_Status_ID"),
        # No invoice data element says whether it is paid: completed payments' remittances do (load SQL).
        derived("payment_status", "VARCHAR"),
        derived("updated_at", "TIMESTAMP"),  # an invoice's data has no update time in the schema
        f("on_hold", "BOOLEAN", "On_Hold"),
        f("memo", "VARCHAR", "Memo"),
        f("supplier_wid", "VARCHAR", "Supplier_Reference", id_type="WID"),
        f("due_date_override", "DATE", "Due_Date_Override"),
        f("payment_terms_id", "VARCHAR", "Payment_Terms_Reference", id_type="Payment_Terms_ID"),
        derived("due_date_source", "VARCHAR"),  # override | invoice_terms | supplier_terms
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
            f("cost_center_id", "VARCHAR", "Worktags_Reference", id_type="Cost_Center_Reference_ID"),
            f("purchase_order_line_wid", "VARCHAR", "Purchase_Order_Line_Reference", id_type="WID"),
        ),
    ),
)

PURCHASE_ORDERS = Entity(
    name="purchase_orders",
    service="Resource_Management",
    operation="Get_Purchase_Orders",
    record_element="Purchase_Order",
    cadence="transactional",
    routes=(
        UpdatedDateWindow(),
        DocumentDateWindow("Purchase_Order_Date_On_or_After", "Purchase_Order_Date_On_or_Before"),
    ),
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
        # v28's outbound PO data carries no header total: the sum of the lines (at load).
        derived("amount", MONEY),
        f("memo", "VARCHAR", "Memo"),
        derived("updated_at", "TIMESTAMP"),
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
    routes=(
        TransactionLogWindow(),
        DocumentDateWindow("Payment_Date_on_Date_Or_After", "Payment_Date_on_Date_Or_Before", lookback_days=3,
                           container="General_Payment_Criteria"),
    ),
    id_type="Payment_Reference_ID",
    # Payment_Group_Data (the payment date) only comes with its flag.
    response_group=("Include_Reference", "Include_Payment_Group_Data"),
    description="Supplier payments changed in the window, with their remittance lines to invoices.",
    tracked=("status", "amount", "currency", "payment_date", "supplier_id"),
    fields=(
        # Payment_WWS_Data has no ID element: the business ID is in the record's Payment_Reference.
        f("payment_id", "VARCHAR", "Payment_Reference", id_type="Payment_Reference_ID", reference=True,
          required=True),
        f("payment_date", "DATE", "Payment_Group_Data/Payment_Date"),
        f("settlement_run_id", "VARCHAR", "Settlement_Run_Reference", id_type="Settlement_Run_ID"),
        f("status", "VARCHAR", "Payment_Status"),
        f("reference_number", "VARCHAR", "Payment_Reference_Number"),
        f("amount", MONEY, "Payment_Amount", required=True),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID", required=True),
        f("company_id", "VARCHAR", "Company_Reference", id_type="Company_Reference_ID"),
        f("supplier_id", "VARCHAR", "Receiving_Party_Reference", id_type="Supplier_ID"),
        f("supplier_name", "VARCHAR", "Receiving_Party_Reference", descriptor=True),
        derived("updated_at", "TIMESTAMP"),
    ),
    lines=LineSpec(
        table="payment_remittances",
        element="Remittance_Data",
        fields=(
            f("document_type", "VARCHAR", "Document_Remittance_Data/Document_Type"),
            f("document_id", "VARCHAR", "Document_Remittance_Data/Document_ID"),
            # v28's Document_Reference is a string, not a reference; tenants fill it or Document_ID.
            f("invoice_id", "VARCHAR", "Document_Remittance_Data/Document_Reference",
              "Document_Remittance_Data/Document_ID"),
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
    routes=(UpdatedDateWindow(), DocumentDateWindow("Accounting_From_Date", "Accounting_To_Date")),
    id_type="Accounting_Journal_ID",
    # Journal_Entry_Response_Group declares only Include_Attachment_Data: no group is sent.
    response_group=(),
    description="Journal entries changed in the window, with their lines, as of the window's end.",
    tracked=("status", "total_debits", "total_credits", "accounting_date"),
    checks={"journals_balance": "Every journal in the window has line debits equal to line credits."},
    load_sql="journal_entries",
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
        # Only a criteria flag in the schema: a journal whose lines post to another company (load SQL).
        derived("intercompany", "BOOLEAN"),
        f("updated_at", "TIMESTAMP", "Last_Updated_Date"),
        f("created_at", "TIMESTAMP", "Creation_Date"),
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
    routes=(UpdatedDateWindow(),),
    id_type="Supplier_ID",
    description="Suppliers changed during the day, as of the day's end.",
    load_sql="suppliers",
    fields=(
        f("supplier_id", "VARCHAR", "Supplier_ID", required=True),
        f("name", "VARCHAR", "Supplier_Name"),
        f("category_id", "VARCHAR", "Supplier_Category_Reference", id_type="Supplier_Category_ID"),
        f("currency", "VARCHAR", "Currency_Reference", id_type="Currency_ID"),
        f("payment_terms_id", "VARCHAR", "Payment_Terms_Reference", id_type="Payment_Terms_ID"),
        f("status", "VARCHAR", "Supplier_Status_Data/Status_Reference", id_type="Business_Entity_Status_Value_ID"),
        derived("updated_at", "TIMESTAMP"),
    ),
)

PAYMENT_TERMS = Entity(
    name="payment_terms",
    service="Financial_Management",
    operation="Get_Payment_Terms",
    record_element="Payment_Term",
    cadence="reference",
    routes=(WholeCollection(),),
    id_type="Payment_Terms_ID",
    description="Payment terms (due days, discounts): most invoices' due dates come from them.",
    load_sql="payment_terms",
    fields=(
        f("payment_terms_id", "VARCHAR", "Payment_Terms_ID", required=True),
        f("name", "VARCHAR", "Payment_Terms_Name"),
        f("due_days", "INTEGER", "Due_Days"),
        f("discount_days", "INTEGER", "Payment_Discount_Days"),
        f("discount_percent", "DECIMAL(9,4)", "Payment_Discount_Percent"),
        f("grace_days", "INTEGER", "Grace_Days"),
        derived("updated_at", "TIMESTAMP"),
    ),
)

LEDGER_ACCOUNTS = Entity(
    name="ledger_accounts",
    service="Financial_Management",
    operation="Get_Account_Sets",
    record_element="Account_Set",
    cadence="reference",
    routes=(WholeCollection(),),
    id_type="Account_Set_ID",
    table_name="account_sets",
    description="The chart of accounts: every account set with its ledger accounts, as of the day's end.",
    fields=(
        f("account_set_id", "VARCHAR", "Account_Set_ID", required=True),
        f("name", "VARCHAR", "Account_Set_Name"),
        derived("updated_at", "TIMESTAMP"),
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
    routes=(UpdatedDateWindow(),),
    id_type="Cost_Center_Reference_ID",
    # Cost_Center_Data comes only with its flag (whether an unsent flag means false is not known).
    response_group=("Include_Reference", "Include_Cost_Center_Data"),
    description="Cost-center worktags changed during the day, as of the day's end.",
    fields=(
        f("worktag_id", "VARCHAR", "Organization_Data/ID", required=True),
        f("name", "VARCHAR", "Organization_Data/Organization_Name"),
        f("code", "VARCHAR", "Organization_Data/Organization_Code"),
        f("active", "BOOLEAN", "Organization_Data/Organization_Active"),
        derived("updated_at", "TIMESTAMP"),
    ),
)

ENTITIES: dict[str, Entity] = {
    e.name: e
    for e in (SUPPLIERS, PAYMENT_TERMS, SUPPLIER_INVOICES, PURCHASE_ORDERS, PAYMENTS, JOURNAL_ENTRIES, LEDGER_ACCOUNTS,
              WORKTAGS)
}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown Workday entity {name!r}; known: {', '.join(sorted(ENTITIES))}") from None
