"""Deterministic, Workday-shaped finance data for one business day.

The scenario is the single source of truth behind the Workday sandbox server: the server only
selects and serialises what is generated here, and tests compare what a client loaded with the
answers of this module (``Scenario.changed_between``, ``Scenario.invoices_changed_between``,
``Scenario.ground_truth``).

Everything is derived from ``random.Random(seed)`` (suppliers and the day's invoices), from one
``random.Random(f"{seed}:{topic}")`` per later collection, and from hashes of ``seed + kind +
number`` (the WIDs), so the same ``(seed, scale, day)`` always gives identical data, on any
machine. Each later collection has its own stream so that adding one never shifts the others.

Records that change over time are kept as immutable *versions*, each with the UTC moment it was
entered. That is what Workday's ``As_Of_Entry_DateTime`` and updated-window criteria select on, so
every collection that a ``Get_`` operation serves has the shape ``VersionedRecord``: a tuple of
complete snapshots (``versions``, each with ``entered_at``) and their entry times
(``entry_times``), oldest first. The collections (``COLLECTIONS``), all dicts keyed by business
ID in ID order:

* ``suppliers`` (prior history; a few deactivated or renamed during the day),
* ``cost_centers`` (the cost-center worktags; one or two deactivated during the day),
* ``account_sets`` (one chart of accounts, ``ACME_COA``, with its ledger accounts),
* ``supplier_invoices`` (the day's 5,000 x scale, then a thin history of earlier days),
* ``purchase_orders`` (the day's 1,000 x scale, then the older ones the day's invoices reference),
* ``payments`` (two settlement runs during the day),
* ``journals`` (the day's journal entries).

Planted anomalies and the exact answers a correct detector must find are in ``ground_truth``
(see ``Scenario``).

Consecutive days: ``Scenario.generate(seed, scale, day, stream)`` with a ``DayStream`` makes one
day of a multi-day timeline (its own random streams and ID ranges, the first day's reference
data); ``mlc_dagster.sandbox.timeline.Timeline`` builds them. Without a stream nothing changes.
"""

from __future__ import annotations

import bisect
import gc
import hashlib
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Any, Generic, Literal, Protocol, TypedDict, TypeVar

__all__ = [
    "ACCOUNT_SET_ID",
    "AP_CONTROL_ACCOUNT",
    "COLLECTIONS",
    "DEFAULT_DAY",
    "DUE_FROM_ACCOUNT",
    "DUE_TO_ACCOUNT",
    "DUPLICATE_TOUCH_MEMO",
    "HIGH_VALUE_THRESHOLD",
    "HISTORY_DAYS",
    "HOSTILE_SUPPLIER_NAME",
    "INTERCOMPANY_ACCOUNTS",
    "INVOICE_NUMBER_SPAN",
    "NON_ASCII_SUPPLIER_NAMES",
    "NORMAL_AMOUNT_CEILING",
    "OVERDUE_REMINDER_MEMO",
    "UNKNOWN_LEDGER_ACCOUNT",
    "AccountSet",
    "AccountSetVersion",
    "CollectionName",
    "Company",
    "CostCenter",
    "CostCenterVersion",
    "Currency",
    "DayStream",
    "GroundTruth",
    "JournalEntry",
    "JournalEntryVersion",
    "JournalLine",
    "LedgerAccount",
    "Payment",
    "PaymentRunTruth",
    "PaymentVersion",
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PurchaseOrderVersion",
    "ReferenceValue",
    "RemittanceLine",
    "Scenario",
    "SettlementRun",
    "SpendCategory",
    "Status",
    "Supplier",
    "SupplierInvoice",
    "SupplierInvoiceLine",
    "SupplierInvoiceVersion",
    "SupplierVersion",
    "VersionedRecord",
    "generate_scenario",
    "make_wid",
    "select_versions",
]

# The reference request in the project notes polls 2026-11-29; defaulting to it keeps examples,
# fixtures and the scenario on the same day.
DEFAULT_DAY = date(2026, 11, 29)

# Ground-truth rule for the planted "high value invoice" anomaly (see Scenario.ground_truth).
HIGH_VALUE_THRESHOLD = Decimal(100_000)
# Every invoice that is not planted as high-value stays strictly below this absolute amount, in
# every version, so a threshold anywhere in [60,000, 100,000] finds exactly the planted ones.
NORMAL_AMOUNT_CEILING = Decimal(60_000)

# How far back the thin invoice history reaches (invoice dates in [day - 60, day - 1]).
HISTORY_DAYS = 60

ACCOUNT_SET_ID = "ACME_COA"
AP_CONTROL_ACCOUNT = "2000"
DUE_FROM_ACCOUNT = "1500"  # intercompany receivable
DUE_TO_ACCOUNT = "2500"  # intercompany payable
INTERCOMPANY_ACCOUNTS = frozenset({DUE_FROM_ACCOUNT, DUE_TO_ACCOUNT})
# A fat-fingered 6100: the planted "unknown account" posting. No account set version has it.
UNKNOWN_LEDGER_ACCOUNT = "61000"

NON_ASCII_SUPPLIER_NAMES = (
    "Müller Präzisionsteile GmbH",
    "Société Générale de Fournitures",
    "株式会社ヤマダ商事",
    "Ørsted Facility Services",
    "Łódź Logistyka Sp. z o.o.",
    "Café Ñandú Catering S.L.",
)
# Exactly one supplier carries Slack mrkdwn control sequences and XML metacharacters so that
# escaping is exercised on every path (XML serialisation, parsing, Slack formatting).
HOSTILE_SUPPLIER_NAME = "<!channel> Evil & Co <https://evil.example|Pay here>"

# Business day during which invoices are first entered (UTC); later versions may follow until
# the end of the day.
_ENTRY_WINDOW_START = time(8, 0, tzinfo=UTC)
_ENTRY_WINDOW_SECONDS = 10 * 3600

# The Memo of the version entered during the day on planted invoices that would otherwise have
# none (see Scenario.ground_truth): everything else stays as in the previous version.
OVERDUE_REMINDER_MEMO = "Payment reminder received from supplier"
DUPLICATE_TOUCH_MEMO = "Supplier statement received"

# Two settlement runs, late morning and afternoon, as AP teams commonly schedule them.
_SETTLEMENT_RUN_TIMES = (time(11, 0, tzinfo=UTC), time(16, 0, tzinfo=UTC))


def make_wid(seed: int, kind: str, key: object) -> str:
    """A Workday ID: 32 lowercase hex characters, stable for (seed, kind, key)."""
    return hashlib.blake2b(f"{seed}:{kind}:{key}".encode(), digest_size=16).hexdigest()


# --------------------------------------------------------------------------- reference data


@dataclass(frozen=True, slots=True)
class Currency:
    currency_id: str  # ISO 4217, also Workday's Currency_ID
    wid: str
    decimals: int  # minor-unit digits: 2 for USD, 0 for JPY

    def from_minor_units(self, minor: int) -> Decimal:
        # scaleb keeps the exponent at -decimals, so str() gives "123.40", never "1.234E+2".
        return Decimal(minor).scaleb(-self.decimals)

    def to_minor_units(self, amount: Decimal) -> int:
        return int(amount.scaleb(self.decimals))


@dataclass(frozen=True, slots=True)
class Company:
    company_id: str  # Company_Reference_ID
    wid: str
    name: str
    currency_id: str  # the company's base currency


@dataclass(frozen=True, slots=True)
class SpendCategory:
    spend_category_id: str  # Spend_Category_ID, e.g. SC_IT
    wid: str
    name: str


@dataclass(frozen=True, slots=True)
class Status:
    """A value of a Workday status enumeration (Document_Status, Document_Payment_Status)."""

    status_id: str  # e.g. APPROVED
    wid: str
    name: str  # descriptor, e.g. "Approved"


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """A value of another small Workday enumeration: supplier category, payment terms, supplier
    status, journal status or source, ledger account type. ``value_id`` is its reference ID."""

    value_id: str
    wid: str
    name: str  # descriptor


@dataclass(frozen=True, slots=True)
class SettlementRun:
    settlement_run_id: str  # Settlement_Run_ID, e.g. SR-2026-11-29-1
    wid: str
    started_at: datetime  # UTC; its payments are created in the minutes after


# --------------------------------------------------------------------------- versioned records


class _Entered(Protocol):
    @property
    def entered_at(self) -> datetime: ...


E = TypeVar("E", bound=_Entered)


class _Versioned(Generic[E]):
    """What every versioned record shares; the dataclasses below declare the fields.

    ``versions`` are complete snapshots, oldest first, with strictly increasing ``entered_at``.
    """

    __slots__ = ()
    versions: tuple[E, ...]
    entry_times: tuple[datetime, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry_times", tuple(v.entered_at for v in self.versions))

    @property
    def created_at(self) -> datetime:
        return self.versions[0].entered_at

    @property
    def latest(self) -> E:
        return self.versions[-1]

    def as_of(self, moment: datetime) -> E | None:
        """The latest version entered at or before ``moment``; None if it did not exist yet."""
        i = bisect.bisect_right(self.entry_times, moment)
        return self.versions[i - 1] if i else None


# --------------------------------------------------------------------------- suppliers


@dataclass(frozen=True, slots=True)
class SupplierVersion:
    wid: str
    supplier_id: str  # Supplier_ID, e.g. SUP-00042
    version: int
    entered_at: datetime  # UTC; the response's Last_Updated_DateTime
    name: str
    supplier_category_id: str  # Supplier_Category_ID, e.g. SERVICES
    payment_terms_id: str  # Payment_Terms_ID, e.g. NET_30
    currency_id: str  # the supplier's default currency
    status: str  # Business_Entity_Status_Value_ID: ACTIVE or INACTIVE


@dataclass(frozen=True, slots=True)
class Supplier(_Versioned[SupplierVersion]):
    supplier_id: str
    wid: str
    versions: tuple[SupplierVersion, ...]  # the first is entered before the scenario day
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        """The current name (at the end of the day); use ``as_of`` for an earlier one."""
        return self.versions[-1].name

    @property
    def currency_id(self) -> str:
        return self.versions[-1].currency_id

    @property
    def status(self) -> str:
        return self.versions[-1].status


# --------------------------------------------------------------------------- cost centers


@dataclass(frozen=True, slots=True)
class CostCenterVersion:
    wid: str
    cost_center_id: str  # Cost_Center_Reference_ID and Organization_Data/ID, e.g. CC100
    version: int
    entered_at: datetime
    name: str  # Organization_Name
    code: str  # Organization_Code
    active: bool  # Organization_Active


@dataclass(frozen=True, slots=True)
class CostCenter(_Versioned[CostCenterVersion]):
    cost_center_id: str
    wid: str
    versions: tuple[CostCenterVersion, ...]
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.versions[-1].name

    @property
    def code(self) -> str:
        return self.versions[-1].code

    @property
    def active(self) -> bool:
        """Active at the end of the day."""
        return self.versions[-1].active

    @property
    def descriptor(self) -> str:
        return f"{self.cost_center_id} {self.name}"


# --------------------------------------------------------------------------- ledger accounts


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    ledger_account_id: str  # Ledger_Account_Identifier and Ledger_Account_ID, e.g. 6100
    wid: str
    name: str
    account_type_id: str  # Ledger_Account_Type_ID: Asset, Liability, Equity, Revenue, Expense
    retired: bool

    @property
    def descriptor(self) -> str:
        return f"{self.ledger_account_id} {self.name}"


@dataclass(frozen=True, slots=True)
class AccountSetVersion:
    wid: str
    account_set_id: str  # Account_Set_ID, ACME_COA
    version: int
    entered_at: datetime
    name: str
    ledger_accounts: tuple[LedgerAccount, ...]  # by identifier

    def accounts_by_id(self) -> dict[str, LedgerAccount]:
        return {a.ledger_account_id: a for a in self.ledger_accounts}


@dataclass(frozen=True, slots=True)
class AccountSet(_Versioned[AccountSetVersion]):
    account_set_id: str
    wid: str
    versions: tuple[AccountSetVersion, ...]
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)


# --------------------------------------------------------------------------- supplier invoices


@dataclass(frozen=True, slots=True)
class SupplierInvoiceLine:
    line_id: str  # Supplier_Invoice_Line_ID, e.g. SIL-000123-1
    line_order: int
    item_description: str
    spend_category_id: str
    quantity: Decimal
    unit_cost: Decimal
    extended_amount: Decimal  # exactly quantity * unit_cost, in the invoice currency's decimals
    cost_center_id: str


