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

    `sources` are child element names tried in order (the first present wins). For a `*_Reference`
    source, `id_type` picks the `ID` of that `wd:type`, or `descriptor=True` takes `wd:Descriptor`.
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
    """A document-date range (e.g. invoice date) plus a look-back, for tenants without the log."""

    from_element: str
    to_element: str
    lookback_days: int = 7
    kind: Literal["document_date"] = "document_date"


WindowCriteria = TransactionLogWindow | UpdatedDateWindow | DocumentDateWindow


@dataclass(frozen=True)
class LineSpec:
    """Repeated child rows of a record (invoice lines, journal lines), kept in their own table."""

    table: str
    element: str
    fields: tuple[Field, ...]


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

    @property
    def reference_element(self) -> str:
        return f"{self.record_element}_Reference"

    @property
    def data_element(self) -> str:
        return f"{self.record_element}_Data"

    @property
    def table(self) -> str:
        return self.name


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

ENTITIES: dict[str, Entity] = {e.name: e for e in (SUPPLIER_INVOICES,)}


def entity(name: str) -> Entity:
    try:
        return ENTITIES[name]
    except KeyError:
        raise KeyError(f"unknown Workday entity {name!r}; known: {', '.join(sorted(ENTITIES))}") from None