@dataclass(frozen=True, slots=True)
class SupplierInvoiceVersion:
    """One complete snapshot of a supplier invoice, as entered at ``entered_at``.

    Header fields that never change are repeated in every version so that a version is a
    self-contained row, exactly what a ``Get_Supplier_Invoices`` response carries.
    """

    wid: str
    supplier_invoice_id: str  # SI-000123
    version: int  # 1 for the first entry
    entered_at: datetime  # UTC; the response's Last_Updated_DateTime
    invoice_number: str  # the supplier's own number, INV-88812
    supplier_id: str
    company_id: str
    currency_id: str
    invoice_date: date
    due_date: date
    document_status_id: str  # DRAFT, IN_PROGRESS, APPROVED
    payment_status_id: str  # UNPAID, then PAID or PARTIALLY_PAID once a settlement run pays it
    on_hold: bool
    memo: str
    control_amount_total: Decimal  # exact sum of the lines' extended_amount
    lines: tuple[SupplierInvoiceLine, ...]
    purchase_order_id: str | None = None  # the PO it was raised against, if any

    @property
    def gross_invoice_amount(self) -> Decimal:
        # No tax, freight or other charges are modelled, so gross equals the control total.
        return self.control_amount_total


@dataclass(frozen=True, slots=True)
class SupplierInvoice(_Versioned[SupplierInvoiceVersion]):
    wid: str
    supplier_invoice_id: str
    credit_memo: bool  # negative amounts
    versions: tuple[SupplierInvoiceVersion, ...]  # oldest first, strictly increasing entered_at
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)


def invoice_due_terms(v: SupplierInvoiceVersion, supplier: Supplier) -> tuple[str | None, date | None]:
    """How a tenant carries ``v.due_date``: (the invoice's own Payment_Terms_ID, its Due_Date_Override).

    Workday's invoice data has no due date of its own (decision 6): most invoices are due through
    payment terms, the supplier's when the invoice names none, and some carry an override. Which one
    is a pure function of the invoice (its WID picks about one in ten for an override), so the
    generated sequence is untouched."""
    days = (v.due_date - v.invoice_date).days
    if int(v.wid[-4:], 16) % 10 == 0:
        return None, v.due_date
    supplier_terms = {sv.payment_terms_id for sv in supplier.versions}
    if len(supplier_terms) == 1 and PAYMENT_TERM_DAYS[next(iter(supplier_terms))][0] == days:
        return None, None
    for terms_id in ("NET_30", "NET_45", "NET_60"):
        if PAYMENT_TERM_DAYS[terms_id][0] == days:
            return terms_id, None
    return None, v.due_date


# --------------------------------------------------------------------------- purchase orders


@dataclass(frozen=True, slots=True)
class PurchaseOrderLine:
    line_id: str  # Goods_Purchase_Order_Line_ID, e.g. POL-000123-1
    line_number: int
    item_description: str
    spend_category_id: str  # Resource_Category_Reference (spend categories were "resource categories")
    quantity: Decimal
    unit_cost: Decimal
    extended_amount: Decimal  # exactly quantity * unit_cost
    due_date: date


@dataclass(frozen=True, slots=True)
class PurchaseOrderVersion:
    wid: str
    purchase_order_id: str  # Purchase_Order_Reference_ID and Purchase_Order_ID, e.g. PO-000123
    version: int
    entered_at: datetime
    document_number: str  # the number printed on the PO; equal to the ID here
    document_status_id: str  # Document_Status_ID: DRAFT, APPROVED, ISSUED, CANCELED
    company_id: str
    supplier_id: str
    currency_id: str
    document_date: date
    due_date: date
    memo: str
    lines: tuple[PurchaseOrderLine, ...]

    @property
    def total_amount(self) -> Decimal:
        return sum((line.extended_amount for line in self.lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class PurchaseOrder(_Versioned[PurchaseOrderVersion]):
    purchase_order_id: str
    wid: str
    versions: tuple[PurchaseOrderVersion, ...]
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)


# --------------------------------------------------------------------------- payments


@dataclass(frozen=True, slots=True)
class RemittanceLine:
    """One ``Document_Remittance_Data``: how much of one invoice a payment settles.

    ``amount_due`` is what remains open on the invoice after this payment:
    ``total_payable_amount - amount_paid - discount_taken`` (0 for a full payment).
    """

    document_type: str  # always "Supplier_Invoice" here
    document_id: str  # the Supplier_Invoice_ID
    document_wid: str  # the invoice's WID (Document_Reference)
    document_date: date  # the invoice date
    total_payable_amount: Decimal  # the invoice's Control_Amount_Total
    amount_paid: Decimal
    amount_due: Decimal
    discount_taken: Decimal  # early-payment discount, 0 mostly


@dataclass(frozen=True, slots=True)
class PaymentVersion:
    wid: str
    payment_id: str  # Payment_Reference_ID and Payment_ID, e.g. PAY-000042
    version: int
    entered_at: datetime
    payment_date: date
    settlement_run_id: str
    payment_status: str  # "Pending", then "Complete"
    payment_reference_number: str  # the bank transfer reference, e.g. EFT-20261129-000042
    payment_amount: Decimal  # exactly the sum of the remittances' amount_paid
    currency_id: str
    company_id: str  # the paying company
    supplier_id: str  # the receiving party
    remittances: tuple[RemittanceLine, ...]


@dataclass(frozen=True, slots=True)
class Payment(_Versioned[PaymentVersion]):
    payment_id: str
    wid: str
    versions: tuple[PaymentVersion, ...]
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)


# --------------------------------------------------------------------------- journals


@dataclass(frozen=True, slots=True)
class JournalLine:
    line_order: int
    company_id: str  # Line_Company_Reference: differs from the header's on intercompany lines
    ledger_account_id: str  # Ledger_Account_ID in ACME_COA (or UNKNOWN_LEDGER_ACCOUNT)
    debit_amount: Decimal  # exactly one of debit and credit is non-zero
    credit_amount: Decimal
    currency_id: str
    memo: str
    cost_center_id: str | None  # expense lines carry a cost center; balance-sheet lines do not


@dataclass(frozen=True, slots=True)
class JournalEntryVersion:
    wid: str
    journal_entry_id: str  # Journal_Entry_Reference_ID, e.g. JE-000042
    version: int
    entered_at: datetime
    journal_number: str  # equal to the ID, so either identifies the journal
    journal_status_id: str  # Journal_Entry_Status_ID: DRAFT, then POSTED
    company_id: str
    currency_id: str
    accounting_date: date
    journal_source_id: str  # Journal_Source_ID: Supplier_Invoice, Manual, Accrual
    memo: str
    total_ledger_debits: Decimal  # the header totals: equal to the line sums unless planted
    total_ledger_credits: Decimal
    intercompany: bool
    lines: tuple[JournalLine, ...]

    @property
    def line_debits(self) -> Decimal:
        return sum((line.debit_amount for line in self.lines), Decimal(0))

    @property
    def line_credits(self) -> Decimal:
        return sum((line.credit_amount for line in self.lines), Decimal(0))


@dataclass(frozen=True, slots=True)
class JournalEntry(_Versioned[JournalEntryVersion]):
    journal_entry_id: str
    wid: str
    versions: tuple[JournalEntryVersion, ...]
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)


# --------------------------------------------------------------------------- selection

V_co = TypeVar("V_co", covariant=True)
V = TypeVar("V")


class VersionedRecord(Protocol[V_co]):
    """What the server needs from any collection: snapshots and when each was entered."""

    @property
    def versions(self) -> tuple[V_co, ...]: ...

    @property
    def entry_times(self) -> tuple[datetime, ...]: ...


def select_versions(
    records: Iterable[VersionedRecord[V]],
    as_of: datetime,
    *,
    updated_from: datetime | None = None,
    updated_through: datetime | None = None,
    predicate: Callable[[V], bool] | None = None,
) -> list[V]:
    """Each record's version as of ``as_of``, in the order of ``records``.

    A record is selected when it existed at ``as_of`` and, if a window is given, at least one of
    its versions was entered in [updated_from, updated_through] (both inclusive, as Workday's
    Updated_From/Updated_Through) *and* at or before ``as_of`` (changes after the as-of moment
    are invisible). ``predicate`` then filters on the as-of version (e.g. on the invoice date).
    """
    windowed = updated_from is not None or updated_through is not None
    upper = as_of if updated_through is None else min(updated_through, as_of)
    selected: list[V] = []
    for record in records:
        times = record.entry_times
        n_visible = bisect.bisect_right(times, as_of)
        if not n_visible:
            continue
        if windowed:
            first_in_window = 0 if updated_from is None else bisect.bisect_left(times, updated_from)
            if first_in_window >= len(times) or times[first_in_window] > upper:
                continue
        version = record.versions[n_visible - 1]
        if predicate is None or predicate(version):
            selected.append(version)
    return selected


# --------------------------------------------------------------------------- ground truth


class PaymentRunTruth(TypedDict):
    payments: int  # payments in the run
    totals: dict[tuple[str, str], Decimal]  # (company_id, currency_id) -> sum of Payment_Amount
    complete_at: datetime  # when its last payment became Complete


class GroundTruth(TypedDict):
    high_value_invoice: dict[str, Decimal]
    overdue_invoice: dict[str, int]
    unbalanced_journal: list[str]
    journal_header_mismatch: list[str]
    retired_account_posting: list[str]
    intercompany_mismatch: list[str]
    duplicate_invoice: list[tuple[str, str]]
    payment_runs: dict[str, PaymentRunTruth]
    late_approved_invoice: list[str]


# --------------------------------------------------------------------------- the scenario

_CURRENCY_DECIMALS = {"USD": 2, "GBP": 2, "EUR": 2, "CHF": 2, "JPY": 0}
_FOREIGN_CURRENCIES = ("USD", "EUR", "GBP", "CHF", "JPY")

_COMPANIES = (
    ("ACME_US", "Acme Corp US", "USD", 0.5),
    ("ACME_UK", "Acme Ltd UK", "GBP", 0.3),
    ("ACME_DE", "Acme GmbH", "EUR", 0.2),
)

_SPEND_CATEGORIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "SC_IT": ("IT Services", ("Managed network services", "Laptop repair", "Cloud hosting", "Helpdesk")),
    "SC_SOFTWARE": ("Software Licenses", ("SaaS subscription", "Database licence renewal", "IDE seats")),
    "SC_TRAVEL": ("Travel", ("Flights LHR-JFK", "Hotel, 3 nights", "Rail tickets", "Taxi & ride share")),
    "SC_FACILITIES": ("Facilities", ("Office cleaning", "HVAC maintenance", "Security guards", "Rent, Q4")),
    "SC_PROF_SERVICES": ("Professional Services", ("Audit fees", "Legal advice", "Tax consulting")),
    "SC_OFFICE": ("Office Supplies", ("Printer paper", "Stationery", "Coffee & tea", "Desk chairs")),
    "SC_MARKETING": ("Marketing", ("Trade fair booth", "Online ads", "Printed brochures")),
}

# The cost centers invoice lines are charged to. Kept apart from the rest (and in this order)
# because the day's invoices draw from exactly this tuple with the main random stream.
_COST_CENTERS = (
    ("CC100", "Finance"),
    ("CC200", "Information Technology"),
    ("CC300", "Operations"),
    ("CC400", "Sales"),
    ("CC500", "Marketing"),
    ("CC600", "People & Culture"),
)
_MORE_COST_CENTERS = (
    ("CC110", "Accounts Payable"), ("CC120", "Treasury"), ("CC130", "Financial Planning & Analysis"),
    ("CC140", "Tax"), ("CC150", "Internal Audit"), ("CC210", "Infrastructure"), ("CC220", "Service Desk"),
    ("CC230", "Information Security"), ("CC240", "Enterprise Applications"), ("CC250", "Data & Analytics"),
    ("CC310", "Procurement"), ("CC320", "Logistics"), ("CC330", "Facilities"), ("CC340", "Customer Support"),
    ("CC350", "Quality Assurance"), ("CC410", "Sales EMEA"), ("CC420", "Sales Americas"),
    ("CC430", "Sales APAC"), ("CC440", "Partner Channel"), ("CC450", "Sales Operations"), ("CC510", "Brand"),
    ("CC520", "Digital Marketing"), ("CC530", "Events"), ("CC540", "Product Marketing"),
    ("CC610", "Recruiting"), ("CC620", "Learning & Development"), ("CC630", "Payroll"), ("CC640", "Benefits"),
    ("CC700", "Research & Development"), ("CC710", "Platform Engineering"), ("CC720", "Mobile Engineering"),
    ("CC730", "Legacy Migration"), ("CC800", "Executive Office"), ("CC900", "Shared Services"),
)  # fmt: skip

_DOCUMENT_STATUSES = (
    ("DRAFT", "Draft"),
    ("IN_PROGRESS", "In Progress"),
    ("APPROVED", "Approved"),
    ("ISSUED", "Issued"),
    ("CANCELED", "Canceled"),
)
_PAYMENT_STATUSES = (("UNPAID", "Unpaid"), ("PARTIALLY_PAID", "Partially Paid"), ("PAID", "Paid"))

# Reference IDs of these enumerations are tenant configuration; the values are plausible, not
# confirmed against a tenant (UNCONFIRMED).
_SUPPLIER_CATEGORIES = (
    ("GOODS", "Goods"),
    ("SERVICES", "Services"),
    ("CONTRACTORS", "Contractors"),
    ("SOFTWARE", "Software & SaaS"),
    ("UTILITIES", "Utilities"),
)
_PAYMENT_TERMS = (
    ("NET_30", "Net 30"),
    ("NET_45", "Net 45"),
    ("NET_60", "Net 60"),
    ("2_10_NET_30", "2% 10, Net 30"),
)
# Payment_Terms_ID -> (Due_Days, Payment_Discount_Days, Payment_Discount_Percent, Grace_Days).
PAYMENT_TERM_DAYS: dict[str, tuple[int, int, Decimal, int]] = {
    "NET_30": (30, 0, Decimal(0), 0),
    "NET_45": (45, 0, Decimal(0), 0),
    "NET_60": (60, 0, Decimal(0), 5),
    "2_10_NET_30": (30, 10, Decimal(2), 0),
}
_SUPPLIER_STATUSES = (("ACTIVE", "Active"), ("INACTIVE", "Inactive"))
_JOURNAL_STATUSES = (("DRAFT", "Draft"), ("POSTED", "Posted"))
_JOURNAL_SOURCES = (("Supplier_Invoice", "Supplier Invoice"), ("Manual", "Manual Journal"), ("Accrual", "Accrual"))
_LEDGER_ACCOUNT_TYPES = ("Asset", "Liability", "Equity", "Revenue", "Expense")

# The chart of accounts: (identifier, name, type, retired). 151 accounts; the retired ones are
# kept because old journals still refer to them, which is what makes posting to them an error.
_LEDGER_ACCOUNTS: tuple[tuple[str, str, str, bool], ...] = tuple(
    (ident, name, kind, retired)
    for kind, rows in (
        ("Asset", (
            ("1000", "Cash - Operating"), ("1010", "Cash - Payroll"), ("1020", "Petty Cash"),
            ("1030", "Cash - Foreign Currency"), ("1040", "Cash in Transit"), ("1100", "Accounts Receivable"),
            ("1110", "Allowance for Doubtful Accounts"), ("1120", "Unbilled Receivables"),
            ("1200", "Inventory - Raw Materials"), ("1210", "Inventory - Finished Goods"),
            ("1300", "Prepaid Expenses"), ("1310", "Prepaid Insurance"), ("1320", "Prepaid Rent"),
            ("1330", "Prepaid Software"), ("1400", "VAT Receivable"), ("1410", "Employee Advances"),
            ("1420", "Other Receivables"), ("1500", "Intercompany Receivable (Due From)"), ("1600", "Land"),
            ("1610", "Buildings"), ("1620", "Leasehold Improvements"), ("1630", "Furniture and Fixtures"),
            ("1640", "Computer Equipment"), ("1650", "Vehicles"), ("1660", "Capitalised Software"),
            ("1700", "Accumulated Depreciation - Buildings"), ("1710", "Accumulated Depreciation - Equipment"),
            ("1720", "Accumulated Amortisation - Software"), ("1800", "Right-of-Use Assets"),
            ("1900", "Deposits"), ("1910", "Deferred Tax Assets"), ("1920", "Long-Term Investments"),
        )),
        ("Liability", (
            ("2000", "Accounts Payable"), ("2010", "AP - Unvouchered Receipts"),
            ("2020", "AP - Employee Reimbursements"), ("2100", "Accrued Liabilities"), ("2110", "Accrued Payroll"),
            ("2120", "Accrued Bonuses"), ("2130", "Accrued Vacation"), ("2140", "Accrued Interest"),
            ("2200", "VAT Payable"), ("2210", "Sales Tax Payable"), ("2220", "Payroll Taxes Payable"),
            ("2230", "Income Tax Payable"), ("2300", "Deferred Revenue"), ("2310", "Customer Deposits"),
            ("2400", "Credit Card Clearing"), ("2410", "Payment Clearing"), ("2500", "Intercompany Payable (Due To)"),
            ("2600", "Short-Term Debt"), ("2610", "Current Portion of Long-Term Debt"), ("2700", "Lease Liabilities"),
            ("2800", "Long-Term Debt"), ("2900", "Deferred Tax Liabilities"),
        )),
        ("Equity", (
            ("3000", "Common Stock"), ("3100", "Additional Paid-In Capital"), ("3200", "Retained Earnings"),
            ("3300", "Dividends"), ("3400", "Cumulative Translation Adjustment"), ("3900", "Current Year Earnings"),
        )),
        ("Revenue", (
            ("4000", "Product Revenue"), ("4010", "Subscription Revenue"), ("4020", "Services Revenue"),
            ("4030", "Support Revenue"), ("4100", "Discounts and Allowances"), ("4200", "Interest Income"),
            ("4300", "FX Gain"), ("4400", "Other Income"), ("4500", "Rental Income"),
        )),
        ("Expense", (
            ("5000", "Cost of Goods Sold"), ("5010", "Freight In"), ("5020", "Hosting Costs"),
            ("5030", "Third-Party Licences Resold"), ("5040", "Subcontractor Costs"), ("5050", "Inventory Write-Down"),
            ("5060", "Warranty Costs"), ("6000", "Salaries"), ("6010", "Wages"), ("6020", "Bonuses"),
            ("6030", "Commissions"), ("6040", "Payroll Taxes"), ("6050", "Health Benefits"),
            ("6060", "Pension Contributions"), ("6070", "Recruiting"), ("6080", "Training"),
            ("6100", "Software Subscriptions"), ("6110", "Cloud Hosting"), ("6120", "IT Services"),
            ("6130", "IT Hardware Below Threshold"), ("6140", "Telecommunications"), ("6150", "Internet"),
            ("6160", "Data Services"), ("6170", "IT Security Services"), ("6180", "Software Maintenance"),
            ("6200", "Rent"), ("6210", "Utilities"), ("6220", "Cleaning"), ("6230", "Repairs and Maintenance"),
            ("6240", "Security"), ("6250", "Building Insurance"), ("6260", "Office Moves"),
            ("6270", "Waste Disposal"), ("6300", "Airfare"), ("6310", "Lodging"), ("6320", "Meals"),
            ("6330", "Ground Transport"), ("6340", "Per Diem"), ("6350", "Mileage"), ("6360", "Travel Agency Fees"),
            ("6370", "Visa and Immigration"), ("6400", "Audit Fees"), ("6410", "Legal Fees"),
            ("6420", "Tax Advisory"), ("6430", "Consulting"), ("6440", "Contractors"),
            ("6450", "Translation Services"), ("6460", "Outsourced Payroll"), ("6500", "Advertising"),
            ("6510", "Events and Trade Shows"), ("6520", "Sponsorships"), ("6530", "Printed Materials"),
            ("6540", "Digital Marketing"), ("6550", "Promotional Items"), ("6560", "Market Research"),
            ("6570", "Public Relations"), ("6600", "Office Supplies"), ("6610", "Postage"), ("6620", "Printing"),
            ("6630", "Subscriptions and Dues"), ("6640", "Kitchen Supplies"), ("6650", "Furniture Below Threshold"),
            ("6660", "Books and Publications"), ("6670", "Mobile Phones"), ("6700", "Insurance"),
            ("6710", "D&O Insurance"), ("6720", "General Liability Insurance"), ("6730", "Cyber Insurance"),
            ("6800", "Depreciation"), ("6810", "Amortisation"), ("6820", "Impairment"), ("6900", "Bank Fees"),
            ("6910", "Interest Expense"), ("6920", "FX Loss"), ("6930", "Bad Debt Expense"),
            ("6940", "Charitable Contributions"), ("6950", "Penalties and Fines"), ("6960", "Licences and Permits"),
            ("6970", "Memberships"), ("6980", "Miscellaneous Expense"), ("7000", "Income Tax Expense"),
            ("7010", "Deferred Tax Expense"),
        )),
    )
    for ident, name in rows
    for retired in (ident in {"1020", "2010", "6180", "6350", "6610", "6650"},)
)  # fmt: skip
# Opened during the scenario day (the account set's second version); nothing posts to it yet.
_NEW_LEDGER_ACCOUNT = ("6175", "AI Services", "Expense", False)

_NAME_PREFIXES = (
    "Northwind", "Blue Harbor", "Summit", "Granite", "Redwood", "Silverline", "Atlas", "Beacon",
    "Cobalt", "Evergreen", "Falcon", "Harbor Point", "Ironbridge", "Juniper", "Keystone", "Lakeside",
    "Meridian", "Nimbus", "Oakridge", "Pioneer", "Quartz", "Riverside", "Sterling", "Tidewater",
    "Union", "Vanguard", "Westfield", "Yellowstone", "Zenith", "Crescent",
)  # fmt: skip
_NAME_CORES = (
    "Logistics", "Office Supply", "Consulting", "Facility Services", "Software", "Print & Media",
    "Catering", "Electrical", "Freight", "Data Systems", "Security", "Travel", "Engineering",
    "Cleaning", "Networks", "Legal Partners", "Analytics", "Packaging", "Staffing", "Hardware",
    "Marketing", "Telecom", "Energy", "Maintenance", "Furniture",
)  # fmt: skip
_NAME_SUFFIXES = ("Inc.", "LLC", "Ltd", "GmbH", "plc", "Group", "& Sons", "Partners")
_RENAME_WORDS = ("Holdings", "International", "Global", "Solutions")

# Memos mix plain text with XML metacharacters, quotes and Slack mrkdwn so escaping is exercised.
_MEMOS = (
    "{item}",
    "{item} - {month}",
    "{item} for {cost_center}",
    "PO pending; {item}",
    'Ref "{number}" - {item}',
    "{item} <see attachment>",
    "R&D: {item}",
    "*Urgent* {item} _please_ approve",
)
_MONTHS = ("October", "November", "December")

_LINE_COUNT_WEIGHTS = (0.5, 0.3, 0.2)  # 1, 2 or 3 lines
_QUANTITIES = (1, 1, 1, 1, 2, 3, 4, 5, 10, 12, 20)
_DUE_DAYS = (30, 45, 60)
# A normal line stays below this (in major units), so a normal invoice of at most three lines
# stays below NORMAL_AMOUNT_CEILING.
_NORMAL_LINE_MAX = 20_000
_NORMAL_LINE_MIN = 10
_LOG_LINE_MIN, _LOG_LINE_MAX = math.log(_NORMAL_LINE_MIN), math.log(_NORMAL_LINE_MAX - 1)

# Share of the day's invoices raised against a purchase order.
_PO_LINKED_SHARE = 0.08

COLLECTIONS = (
    "suppliers",
    "cost_centers",
    "account_sets",
    "supplier_invoices",
    "purchase_orders",
    "payments",
    "journals",
)
CollectionName = Literal[
    "suppliers", "cost_centers", "account_sets", "supplier_invoices", "purchase_orders", "payments", "journals"
]


@dataclass
class Scenario:
    """One generated business day of Workday data, plus the history it needs.

    Collections are dicts keyed by business ID, in ID order (Workday's answers are ordered by it
    in the sandbox). Treat a generated scenario as immutable: the server caches on it.

    ``ground_truth`` holds the exact answers a correct detector finds *at the end of the day*
    (``day_end``, looking at every record's latest version); nothing else qualifies:

    * ``high_value_invoice``: {Supplier_Invoice_ID: Control_Amount_Total} for every invoice whose
      amount is >= HIGH_VALUE_THRESHOLD (100,000) *in the invoice's own currency* (no FX
      conversion; a JPY invoice is compared in JPY). The rule holds for every version of the
      invoice, so it is the answer as of any moment after the invoice exists. All other invoices,
      credit memos and history included, have an absolute amount below NORMAL_AMOUNT_CEILING
      (60,000) in every version.
    * ``overdue_invoice``: {Supplier_Invoice_ID: days overdue} for every invoice whose payment
      status at the end of the day is UNPAID or PARTIALLY_PAID and whose Due_Date is before the
      scenario day; days overdue = (day - Due_Date).days, so due yesterday is 1. These are all
      history invoices; every other history invoice is either PAID by the day's settlement runs
      or due on or after the day, and the day's own invoices are due 10 days or more later.
      Each of them has a version entered during the day, so a poller of the day alone sees it:
      the partially paid ones get one when their payment completes, the unpaid ones a version
      entered in business hours (08:00-18:00 UTC) identical to the previous one except its Memo
      (OVERDUE_REMINDER_MEMO): payment status, amounts and due date are unchanged.
    * ``unbalanced_journal``: sorted Journal_Entry_Reference_IDs (= Journal_Numbers) whose line
      debits (sum of Debit_Amount) differ from their line credits (sum of Credit_Amount). Their
      header totals equal their line sums.
    * ``journal_header_mismatch``: sorted journal IDs whose lines balance but whose header
      Total_Ledger_Debits or Total_Ledger_Credits differs from the sum of the lines' debits or
      credits respectively. Disjoint from ``unbalanced_journal``.
    * ``retired_account_posting``: sorted journal IDs with at least one line whose
      Ledger_Account_ID is retired in ACME_COA or is not in ACME_COA at all
      (UNKNOWN_LEDGER_ACCOUNT). No account is retired during the day.
    * ``intercompany_mismatch``: sorted journal IDs, all with Intercompany_Journal = 1, whose
      lines on the intercompany accounts (DUE_FROM_ACCOUNT 1500, DUE_TO_ACCOUNT 2500) do not net
      to zero: the sum of (debit - credit) over those lines, across both companies, is not 0.
      Their lines still balance overall and per company. No other journal uses those accounts
      unless it is intercompany, and every other intercompany journal nets to zero.
    * ``duplicate_invoice``: sorted list of (Supplier_Invoice_ID, Supplier_Invoice_ID) pairs,
      smaller ID first, of invoices with the same supplier and the same Invoice_Number, or with
      the same supplier, Control_Amount_Total (numerically, whatever the currency) and
      Invoice_Date. Every planted pair is exactly one of the two kinds. Both invoices of every
      pair have at least one version entered during the day (should one have none, it gets a
      memo-only version in business hours, DUPLICATE_TOUCH_MEMO, as the overdue ones do).
    * ``late_approved_invoice``: sorted IDs of invoices entered on earlier days, dated more than 14
      days before the day, in progress until approved in the day's afternoon (13:00-16:00 UTC).
      Still unpaid at the end of the day, not due yet, so no other rule flags them.
    * ``payment_runs``: {Settlement_Run_ID: {"payments": number of payments in the run,
      "totals": {(company_id, currency_id): sum of their Payment_Amount}, "complete_at": the
      moment its last payment became Complete}}.
    """

    seed: int
    scale: float
    day: date
    currencies: dict[str, Currency]
    companies: dict[str, Company]
    suppliers: dict[str, Supplier]
    spend_categories: dict[str, SpendCategory]
    cost_centers: dict[str, CostCenter]
    document_statuses: dict[str, Status]
    payment_statuses: dict[str, Status]
    supplier_invoices: dict[str, SupplierInvoice]
    supplier_categories: dict[str, ReferenceValue]
    payment_terms: dict[str, ReferenceValue]
    supplier_statuses: dict[str, ReferenceValue]
    journal_statuses: dict[str, ReferenceValue]
    journal_sources: dict[str, ReferenceValue]
    ledger_account_types: dict[str, ReferenceValue]
    settlement_runs: dict[str, SettlementRun]
    account_sets: dict[str, AccountSet]
    purchase_orders: dict[str, PurchaseOrder]
    payments: dict[str, Payment]
    journals: dict[str, JournalEntry]
    ground_truth: GroundTruth

    @classmethod
    def generate(
        cls, seed: int = 7, scale: float = 1.0, day: date = DEFAULT_DAY, stream: DayStream | None = None
    ) -> Scenario:
        """The business day ``day``; ``stream`` (None: a stand-alone day) makes it one day of a
        multi-day timeline (see ``DayStream`` and ``mlc_dagster.sandbox.timeline``)."""
        return _generate(seed, scale, day, stream)

    @property
    def day_start(self) -> datetime:
        return datetime.combine(self.day, time(0, 0), tzinfo=UTC)

    @property
    def day_end(self) -> datetime:
        """The last whole second of the day: every version is entered at or before it."""
        return self.day_start + timedelta(days=1, seconds=-1)

    @property
    def account_set(self) -> AccountSet:
        """The one chart of accounts, ACME_COA."""
        return self.account_sets[ACCOUNT_SET_ID]

    def ledger_accounts_as_of(self, moment: datetime) -> dict[str, LedgerAccount]:
        version = self.account_set.as_of(moment)
        return {} if version is None else version.accounts_by_id()

    def collection(self, name: CollectionName | str) -> dict[str, Any]:
        """One of ``COLLECTIONS`` by name."""
        if name not in COLLECTIONS:
            raise KeyError(f"unknown collection {name!r}; expected one of {', '.join(COLLECTIONS)}")
        records: dict[str, Any] = getattr(self, name)
        return records

    def records_as_of(self, name: CollectionName | str, as_of: datetime) -> list[Any]:
        """Every record of a collection that existed at ``as_of``, in its state then, by ID."""
        return select_versions(self.collection(name).values(), as_of)

    def changed_between(
        self, name: CollectionName | str, start: datetime, end: datetime, as_of: datetime | None = None
    ) -> list[Any]:
        """What the collection's ``Get_`` operation returns for an updated window [start, end].

        The version as of ``as_of`` (default: ``end``) of every record with at least one version
        entered in [start, end], both inclusive, and at or before ``as_of``; ordered by ID.
        """
        return select_versions(
            self.collection(name).values(),
            end if as_of is None else as_of,
            updated_from=start,
            updated_through=end,
        )

    def invoices_as_of(self, as_of: datetime) -> list[SupplierInvoiceVersion]:
        """Every invoice that existed at ``as_of``, in its state at that moment, by ID."""
        return select_versions(self.supplier_invoices.values(), as_of)

    def invoices_changed_between(
        self, start: datetime, end: datetime, as_of: datetime | None = None
    ) -> list[SupplierInvoiceVersion]:
        """What ``Get_Supplier_Invoices`` returns for an Updated_From/Updated_Through window.

        The version as of ``as_of`` (default: ``end``) of every invoice with at least one version
        entered in [start, end], both inclusive, and at or before ``as_of``; ordered by ID.
        """
        return select_versions(
            self.supplier_invoices.values(),
            end if as_of is None else as_of,
            updated_from=start,
            updated_through=end,
        )


def generate_scenario(
    seed: int = 7, scale: float = 1.0, day: date = DEFAULT_DAY, stream: DayStream | None = None
) -> Scenario:
    """Same as ``Scenario.generate``."""
    return _generate(seed, scale, day, stream)


# The supplier's own invoice numbers of one day lie in [10_000, 10_000_000): the day's in
# [10_000, 1_000_000), the history's in [1_000_000, 10_000_000).
INVOICE_NUMBER_SPAN = 10_000_000


@dataclass(frozen=True)
class DayStream:
    """What makes one day of a multi-day timeline its own: random streams, ID ranges, shared masters.

    ``Scenario.generate(seed, scale, day)`` (no stream) is a stand-alone day. With a stream:

    * every random stream of the day's transactional data is tagged with ``name``, so each day of
      a timeline has different invoices, orders, payments and journals (never a copy);
    * ``number_base`` is added to every SI-, PO-, PAY- and JE- number (and so to their WIDs and line
      IDs) and ``invoice_number_base`` to every INV- number, so IDs never collide across days;
    * the reference data (currencies, companies, suppliers, cost centers, the account set ACME_COA,
      the enumerations) are ``reference``'s own objects: same records, same IDs and WIDs, and no
      further changes to them on this day. Invoices are only raised to suppliers active in it;
    * ``taken`` holds (supplier_id, amount, invoice_date) of earlier days' invoices: accidental
      collisions with them are nudged away as within a day, so no unplanted duplicate spans days.
    """

    name: str
    number_base: int
    invoice_number_base: int
    reference: Scenario
    taken: Mapping[tuple[str, Decimal, date], str] = field(default_factory=dict)


# --------------------------------------------------------------------------- generation


def _values(seed: int, kind: str, table: Iterable[tuple[str, str]]) -> dict[str, ReferenceValue]:
    return {value_id: ReferenceValue(value_id, make_wid(seed, kind, value_id), name) for value_id, name in table}


def _stream(seed: int, topic: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across runs and machines.
    return random.Random(f"{seed}:{topic}")


def _generate(seed: int, scale: float, day: date, stream: DayStream | None = None) -> Scenario:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    # Generation allocates millions of small objects that never form reference cycles; the cyclic
    # collector's repeated passes over them cost about 40% of the time at scale 10 and more above.
    # Pausing it only postpones collection in the rest of the process.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(seed, scale, day, stream)
    finally:
        if collecting:
            gc.enable()


def _build(seed: int, scale: float, day: date, stream: DayStream | None = None) -> Scenario:
    # A stand-alone day (no stream) uses the untagged streams and numbers from 1, as it always has.
    tag = "" if stream is None else f"{stream.name}:"

    def topic(name: str) -> random.Random:
        return _stream(seed, tag + name)

    base = 0 if stream is None else stream.number_base
    invoice_base = 0 if stream is None else stream.invoice_number_base
    rng = random.Random(seed) if stream is None else random.Random(f"{seed}:{tag}main")
    reference = None if stream is None else stream.reference

    if reference is None:
        currencies = {
            code: Currency(code, make_wid(seed, "currency", code), decimals)
            for code, decimals in _CURRENCY_DECIMALS.items()
        }
        companies = {
            cid: Company(cid, make_wid(seed, "company", cid), name, currency)
            for cid, name, currency, _weight in _COMPANIES
        }
        spend_categories = {
            sid: SpendCategory(sid, make_wid(seed, "spend_category", sid), name)
            for sid, (name, _items) in _SPEND_CATEGORIES.items()
        }
        document_statuses = {
            sid: Status(sid, make_wid(seed, "document_status", sid), name) for sid, name in _DOCUMENT_STATUSES
        }
        payment_statuses = {
            sid: Status(sid, make_wid(seed, "payment_status", sid), name) for sid, name in _PAYMENT_STATUSES
        }
    else:
        currencies, companies = reference.currencies, reference.companies
        spend_categories = reference.spend_categories
        document_statuses, payment_statuses = reference.document_statuses, reference.payment_statuses
    settlement_runs = {
        run_id: SettlementRun(run_id, make_wid(seed, "settlement_run", run_id), datetime.combine(day, at))
        for run_id, at in (
            (f"SR-{day.isoformat()}-{i + 1}", at) for i, at in enumerate(_SETTLEMENT_RUN_TIMES)
        )
    }

    if reference is None:
        # The main stream: suppliers, then the day's invoices, exactly as before later collections
        # were added, so these stay identical for a given seed.
        suppliers = _generate_suppliers(rng, seed, max(20, round(500 * scale)), day, topic("supplier_terms"))
        invoices, high_value = _generate_invoices(
            rng,
            seed,
            max(30, round(5000 * scale)),
            day,
            currencies=currencies,
            suppliers=list(suppliers.values()),
            po_links=topic("purchase_order_links"),
        )
        suppliers, inactive = _change_suppliers(topic("supplier_changes"), suppliers, invoices, scale, day)
        cost_centers, deactivated_cost_centers = _generate_cost_centers(topic("cost_centers"), seed, day)
        account_sets = _generate_account_sets(seed, day)
    else:
        # One supplier master, chart of accounts and set of cost centers for every day of a timeline;
        # the day's invoices go to the suppliers still active.
        suppliers, cost_centers, account_sets = reference.suppliers, reference.cost_centers, reference.account_sets
        inactive = {sid for sid, supplier in suppliers.items() if supplier.status != "ACTIVE"}
        deactivated_cost_centers = {cid for cid, cost_center in cost_centers.items() if not cost_center.active}
        invoices, high_value = _generate_invoices(
            rng,
            seed,
            max(30, round(5000 * scale)),
            day,
            currencies=currencies,
            suppliers=[s for s in suppliers.values() if s.supplier_id not in inactive],
            po_links=topic("purchase_order_links"),
            number_base=base,
            invoice_number_base=invoice_base,
        )

    duplicates, copies = _plant_duplicate_invoices(
        topic("duplicates"), invoices, set(high_value), inactive, suppliers, scale
    )
    active_suppliers = [s for s in suppliers.values() if s.supplier_id not in inactive]
    history, overdue, plan = _generate_history(
        topic("history"),
        seed,
        scale,
        day,
        currencies=currencies,
        suppliers=active_suppliers,
        first_number=base + len(invoices) + 1,
        invoice_number_base=invoice_base,
    )
    invoices.update(history)
    protected = {i for pair in duplicates for i in pair} | set(high_value)
    _remove_accidental_duplicates(
        invoices, currencies, set(duplicates), protected, taken={} if stream is None else stream.taken
    )

    payments, payment_runs = _generate_payments(
        topic("payments"),
        seed,
        scale,
        day,
        invoices=invoices,
        plan=plan,
        runs=list(settlement_runs.values()),
        currencies=currencies,
        suppliers=suppliers,
        unpayable=copies,
        number_base=base,
    )
    # Every planted invoice must be visible to a poller of the day alone: after the payments, so
    # that a paid invoice's last version stays its settlement and the others have none to come.
    touches = topic("day_touches")
    _touch_during_day(touches, invoices, sorted(overdue), day, OVERDUE_REMINDER_MEMO)
    _touch_during_day(touches, invoices, sorted({i for pair in duplicates for i in pair}), day, DUPLICATE_TOUCH_MEMO)
    late_approved = _plant_late_approvals(topic("late_approvals"), invoices, day, scale)
    purchase_orders = _generate_purchase_orders(
        topic("purchase_orders"),
        seed,
        scale,
        day,
        invoices=invoices,
        currencies=currencies,
        suppliers=active_suppliers,
        number_base=base,
    )
    stable_cost_centers = [cid for cid in cost_centers if cid not in deactivated_cost_centers]
    journals, journal_truth = _generate_journals(
        topic("journals"),
        seed,
        scale,
        day,
        currencies=currencies,
        accounts=account_sets[ACCOUNT_SET_ID].latest,
        cost_center_ids=stable_cost_centers,
        number_base=base,
    )

    return Scenario(
        seed=seed,
        scale=scale,
        day=day,
        currencies=currencies,
        companies=companies,
        suppliers=suppliers,
        spend_categories=spend_categories,
        cost_centers=cost_centers,
        document_statuses=document_statuses,
        payment_statuses=payment_statuses,
        supplier_invoices=invoices,
        supplier_categories=_values(seed, "supplier_category", _SUPPLIER_CATEGORIES),
        payment_terms=_values(seed, "payment_terms", _PAYMENT_TERMS),
        supplier_statuses=_values(seed, "supplier_status", _SUPPLIER_STATUSES),
        journal_statuses=_values(seed, "journal_status", _JOURNAL_STATUSES),
        journal_sources=_values(seed, "journal_source", _JOURNAL_SOURCES),
        ledger_account_types=_values(seed, "ledger_account_type", ((t, t) for t in _LEDGER_ACCOUNT_TYPES)),
        settlement_runs=settlement_runs,
        account_sets=account_sets,
        purchase_orders=purchase_orders,
        payments=payments,
        journals=journals,
        ground_truth=GroundTruth(
            high_value_invoice=high_value,
            overdue_invoice=overdue,
            unbalanced_journal=journal_truth["unbalanced"],
            journal_header_mismatch=journal_truth["header"],
            retired_account_posting=journal_truth["retired"],
            intercompany_mismatch=journal_truth["intercompany"],
            duplicate_invoice=sorted(duplicates),
            payment_runs=payment_runs,
            late_approved_invoice=late_approved,
        ),
    )


def _during_day(rng: random.Random, day: date, first_hour: int, hours: int) -> datetime:
    """A whole second in [first_hour, first_hour + hours) of the day, UTC."""
    start = datetime.combine(day, time(first_hour, 0, tzinfo=UTC))
    return start + timedelta(seconds=rng.randrange(hours * 3600))


# --------------------------------------------------------------------------- suppliers


def _generate_suppliers(
    rng: random.Random, seed: int, count: int, day: date, terms_rng: random.Random
) -> dict[str, Supplier]:
    specials = (*NON_ASCII_SUPPLIER_NAMES, HOSTILE_SUPPLIER_NAME)
    special_slots = dict(zip(rng.sample(range(count), len(specials)), specials, strict=True))
    n_combos = len(_NAME_PREFIXES) * len(_NAME_CORES) * len(_NAME_SUFFIXES)
    combos = rng.sample(range(n_combos), min(count, n_combos))
    company_currencies = [c[2] for c in _COMPANIES]
    category_ids = [c[0] for c in _SUPPLIER_CATEGORIES]
    terms_ids = [t[0] for t in _PAYMENT_TERMS]
    first_day = datetime.combine(day, time(0, 0), tzinfo=UTC)
    suppliers: dict[str, Supplier] = {}
    for n in range(count):
        name = special_slots.get(n)
        if name is None:
            combo = combos[n % len(combos)]
            prefix, rest = divmod(combo, len(_NAME_CORES) * len(_NAME_SUFFIXES))
            core, suffix = divmod(rest, len(_NAME_SUFFIXES))
            name = f"{_NAME_PREFIXES[prefix]} {_NAME_CORES[core]} {_NAME_SUFFIXES[suffix]}"
            if n >= n_combos:  # only at very large scales: keep names unique
                name = f"{name} {n // n_combos + 1}"
        supplier_id = f"SUP-{n + 1:05d}"
        wid = make_wid(seed, "supplier", n + 1)
        currency_id = rng.choice(company_currencies)
        created_at = first_day - timedelta(days=rng.randint(30, 2000), seconds=rng.randint(0, 86_399))
        first = SupplierVersion(
            wid=wid,
            supplier_id=supplier_id,
            version=1,
            entered_at=created_at,
            name=name,
            # Drawn from their own stream: the main one must stay as it was for the invoices.
            supplier_category_id=terms_rng.choice(category_ids),
            payment_terms_id=terms_rng.choice(terms_ids),
            currency_id=currency_id,
            status="ACTIVE",
        )
        suppliers[supplier_id] = Supplier(supplier_id=supplier_id, wid=wid, versions=(first,))
    return suppliers


def _change_suppliers(
    rng: random.Random,
    suppliers: dict[str, Supplier],
    invoices: dict[str, SupplierInvoice],
    scale: float,
    day: date,
) -> tuple[dict[str, Supplier], set[str]]:
    """Deactivate a few suppliers and rename a couple during the day.

    Deactivated suppliers are picked among those with no invoice that day (when there are
    enough), and get no history, payment or PO later: a payment to a supplier after it was
    deactivated would be an anomaly nobody planted. Renamed suppliers are picked among those
    with invoices, so the as-of descriptor of their references visibly changes.
    """
    special = {*NON_ASCII_SUPPLIER_NAMES, HOSTILE_SUPPLIER_NAME}
    invoiced = {inv.latest.supplier_id for inv in invoices.values()}
    ordinary = [s for s in suppliers.values() if s.name not in special]
    n_deactivate = max(1, round(3 * scale))
    n_rename = max(1, round(2 * scale))
    quiet = [s for s in ordinary if s.supplier_id not in invoiced]
    deactivate = rng.sample(quiet if len(quiet) >= n_deactivate else ordinary, n_deactivate)
    deactivated = {s.supplier_id for s in deactivate}
    busy = [s for s in ordinary if s.supplier_id in invoiced and s.supplier_id not in deactivated]
    rename = rng.sample(busy, min(n_rename, len(busy)))

    names = {s.name for s in suppliers.values()}
    changed = dict(suppliers)
    for supplier, kind in [(s, "deactivate") for s in deactivate] + [(s, "rename") for s in rename]:
        latest = supplier.latest
        entered_at = _during_day(rng, day, 8, 10)
        if kind == "deactivate":
            version = replace(latest, version=latest.version + 1, entered_at=entered_at, status="INACTIVE")
        else:
            words = latest.name.split(" ")
            new_name = " ".join([*words[:-1], rng.choice(_RENAME_WORDS), words[-1]])
            while new_name in names:
                new_name += "*"  # never reached with the word list above at sane scales
            names.add(new_name)
            version = replace(latest, version=latest.version + 1, entered_at=entered_at, name=new_name)
        changed[supplier.supplier_id] = Supplier(
            supplier_id=supplier.supplier_id, wid=supplier.wid, versions=(*supplier.versions, version)
        )
    return changed, deactivated


# --------------------------------------------------------------------------- cost centers, accounts


def _generate_cost_centers(rng: random.Random, seed: int, day: date) -> tuple[dict[str, CostCenter], set[str]]:
    day_start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    # One or two of the extra cost centers (never the six invoices are charged to) close today.
    extra_ids = [cid for cid, _name in _MORE_COST_CENTERS]
    closing = set(rng.sample(extra_ids, rng.choice((1, 2))))
    cost_centers: dict[str, CostCenter] = {}
    for cid, name in sorted((*_COST_CENTERS, *_MORE_COST_CENTERS)):
        wid = make_wid(seed, "cost_center", cid)
        first = CostCenterVersion(
            wid=wid,
            cost_center_id=cid,
            version=1,
            entered_at=day_start - timedelta(days=rng.randint(100, 1500), seconds=rng.randint(0, 86_399)),
            name=name,
            code=cid,
            active=True,
        )
        versions = [first]
        if cid in closing:
            versions.append(replace(first, version=2, entered_at=_during_day(rng, day, 8, 10), active=False))
        cost_centers[cid] = CostCenter(cost_center_id=cid, wid=wid, versions=tuple(versions))
    return cost_centers, closing


def _generate_account_sets(seed: int, day: date) -> dict[str, AccountSet]:
    def account(row: tuple[str, str, str, bool]) -> LedgerAccount:
        ident, name, kind, retired = row
        return LedgerAccount(ident, make_wid(seed, "ledger_account", ident), name, kind, retired)

    wid = make_wid(seed, "account_set", ACCOUNT_SET_ID)
    first = AccountSetVersion(
        wid=wid,
        account_set_id=ACCOUNT_SET_ID,
        version=1,
        entered_at=datetime.combine(day, time(0, 0), tzinfo=UTC) - timedelta(days=400),
        name="Acme Chart of Accounts",
        ledger_accounts=tuple(account(row) for row in _LEDGER_ACCOUNTS),
    )
    opened = tuple(sorted((*first.ledger_accounts, account(_NEW_LEDGER_ACCOUNT)), key=lambda a: a.ledger_account_id))
    second = replace(
        first, version=2, entered_at=datetime.combine(day, time(13, 0, tzinfo=UTC)), ledger_accounts=opened
    )
    return {ACCOUNT_SET_ID: AccountSet(account_set_id=ACCOUNT_SET_ID, wid=wid, versions=(first, second))}


# --------------------------------------------------------------------------- the day's invoices


def _generate_invoices(
    rng: random.Random,
    seed: int,
    count: int,
    day: date,
    *,
    currencies: dict[str, Currency],
    suppliers: list[Supplier],
    po_links: random.Random,
    number_base: int = 0,
    invoice_number_base: int = 0,
) -> tuple[dict[str, SupplierInvoice], dict[str, Decimal]]:
    # Planted cases first, from the same rng, so they are part of the deterministic sequence.
    n_planted = max(2, round(count * 0.01))
    planted = rng.sample(range(count), 2 * n_planted + 1)
    high_value_slots = set(planted[:n_planted])
    credit_memo_slots = set(planted[n_planted : 2 * n_planted])
    jpy_slot = planted[-1]  # guarantees at least one zero-decimal invoice at any scale
    # Which invoices were raised against a purchase order comes from its own stream, so the main
    # sequence is untouched. Those POs get the first PO numbers: they are older than the day's.
    not_credit = [n for n in range(count) if n not in credit_memo_slots]
    linked = sorted(po_links.sample(not_credit, round(len(not_credit) * _PO_LINKED_SHARE)))
    po_for_slot = {n: f"PO-{number_base + i + 1:06d}" for i, n in enumerate(linked)}

    # Every special-name supplier gets at least one invoice (the first few numbers).
    special_names = {*NON_ASCII_SUPPLIER_NAMES, HOSTILE_SUPPLIER_NAME}
    special_suppliers = [s for s in suppliers if s.name in special_names]
    # A few suppliers get most invoices, as in real AP ledgers.
    supplier_weights = list(accumulate(1.0 / (1 + (i % 50)) for i in range(len(suppliers))))
    company_ids = [c[0] for c in _COMPANIES]
    company_currency = {c[0]: c[2] for c in _COMPANIES}
    company_cum_weights = list(accumulate(c[3] for c in _COMPANIES))
    category_ids = list(_SPEND_CATEGORIES)
    cost_center_ids = [c[0] for c in _COST_CENTERS]
    cost_center_names = dict(_COST_CENTERS)
    invoice_numbers = [invoice_number_base + n for n in rng.sample(range(10_000, 1_000_000), count)]
    day_start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    entry_window_start = datetime.combine(day, _ENTRY_WINDOW_START)
    day_end = day_start + timedelta(days=1, seconds=-1)

    invoices: dict[str, SupplierInvoice] = {}
    high_value: dict[str, Decimal] = {}
    for n in range(count):
        number = number_base + n + 1
        invoice_id = f"SI-{number:06d}"
        wid = make_wid(seed, "supplier_invoice", number)
        is_high_value = n in high_value_slots
        is_credit_memo = n in credit_memo_slots

        supplier = (
            special_suppliers[n]
            if n < len(special_suppliers)
            else rng.choices(suppliers, cum_weights=supplier_weights)[0]
        )
        company_id = rng.choices(company_ids, cum_weights=company_cum_weights)[0]
        currency_id = company_currency[company_id]
        if n == jpy_slot:
            currency_id = "JPY"
        elif not is_high_value and rng.random() < 0.08:
            # High-value invoices stay in the company currency: a planted 100,000 JPY invoice
            # would be a few hundred dollars, which makes a poor "high value" example.
            currency_id = rng.choice(_FOREIGN_CURRENCIES)
        currency = currencies[currency_id]
        minor = 10**currency.decimals

        # Lines, as (category, cost center, quantity, unit cost in minor units).
        n_lines = 1 if is_credit_memo else rng.choices((1, 2, 3), weights=_LINE_COUNT_WEIGHTS)[0]
        if is_high_value:
            total_minor = rng.randint(100_000, 1_999_999) * minor + rng.randrange(minor)
            cuts = sorted(rng.sample(range(1, total_minor), n_lines - 1))
            bounds = [0, *cuts, total_minor]
            raw_lines = [
                (rng.choice(category_ids), rng.choice(cost_center_ids), 1, bounds[i + 1] - bounds[i])
                for i in range(n_lines)
            ]
        else:
            raw_lines = []
            for _ in range(n_lines):
                quantity = rng.choice(_QUANTITIES)
                target_minor = int(math.exp(rng.uniform(_LOG_LINE_MIN, _LOG_LINE_MAX)) * minor)
                unit_minor = max(1, target_minor // quantity)
                if is_credit_memo:
                    unit_minor = -unit_minor
                raw_lines.append(
                    (rng.choice(category_ids), rng.choice(cost_center_ids), quantity, unit_minor)
                )

        descriptions = [rng.choice(_SPEND_CATEGORIES[cat][1]) for cat, _cc, _q, _u in raw_lines]
        memo = rng.choice(_MEMOS).format(
            item=descriptions[0],
            month=rng.choice(_MONTHS),
            cost_center=cost_center_names[raw_lines[0][1]],
            number=invoice_numbers[n],
        )
        if is_credit_memo:
            memo = f"Credit memo: {memo}"

        invoice_date = day - timedelta(days=min(20, int(rng.expovariate(0.3))))
        # Status history. Each step comes strictly later than the previous one; steps that would
        # fall after the end of the day simply have not happened yet.
        entered_at = entry_window_start + timedelta(seconds=rng.randrange(_ENTRY_WINDOW_SECONDS))
        roll = rng.random()
        corrected = not is_high_value and roll < 0.03
        steps: list[tuple[timedelta, str, bool, list[tuple[str, str, int, int]]]] = []
        current = raw_lines
        if corrected:
            # A keying error fixed while still in draft: one line's unit cost goes down, so the
            # amount stays below the normal ceiling and keeps its sign.
            i = rng.randrange(len(current))
            cat, cc, quantity, unit_minor = current[i]
            fixed = unit_minor - int(unit_minor * rng.uniform(0.05, 0.5))
            current = [*current[:i], (cat, cc, quantity, fixed or unit_minor), *current[i + 1 :]]
            steps.append((timedelta(seconds=rng.randint(60, 1800)), "DRAFT", False, current))
        outcome = rng.random()
        if outcome >= 0.03:  # 3% stay in draft all day
            steps.append((timedelta(seconds=rng.randint(60, 5400)), "IN_PROGRESS", False, current))
            if outcome < 0.07:
                steps.append((timedelta(seconds=rng.randint(300, 10_800)), "IN_PROGRESS", True, current))
            elif outcome < 0.95:
                steps.append((timedelta(seconds=rng.randint(600, 14_400)), "APPROVED", False, current))
            # else: submitted, still awaiting approval at the end of the day

        lines, total = _invoice_lines(number, raw_lines, descriptions, currency)
        versions = [
            SupplierInvoiceVersion(
                wid=wid,
                supplier_invoice_id=invoice_id,
                version=1,
                entered_at=entered_at,
                invoice_number=f"INV-{invoice_numbers[n]}",
                supplier_id=supplier.supplier_id,
                company_id=company_id,
                currency_id=currency_id,
                invoice_date=invoice_date,
                due_date=invoice_date + timedelta(days=rng.choice(_DUE_DAYS)),
                document_status_id="DRAFT",
                payment_status_id="UNPAID",
                on_hold=False,
                memo=memo,
                control_amount_total=total,
                lines=lines,
                purchase_order_id=po_for_slot.get(n),
            )
        ]
        built_for = raw_lines
        moment = entered_at
        for delay, status_id, on_hold, step_lines in steps:
            moment += delay
            if moment > day_end:
                break
            if step_lines is not built_for:  # share unchanged line tuples between versions
                lines, total = _invoice_lines(number, step_lines, descriptions, currency)
                built_for = step_lines
            versions.append(_next_version(versions[-1], moment, status_id, on_hold, total, lines))

        invoices[invoice_id] = SupplierInvoice(
            wid=wid, supplier_invoice_id=invoice_id, credit_memo=is_credit_memo, versions=tuple(versions)
        )
        if is_high_value:
            high_value[invoice_id] = versions[-1].control_amount_total
    return invoices, high_value


def _invoice_lines(
    number: int, raw: Sequence[tuple[str, str, int, int]], descriptions: Sequence[str], currency: Currency
) -> tuple[tuple[SupplierInvoiceLine, ...], Decimal]:
    """Lines from (category, cost center, quantity, unit cost in minor units), and their total."""
    lines = tuple(
        SupplierInvoiceLine(
            line_id=f"SIL-{number:06d}-{i + 1}",
            line_order=i + 1,
            item_description=descriptions[i],
            spend_category_id=category,
            quantity=Decimal(quantity),
            unit_cost=currency.from_minor_units(unit_minor),
            extended_amount=currency.from_minor_units(quantity * unit_minor),
            cost_center_id=cost_center,
        )
        for i, (category, cost_center, quantity, unit_minor) in enumerate(raw)
    )
    total = currency.from_minor_units(sum(q * u for _c, _cc, q, u in raw))
    return lines, total


def _next_version(
    previous: SupplierInvoiceVersion,
    entered_at: datetime,
    document_status_id: str,
    on_hold: bool,
    control_amount_total: Decimal,
    lines: tuple[SupplierInvoiceLine, ...],
) -> SupplierInvoiceVersion:
    # Spelled out rather than dataclasses.replace, which costs a fifth of the generation time.
    return SupplierInvoiceVersion(
        wid=previous.wid,
        supplier_invoice_id=previous.supplier_invoice_id,
        version=previous.version + 1,
        entered_at=entered_at,
        invoice_number=previous.invoice_number,
        supplier_id=previous.supplier_id,
        company_id=previous.company_id,
        currency_id=previous.currency_id,
        invoice_date=previous.invoice_date,
        due_date=previous.due_date,
        document_status_id=document_status_id,
        payment_status_id=previous.payment_status_id,
        on_hold=on_hold,
        memo=previous.memo,
        control_amount_total=control_amount_total,
        lines=lines,
        purchase_order_id=previous.purchase_order_id,
    )


# --------------------------------------------------------------------------- planted duplicates


def _plant_duplicate_invoices(
    rng: random.Random,
    invoices: dict[str, SupplierInvoice],
    high_value: set[str],
    inactive: set[str],
    suppliers: dict[str, Supplier],
    scale: float,
) -> tuple[list[tuple[str, str]], set[str]]:
    """Turn a few of the day's invoices into duplicates of earlier ones (same count of invoices).

    Alternately: same supplier and invoice number (the same paper keyed twice), and same
    supplier, amount and invoice date under another number (a re-sent invoice). Only plain
    invoices take part: not high-value (the copy would be high-value too), not credit memos, not
    linked to a PO, not of a special-name supplier, and with one amount in every version, so the
    pair is a duplicate at any moment both exist. Returns the sorted pairs and the copies.
    """
    special = {*NON_ASCII_SUPPLIER_NAMES, HOSTILE_SUPPLIER_NAME}
    candidates = [
        inv
        for inv in invoices.values()
        if not inv.credit_memo
        and inv.supplier_invoice_id not in high_value
        and inv.latest.purchase_order_id is None
        and inv.latest.supplier_id not in inactive
        and suppliers[inv.latest.supplier_id].name not in special
        and all(v.control_amount_total == inv.latest.control_amount_total for v in inv.versions)
    ]
    n_pairs = min(max(2, round(4 * scale)), len(candidates) // 2)
    picked = rng.sample(candidates, 2 * n_pairs)
    pairs: list[tuple[str, str]] = []
    copies: set[str] = set()
    for i in range(n_pairs):
        original, copy = sorted(picked[2 * i : 2 * i + 2], key=lambda inv: (inv.created_at, inv.supplier_invoice_id))
        source = original.latest
        if i % 2 == 0:
            versions = tuple(
                replace(v, supplier_id=source.supplier_id, invoice_number=source.invoice_number)
                for v in copy.versions
            )
        else:
            prefix = f"SIL-{copy.supplier_invoice_id[3:]}"
            lines = tuple(replace(line, line_id=f"{prefix}-{line.line_order}") for line in source.lines)
            versions = tuple(
                replace(
                    v,
                    supplier_id=source.supplier_id,
                    company_id=source.company_id,
                    currency_id=source.currency_id,
                    invoice_date=source.invoice_date,
                    due_date=source.due_date,
                    control_amount_total=source.control_amount_total,
                    lines=lines,
                )
                for v in copy.versions
            )
        invoices[copy.supplier_invoice_id] = SupplierInvoice(
            wid=copy.wid, supplier_invoice_id=copy.supplier_invoice_id, credit_memo=False, versions=versions
        )
        a, b = sorted((original.supplier_invoice_id, copy.supplier_invoice_id))
        pairs.append((a, b))
        copies.add(copy.supplier_invoice_id)
    return pairs, copies


def _remove_accidental_duplicates(
    invoices: dict[str, SupplierInvoice],
    currencies: dict[str, Currency],
    planted: set[tuple[str, str]],
    protected: set[str],
    taken: Mapping[tuple[str, Decimal, date], str] | None = None,
) -> None:
    """Nudge amounts until no unplanted pair shares supplier, amount and invoice date.

    Random amounts in cents rarely collide, but at large scales a busy supplier can get two
    equal ones on the same date, which a duplicate detector would rightly report. Invoice
    numbers cannot collide by construction (distinct samples, disjoint ranges). ``taken`` are
    the keys of other days' invoices (of a timeline): a collision with one moves this day's.
    """
    for _attempt in range(100):
        seen: dict[tuple[str, Decimal, date], str] = dict(taken or {})
        nudge: set[str] = set()
        for invoice_id, invoice in invoices.items():
            v = invoice.latest
            other = seen.setdefault((v.supplier_id, v.control_amount_total, v.invoice_date), invoice_id)
            if other == invoice_id or (min(other, invoice_id), max(other, invoice_id)) in planted:
                continue
            if other not in invoices:  # another day's invoice: this one must move
                other = invoice_id
            victim = invoice_id if invoice_id not in protected else other
            if victim in protected:
                raise RuntimeError(f"planted invoices {other} and {invoice_id} collide; change the seed")
            nudge.add(victim)
        if not nudge:
            return
        for invoice_id in sorted(nudge):
            invoices[invoice_id] = _nudge_amount(invoices[invoice_id], currencies)
    raise RuntimeError("could not remove accidental duplicate invoices")


def _nudge_amount(invoice: SupplierInvoice, currencies: dict[str, Currency]) -> SupplierInvoice:
    """One minor unit more on the first line's unit cost (one less for a credit memo)."""
    step = -1 if invoice.credit_memo else 1
    rebuilt: dict[int, tuple[tuple[SupplierInvoiceLine, ...], Decimal]] = {}
    versions = []
    for v in invoice.versions:
        if id(v.lines) not in rebuilt:
            first = v.lines[0]
            unit_cost = first.unit_cost + currencies[v.currency_id].from_minor_units(step)
            lines = (replace(first, unit_cost=unit_cost, extended_amount=first.quantity * unit_cost), *v.lines[1:])
            rebuilt[id(v.lines)] = (lines, sum((line.extended_amount for line in lines), Decimal(0)))
        lines, total = rebuilt[id(v.lines)]
        versions.append(replace(v, lines=lines, control_amount_total=total))
    return replace(invoice, versions=tuple(versions))


# --------------------------------------------------------------------------- invoice history


@dataclass
class _PlannedPayment:
    """One payment of a settlement run, before amounts are known."""

    run: int  # index of the settlement run
    company_id: str
    supplier_id: str
    currency_id: str
    items: list[tuple[str, str]] = field(default_factory=list)  # (invoice ID, full|discount|partial)


# One payment per supplier, run and currency: (run, supplier, currency) -> payment.
_PaymentPlan = dict[tuple[int, str, str], _PlannedPayment]


def _generate_history(
    rng: random.Random,
    seed: int,
    scale: float,
    day: date,
    *,
    currencies: dict[str, Currency],
    suppliers: list[Supplier],
    first_number: int,
    invoice_number_base: int = 0,
) -> tuple[dict[str, SupplierInvoice], dict[str, int], _PaymentPlan]:
    """Approved invoices entered on earlier days, and the plan of the day's settlement runs.

    Each history invoice has one version here, entered on or soon after its invoice date (the
    payments and ``_touch_during_day`` may add versions entered during the day). They fall in
    three groups by due date (relative to the day): paid in full today (due -5..+10 days),
    planted overdue (due -40..-1, unpaid or partially paid today), and not yet due (due 0..+40,
    unpaid or a few partially paid today).
    """
    n_groups = max(2, round(360 * scale))
    n_overdue = max(2, round(12 * scale))
    n_overdue_partial = max(1, n_overdue // 3)
    n_open_partial = max(1, round(4 * scale))
    n_open = max(2, round(110 * scale))
    supplier_weights = list(accumulate(1.0 / (1 + (i % 50)) for i in range(len(suppliers))))
    company_ids = [c[0] for c in _COMPANIES]
    company_currency = {c[0]: c[2] for c in _COMPANIES}
    company_cum_weights = list(accumulate(c[3] for c in _COMPANIES))
    n_runs = len(_SETTLEMENT_RUN_TIMES)
    plan: _PaymentPlan = {}

    def party() -> tuple[str, str, str]:
        supplier = rng.choices(suppliers, cum_weights=supplier_weights)[0].supplier_id
        company = rng.choices(company_ids, cum_weights=company_cum_weights)[0]
        foreign = rng.random() < 0.08
        return supplier, company, rng.choice(_FOREIGN_CURRENCIES) if foreign else company_currency[company]

    def planned(supplier: str, company: str, currency: str, run: int | None = None) -> _PlannedPayment:
        key = (rng.randrange(n_runs) if run is None else run, supplier, currency)
        payment = plan.get(key)
        if payment is None:
            payment = plan[key] = _PlannedPayment(key[0], company, supplier, currency)
        return payment

    # (due-offset range, supplier, company, currency, planned payment, how, overdue)
    drafts: list[tuple[tuple[int, int], str, str, str, _PlannedPayment | None, str, bool]] = []
    for g in range(n_groups):
        group = planned(*party(), run=g % n_runs)  # alternate, so that every run pays something
        for _ in range(rng.choices((1, 2, 3), weights=(0.6, 0.3, 0.1))[0]):
            drafts.append(((-5, 10), group.supplier_id, group.company_id, group.currency_id, group, "full", False))
    for i in range(n_overdue + n_open_partial + n_open):
        overdue = i < n_overdue
        partial = i < n_overdue_partial or n_overdue <= i < n_overdue + n_open_partial
        supplier, company, currency_code = party()
        partly: _PlannedPayment | None = planned(supplier, company, currency_code) if partial else None
        if partly is not None:
            company = partly.company_id  # the payment's company pays; the invoice must be its
        due_range = (-40, -1) if overdue else (0, 40)
        drafts.append((due_range, supplier, company, currency_code, partly, "partial", overdue))

    # Disjoint from the day's.
    numbers = [invoice_number_base + n for n in rng.sample(range(1_000_000, 10_000_000), len(drafts))]
    category_ids = list(_SPEND_CATEGORIES)
    cost_center_ids = [c[0] for c in _COST_CENTERS]
    cost_center_names = dict(_COST_CENTERS)
    built: list[tuple[datetime, int, SupplierInvoiceVersion, _PlannedPayment | None, str, bool]] = []
    raw_by_index: dict[int, tuple[list[tuple[str, str, int, int]], list[str]]] = {}
    for index, ((low, high), supplier_id, company_id, currency_id, payment, how, overdue) in enumerate(drafts):
        # Payment terms first, then a due date that keeps the invoice date within the history.
        terms_options = [t for t in _DUE_DAYS if max(low, t - HISTORY_DAYS) <= min(high, t - 1)]
        terms = rng.choice(terms_options)
        due_date = day + timedelta(days=rng.randint(max(low, terms - HISTORY_DAYS), min(high, terms - 1)))
        invoice_date = due_date - timedelta(days=terms)
        entry_day = min(invoice_date + timedelta(days=rng.randint(0, 3)), day - timedelta(days=1))
        entered_at = _during_day(rng, entry_day, 8, 10)
        minor = 10 ** currencies[currency_id].decimals
        raw: list[tuple[str, str, int, int]] = []
        for _ in range(rng.choices((1, 2, 3), weights=_LINE_COUNT_WEIGHTS)[0]):
            quantity = rng.choice(_QUANTITIES)
            target_minor = int(math.exp(rng.uniform(_LOG_LINE_MIN, _LOG_LINE_MAX)) * minor)
            unit_minor = max(1, target_minor // quantity)
            raw.append((rng.choice(category_ids), rng.choice(cost_center_ids), quantity, unit_minor))
        descriptions = [rng.choice(_SPEND_CATEGORIES[cat][1]) for cat, _cc, _q, _u in raw]
        memo = rng.choice(_MEMOS).format(
            item=descriptions[0],
            month=rng.choice(_MONTHS),
            cost_center=cost_center_names[raw[0][1]],
            number=numbers[index],
        )
        version = SupplierInvoiceVersion(
            wid="",  # numbered below, once ordered by entry time
            supplier_invoice_id="",
            version=1,
            entered_at=entered_at,
            invoice_number=f"INV-{numbers[index]}",
            supplier_id=supplier_id,
            company_id=company_id,
            currency_id=currency_id,
            invoice_date=invoice_date,
            due_date=due_date,
            document_status_id="APPROVED",
            payment_status_id="UNPAID",
            on_hold=False,
            memo=memo,
            control_amount_total=Decimal(0),
            lines=(),
        )
        built.append((entered_at, index, version, payment, how, overdue))
        raw_by_index[index] = (raw, descriptions)

    invoices: dict[str, SupplierInvoice] = {}
    overdue_days: dict[str, int] = {}
    for offset, (_at, index, draft, paid_by, how, overdue) in enumerate(sorted(built, key=lambda b: (b[0], b[1]))):
        number = first_number + offset
        invoice_id = f"SI-{number:06d}"
        wid = make_wid(seed, "supplier_invoice", number)
        raw, descriptions = raw_by_index[index]
        lines, total = _invoice_lines(number, raw, descriptions, currencies[draft.currency_id])
        version = replace(draft, wid=wid, supplier_invoice_id=invoice_id, control_amount_total=total, lines=lines)
        invoices[invoice_id] = SupplierInvoice(
            wid=wid, supplier_invoice_id=invoice_id, credit_memo=False, versions=(version,)
        )
        if paid_by is not None:
            paid_by.items.append((invoice_id, how))
        if overdue:
            overdue_days[invoice_id] = (day - draft.due_date).days
    return invoices, overdue_days, plan


def _plant_late_approvals(
    rng: random.Random, invoices: dict[str, SupplierInvoice], day: date, scale: float
) -> list[str]:
    """A few invoices entered weeks ago, dated long before any look-back, that wait for approval until
    the day's afternoon: a poller asking by invoice date sees the approval only through its sweep of
    open invoices (the README's "what a route can't see"). Chosen among earlier days' invoices nothing
    else touches today (no payment, no reminder), so no other ground truth moves."""
    quiet = sorted(
        invoice_id for invoice_id, invoice in invoices.items()
        if len(invoice.versions) == 1 and invoice.created_at.date() < day - timedelta(days=10)
        and invoice.latest.invoice_date < day - timedelta(days=14) and invoice.latest.payment_status_id == "UNPAID"
    )
    chosen = sorted(rng.sample(quiet, min(len(quiet), max(1, round(2 * scale)))))
    for invoice_id in chosen:
        invoice = invoices[invoice_id]
        waiting = replace(invoice.latest, document_status_id="IN_PROGRESS")
        approved = replace(waiting, version=2, entered_at=_during_day(rng, day, 13, 3), document_status_id="APPROVED")
        invoices[invoice_id] = replace(invoice, versions=(waiting, approved))
    return chosen


def _touch_during_day(
    rng: random.Random, invoices: dict[str, SupplierInvoice], invoice_ids: Iterable[str], day: date, memo: str
) -> None:
    """Give each invoice with no version entered on ``day`` one, in business hours (08:00-18:00
    UTC), identical to its latest version except ``memo``.

    Such an invoice's versions all predate the day, so the new one is strictly the latest; its
    payment status, amounts, dates, supplier and number are unchanged, so is its ground truth.
    """
    for invoice_id in invoice_ids:
        invoice = invoices[invoice_id]
        if any(moment.date() == day for moment in invoice.entry_times):
            continue
        previous = invoice.latest
        touched = replace(
            previous, version=previous.version + 1, entered_at=_during_day(rng, day, 8, 10), memo=memo
        )
        invoices[invoice_id] = replace(invoice, versions=(*invoice.versions, touched))


# --------------------------------------------------------------------------- payments


def _generate_payments(
    rng: random.Random,
    seed: int,
    scale: float,
    day: date,
    *,
    invoices: dict[str, SupplierInvoice],
    plan: _PaymentPlan,
    runs: list[SettlementRun],
    currencies: dict[str, Currency],
    suppliers: dict[str, Supplier],
    unpayable: set[str],
    number_base: int = 0,
) -> tuple[dict[str, Payment], dict[str, PaymentRunTruth]]:
    """The settlement runs' payments; every invoice they pay gets a PAID/PARTIALLY_PAID version.

    Besides the planned history invoices, each run pays some of the day's invoices approved
    before it starts (early, some with a 2% discount). One payment per supplier, run and
    currency: an invoice of another company for a key already paid by one company waits.
    """
    day_start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    per_run = max(1, round(60 * scale))
    paid = {invoice_id for payment in plan.values() for invoice_id, _how in payment.items}
    for run_index, run in enumerate(runs):
        eligible: list[SupplierInvoiceVersion] = []
        for invoice_id, invoice in invoices.items():
            v = invoice.latest
            if (
                invoice.created_at >= day_start
                and not invoice.credit_memo
                and invoice_id not in paid
                and invoice_id not in unpayable
                and v.document_status_id == "APPROVED"
                and not v.on_hold
                and v.entered_at < run.started_at
            ):
                supplier = suppliers[v.supplier_id].as_of(run.started_at)
                if supplier is not None and supplier.status == "ACTIVE":
                    eligible.append(v)
        share = min(1.0, per_run / len(eligible)) if eligible else 0.0
        for v in eligible:
            if rng.random() >= share:
                continue
            key = (run_index, v.supplier_id, v.currency_id)
            payment = plan.get(key)
            if payment is None:
                payment = plan[key] = _PlannedPayment(run_index, v.company_id, v.supplier_id, v.currency_id)
            elif payment.company_id != v.company_id:
                continue
            payment.items.append((v.supplier_invoice_id, "discount" if rng.random() < 0.4 else "full"))
            paid.add(v.supplier_invoice_id)

    payments: dict[str, Payment] = {}
    truth = {
        run.settlement_run_id: PaymentRunTruth(payments=0, totals={}, complete_at=run.started_at) for run in runs
    }
    ordered = sorted(plan.values(), key=lambda p: (p.run, p.supplier_id, p.currency_id))
    for number, planned in enumerate(ordered, start=number_base + 1):
        run = runs[planned.run]
        currency = currencies[planned.currency_id]
        created_at = run.started_at + timedelta(seconds=rng.randint(0, 600))
        completed_at = created_at + timedelta(seconds=rng.randint(300, 5400))
        remittances: list[RemittanceLine] = []
        total_minor = 0
        for invoice_id, how in planned.items:
            invoice = invoices[invoice_id]
            v = invoice.latest
            payable = currency.to_minor_units(v.control_amount_total)
            discount = payable * 2 // 100 if how == "discount" else 0
            if how == "partial":
                paid_minor = min(payable - 1, max(1, round(payable * rng.uniform(0.3, 0.8))))
            else:
                paid_minor = payable - discount
            due = payable - paid_minor - discount
            remittances.append(
                RemittanceLine(
                    document_type="Supplier_Invoice",
                    document_id=invoice_id,
                    document_wid=invoice.wid,
                    document_date=v.invoice_date,
                    total_payable_amount=v.control_amount_total,
                    amount_paid=currency.from_minor_units(paid_minor),
                    amount_due=currency.from_minor_units(due),
                    discount_taken=currency.from_minor_units(discount),
                )
            )
            total_minor += paid_minor
            # The invoice shows as paid once the payment completes, not when it is proposed.
            settled = replace(
                v,
                version=v.version + 1,
                entered_at=completed_at,
                payment_status_id="PARTIALLY_PAID" if due else "PAID",
            )
            invoices[invoice_id] = replace(invoice, versions=(*invoice.versions, settled))

        payment_id = f"PAY-{number:06d}"
        wid = make_wid(seed, "payment", number)
        amount = currency.from_minor_units(total_minor)
        pending = PaymentVersion(
            wid=wid,
            payment_id=payment_id,
            version=1,
            entered_at=created_at,
            payment_date=day,
            settlement_run_id=run.settlement_run_id,
            payment_status="Pending",
            payment_reference_number=f"EFT-{day:%Y%m%d}-{number:06d}",
            payment_amount=amount,
            currency_id=planned.currency_id,
            company_id=planned.company_id,
            supplier_id=planned.supplier_id,
            remittances=tuple(remittances),
        )
        complete = replace(pending, version=2, entered_at=completed_at, payment_status="Complete")
        payments[payment_id] = Payment(payment_id=payment_id, wid=wid, versions=(pending, complete))

        run_truth = truth[run.settlement_run_id]
        run_truth["payments"] += 1
        totals_key = (planned.company_id, planned.currency_id)
        run_truth["totals"][totals_key] = run_truth["totals"].get(totals_key, Decimal(0)) + amount
        run_truth["complete_at"] = max(run_truth["complete_at"], completed_at)
    return payments, truth


# --------------------------------------------------------------------------- purchase orders


def _generate_purchase_orders(
    rng: random.Random,
    seed: int,
    scale: float,
    day: date,
    *,
    invoices: dict[str, SupplierInvoice],
    currencies: dict[str, Currency],
    suppliers: list[Supplier],
    number_base: int = 0,
) -> dict[str, PurchaseOrder]:
    """The older POs the day's invoices reference, then the day's own POs.

    A referenced PO was issued 3 to 30 days before its invoice, to the same supplier and company
    in the same currency, and its lines are the invoice's (a clean three-way match). The day's
    POs go DRAFT -> APPROVED -> ISSUED, some stop earlier and a few are CANCELED.
    """
    day_end = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(days=1, seconds=-1)
    linked: list[tuple[str, SupplierInvoice]] = []
    for invoice in invoices.values():
        po_id = invoice.latest.purchase_order_id
        if po_id is not None:
            linked.append((po_id, invoice))
    linked.sort(key=lambda pair: pair[0])

    orders: dict[str, PurchaseOrder] = {}
    for po_id, invoice in linked:
        v = invoice.latest
        number = int(po_id[3:])
        wid = make_wid(seed, "purchase_order", number)
        document_date = v.invoice_date - timedelta(days=rng.randint(3, 30))
        lines = tuple(
            PurchaseOrderLine(
                line_id=f"POL-{number:06d}-{line.line_order}",
                line_number=line.line_order,
                item_description=line.item_description,
                spend_category_id=line.spend_category_id,
                quantity=line.quantity,
                unit_cost=line.unit_cost,
                extended_amount=line.extended_amount,
                due_date=v.invoice_date,
            )
            for line in v.lines
        )
        version = PurchaseOrderVersion(
            wid=wid,
            purchase_order_id=po_id,
            version=1,
            entered_at=_during_day(rng, document_date, 9, 8),
            document_number=po_id,
            document_status_id="ISSUED",
            company_id=v.company_id,
            supplier_id=v.supplier_id,
            currency_id=v.currency_id,
            document_date=document_date,
            due_date=v.invoice_date,
            memo=f"Order: {lines[0].item_description}",
            lines=lines,
        )
        orders[po_id] = PurchaseOrder(purchase_order_id=po_id, wid=wid, versions=(version,))

    supplier_weights = list(accumulate(1.0 / (1 + (i % 50)) for i in range(len(suppliers))))
    company_ids = [c[0] for c in _COMPANIES]
    company_currency = {c[0]: c[2] for c in _COMPANIES}
    company_cum_weights = list(accumulate(c[3] for c in _COMPANIES))
    category_ids = list(_SPEND_CATEGORIES)
    cost_center_names = [name for _cid, name in _COST_CENTERS]
    for k in range(max(10, round(1000 * scale))):
        number = number_base + len(linked) + k + 1
        po_id = f"PO-{number:06d}"
        wid = make_wid(seed, "purchase_order", number)
        supplier = rng.choices(suppliers, cum_weights=supplier_weights)[0]
        company_id = rng.choices(company_ids, cum_weights=company_cum_weights)[0]
        currency_id = rng.choice(_FOREIGN_CURRENCIES) if rng.random() < 0.05 else company_currency[company_id]
        currency = currencies[currency_id]
        minor = 10**currency.decimals
        due_date = day + timedelta(days=rng.randint(7, 60))
        po_lines: list[PurchaseOrderLine] = []
        for i in range(rng.choices((1, 2, 3), weights=_LINE_COUNT_WEIGHTS)[0]):
            category = rng.choice(category_ids)
            quantity = rng.choice(_QUANTITIES)
            unit_minor = max(1, int(math.exp(rng.uniform(_LOG_LINE_MIN, _LOG_LINE_MAX)) * minor) // quantity)
            po_lines.append(
                PurchaseOrderLine(
                    line_id=f"POL-{number:06d}-{i + 1}",
                    line_number=i + 1,
                    item_description=rng.choice(_SPEND_CATEGORIES[category][1]),
                    spend_category_id=category,
                    quantity=Decimal(quantity),
                    unit_cost=currency.from_minor_units(unit_minor),
                    extended_amount=currency.from_minor_units(quantity * unit_minor),
                    due_date=due_date,
                )
            )
        memo = rng.choice(_MEMOS).format(
            item=po_lines[0].item_description,
            month=rng.choice(_MONTHS),
            cost_center=rng.choice(cost_center_names),
            number=number,
        )
        versions = [
            PurchaseOrderVersion(
                wid=wid,
                purchase_order_id=po_id,
                version=1,
                entered_at=_during_day(rng, day, 7, 11),
                document_number=po_id,
                document_status_id="DRAFT",
                company_id=company_id,
                supplier_id=supplier.supplier_id,
                currency_id=currency_id,
                document_date=day,
                due_date=due_date,
                memo=memo,
                lines=tuple(po_lines),
            )
        ]
        roll = rng.random()
        steps: list[tuple[int, str]] = []
        if roll < 0.04:
            steps = [(rng.randint(600, 14_400), "CANCELED")]
        elif roll >= 0.12:  # 8% are still drafts at the end of the day
            steps = [(rng.randint(600, 14_400), "APPROVED")]
            if rng.random() < 0.75:
                steps.append((rng.randint(300, 10_800), "ISSUED"))
        for delay, status_id in steps:
            previous = versions[-1]
            moment = previous.entered_at + timedelta(seconds=delay)
            if moment > day_end:
                break
            versions.append(
                replace(previous, version=previous.version + 1, entered_at=moment, document_status_id=status_id)
            )
        orders[po_id] = PurchaseOrder(purchase_order_id=po_id, wid=wid, versions=tuple(versions))
    return orders


# --------------------------------------------------------------------------- journals

# (company, ledger account, debit in minor units, credit in minor units, cost center, memo)
_Row = tuple[str, str, int, int, str | None, str]


def _generate_journals(
    rng: random.Random,
    seed: int,
    scale: float,
    day: date,
    *,
    currencies: dict[str, Currency],
    accounts: AccountSetVersion,
    cost_center_ids: list[str],
    number_base: int = 0,
) -> tuple[dict[str, JournalEntry], dict[str, list[str]]]:
    """The day's journal entries, with the planted GL anomalies.

    Normal journals: supplier invoice postings (expenses against AP), accruals (expenses against
    accrued liabilities) and manual reclasses (expenses against cash, prepaid or other expenses),
    all in one company, balanced, header totals equal to the line sums, on open accounts and on
    cost centers that stay active all day. Intercompany ones: company A pays for B, A debits
    due-from and credits cash, B debits expenses and credits due-to.
    """
    count = max(20, round(300 * scale))
    n_planted = max(2, round(3 * scale))
    n_intercompany = max(n_planted + 2, round(0.1 * count))
    kinds = (
        ["unbalanced"] * n_planted
        + ["header"] * n_planted
        + ["retired"] * n_planted
        + ["intercompany_mismatch"] * n_planted
        + ["intercompany"] * (n_intercompany - n_planted)
    )
    slot_kind = dict(zip(rng.sample(range(count), len(kinds)), kinds, strict=True))
    by_id = accounts.accounts_by_id()
    expense_ids = [
        a.ledger_account_id
        for a in accounts.ledger_accounts
        if a.account_type_id == "Expense" and not a.retired and a.ledger_account_id != _NEW_LEDGER_ACCOUNT[0]
    ]
    retired_ids = [a.ledger_account_id for a in accounts.ledger_accounts if a.retired]
    company_ids = [c[0] for c in _COMPANIES]
    company_currency = {c[0]: c[2] for c in _COMPANIES}
    company_cum_weights = list(accumulate(c[3] for c in _COMPANIES))
    day_end = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(days=1, seconds=-1)
    log_low, log_high = math.log(50), math.log(50_000)

    def amount() -> int:  # in cents: every company currency has two decimals
        return int(math.exp(rng.uniform(log_low, log_high)) * 100)

    def split(total: int, parts: int) -> list[int]:
        parts = min(parts, total)
        bounds = [0, *sorted(rng.sample(range(1, total), parts - 1)), total]
        return [bounds[i + 1] - bounds[i] for i in range(parts)]

    def expense(company: str, debit: int, credit: int = 0) -> _Row:
        account = rng.choice(expense_ids)
        return (company, account, debit, credit, rng.choice(cost_center_ids), by_id[account].name)

    journals: dict[str, JournalEntry] = {}
    truth: dict[str, list[str]] = {"unbalanced": [], "header": [], "retired": [], "intercompany": []}
    unknown_used = False
    for n in range(count):
        number = number_base + n + 1
        journal_id = f"JE-{number:06d}"
        wid = make_wid(seed, "journal", number)
        kind = slot_kind.get(n, "normal")
        rows: list[_Row]
        intercompany = kind.startswith("intercompany")
        if intercompany:
            company, other = rng.sample(company_ids, 2)
            source = "Manual"
            paid = amount()
            charged = paid
            if kind == "intercompany_mismatch":
                delta = rng.randint(1, max(1, paid // 10))
                charged = paid + delta if rng.random() < 0.5 or paid - delta < 2 else paid - delta
            rows = [
                (company, DUE_FROM_ACCOUNT, paid, 0, None, f"Due from {other}"),
                (company, "1000", 0, paid, None, f"Paid on behalf of {other}"),
                *(expense(other, part) for part in split(charged, rng.randint(1, 2))),
                (other, DUE_TO_ACCOUNT, 0, charged, None, f"Due to {company}"),
            ]
            memo = f"Intercompany recharge {company} -> {other}: {rows[2][5]}"
        else:
            company = rng.choices(company_ids, cum_weights=company_cum_weights)[0]
            source = rng.choices(("Supplier_Invoice", "Accrual", "Manual"), weights=(45, 25, 30))[0]
            if source == "Supplier_Invoice":
                rows = [expense(company, amount()) for _ in range(rng.randint(1, 5))]
                rows.append((company, AP_CONTROL_ACCOUNT, 0, sum(r[2] for r in rows), None, "Accounts payable"))
                memo = f"Supplier invoice posting {rng.randint(10_000, 999_999)}"
            elif source == "Accrual":
                rows = [expense(company, amount()) for _ in range(rng.randint(1, 3))]
                rows.append((company, "2100", 0, sum(r[2] for r in rows), None, "Accrued liabilities"))
                memo = f"Accrual: {rows[0][5]} - {rng.choice(_MONTHS)}"
            else:
                rows = [expense(company, amount()) for _ in range(rng.randint(1, 3))]
                for part in split(sum(r[2] for r in rows), rng.randint(1, 2)):
                    target = rng.choice(("1000", "1300", "expense"))
                    if target == "expense":
                        rows.append(expense(company, 0, part))
                    else:
                        rows.append((company, target, 0, part, None, by_id[target].name))
                memo = rng.choice(("Reclass {item}", "R&D: reclass {item}", "Reclass {item} <Q4 review>")).format(
                    item=rows[0][5]
                )

        if kind == "unbalanced":
            i = rng.randrange(len(rows))
            c, account, debit, credit, cc, line_memo = rows[i]
            delta = rng.randint(1, 50_000)
            if debit:
                debit += delta
            else:
                credit += delta
            rows[i] = (c, account, debit, credit, cc, line_memo)
            truth["unbalanced"].append(journal_id)
        elif kind == "retired":
            c, _account, debit, credit, cc, line_memo = rows[0]  # always an expense line
            account = rng.choice(retired_ids) if unknown_used else UNKNOWN_LEDGER_ACCOUNT
            unknown_used = True
            rows[0] = (c, account, debit, credit, cc, line_memo)
            truth["retired"].append(journal_id)
        elif kind == "intercompany_mismatch":
            truth["intercompany"].append(journal_id)

        currency = currencies[company_currency[company]]
        debits = sum(r[2] for r in rows)
        credits = sum(r[3] for r in rows)
        header_debits, header_credits = debits, credits
        if kind == "header":
            delta = rng.randint(1, 100_000)
            header_debits += delta
            if rng.random() < 0.5:  # the header may even look balanced
                header_credits += delta
            truth["header"].append(journal_id)
        lines = tuple(
            JournalLine(
                line_order=i + 1,
                company_id=c,
                ledger_account_id=account,
                debit_amount=currency.from_minor_units(debit),
                credit_amount=currency.from_minor_units(credit),
                currency_id=currency.currency_id,
                memo=line_memo,
                cost_center_id=cc,
            )
            for i, (c, account, debit, credit, cc, line_memo) in enumerate(rows)
        )
        draft = JournalEntryVersion(
            wid=wid,
            journal_entry_id=journal_id,
            version=1,
            entered_at=_during_day(rng, day, 7, 12),
            journal_number=journal_id,
            journal_status_id="DRAFT",
            company_id=company,
            currency_id=currency.currency_id,
            accounting_date=day,
            journal_source_id=source,
            memo=memo,
            total_ledger_debits=currency.from_minor_units(header_debits),
            total_ledger_credits=currency.from_minor_units(header_credits),
            intercompany=intercompany,
            lines=lines,
        )
        versions = [draft]
        if rng.random() < 0.9:
            posted_at = draft.entered_at + timedelta(seconds=rng.randint(300, 14_400))
            if posted_at <= day_end:
                versions.append(replace(draft, version=2, entered_at=posted_at, journal_status_id="POSTED"))
        journals[journal_id] = JournalEntry(journal_entry_id=journal_id, wid=wid, versions=tuple(versions))
    return journals, {key: sorted(ids) for key, ids in truth.items()}
