"""Deterministic, Workday-shaped finance data for one business day.

The scenario is the single source of truth behind the Workday sandbox server: the server only
selects and serialises what is generated here, and tests compare what a client loaded with the
answers of this module (``Scenario.invoices_changed_between``, ``Scenario.ground_truth``).

Everything is derived from ``random.Random(seed)`` and from hashes of ``seed + kind + number``
(the WIDs), so the same ``(seed, scale, day)`` always gives identical data, on any machine.

Records that change during the day are kept as immutable *versions*, each with the UTC moment it
was entered. That is what Workday's ``As_Of_Entry_DateTime`` and transaction-log criteria select
on, so every collection that a ``Get_`` operation serves has the shape ``VersionedRecord``: a tuple
of complete snapshots (``versions``) and their entry times (``entry_times``), oldest first.

To add a collection later (purchase orders, payments, journals, ledger accounts, worktags), add
its dataclasses, generate it in ``Scenario.generate`` from the same ``rng`` *after* the existing
collections (so existing data stays identical for a given seed), and store it as a ``dict`` keyed
by its business ID in ID order.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import accumulate
from typing import Protocol, TypeVar

__all__ = [
    "DEFAULT_DAY",
    "HIGH_VALUE_THRESHOLD",
    "HOSTILE_SUPPLIER_NAME",
    "NON_ASCII_SUPPLIER_NAMES",
    "NORMAL_AMOUNT_CEILING",
    "Company",
    "CostCenter",
    "Currency",
    "Scenario",
    "SpendCategory",
    "Status",
    "Supplier",
    "SupplierInvoice",
    "SupplierInvoiceLine",
    "SupplierInvoiceVersion",
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


@dataclass(frozen=True, slots=True)
class Company:
    company_id: str  # Company_Reference_ID
    wid: str
    name: str
    currency_id: str  # the company's base currency


@dataclass(frozen=True, slots=True)
class Supplier:
    supplier_id: str  # Supplier_ID, e.g. SUP-00042
    wid: str
    name: str
    currency_id: str  # the supplier's default currency
    created_at: datetime  # before the scenario day: suppliers are prior history


@dataclass(frozen=True, slots=True)
class SpendCategory:
    spend_category_id: str  # Spend_Category_ID, e.g. SC_IT
    wid: str
    name: str


@dataclass(frozen=True, slots=True)
class CostCenter:
    cost_center_id: str  # Cost_Center_Reference_ID, e.g. CC100
    wid: str
    name: str

    @property
    def descriptor(self) -> str:
        return f"{self.cost_center_id} {self.name}"


@dataclass(frozen=True, slots=True)
class Status:
    """A value of a Workday status enumeration (Document_Status, Document_Payment_Status)."""

    status_id: str  # e.g. APPROVED
    wid: str
    name: str  # descriptor, e.g. "Approved"


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
    payment_status_id: str  # UNPAID
    on_hold: bool
    memo: str
    control_amount_total: Decimal  # exact sum of the lines' extended_amount
    lines: tuple[SupplierInvoiceLine, ...]

    @property
    def gross_invoice_amount(self) -> Decimal:
        # No tax, freight or other charges are modelled, so gross equals the control total.
        return self.control_amount_total


@dataclass(frozen=True, slots=True)
class SupplierInvoice:
    wid: str
    supplier_invoice_id: str
    credit_memo: bool  # negative amounts
    versions: tuple[SupplierInvoiceVersion, ...]  # oldest first, strictly increasing entered_at
    entry_times: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entry_times", tuple(v.entered_at for v in self.versions))

    @property
    def created_at(self) -> datetime:
        return self.versions[0].entered_at

    @property
    def latest(self) -> SupplierInvoiceVersion:
        return self.versions[-1]

    def as_of(self, moment: datetime) -> SupplierInvoiceVersion | None:
        """The latest version entered at or before ``moment``; None if it did not exist yet."""
        i = bisect.bisect_right(self.entry_times, moment)
        return self.versions[i - 1] if i else None


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


# --------------------------------------------------------------------------- the scenario

_CURRENCY_DECIMALS = {"USD": 2, "GBP": 2, "EUR": 2, "CHF": 2, "JPY": 0}

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

_COST_CENTERS = (
    ("CC100", "Finance"),
    ("CC200", "Information Technology"),
    ("CC300", "Operations"),
    ("CC400", "Sales"),
    ("CC500", "Marketing"),
    ("CC600", "People & Culture"),
)

_DOCUMENT_STATUSES = (
    ("DRAFT", "Draft"),
    ("IN_PROGRESS", "In Progress"),
    ("APPROVED", "Approved"),
    ("CANCELED", "Canceled"),
)
_PAYMENT_STATUSES = (("UNPAID", "Unpaid"), ("PARTIALLY_PAID", "Partially Paid"), ("PAID", "Paid"))

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


@dataclass
class Scenario:
    """One generated business day of Workday data (plus suppliers as prior history).

    Collections are dicts keyed by business ID, in ID order (Workday's answers are ordered by it
    in the sandbox). Treat a generated scenario as immutable: the server caches on it.

    ``ground_truth["high_value_invoice"]`` maps Supplier_Invoice_ID to Control_Amount_Total for
    every invoice whose amount is >= HIGH_VALUE_THRESHOLD (100,000) *in the invoice's own
    currency* (no FX conversion; a JPY invoice is compared in JPY). The rule holds for every
    version of the invoice, so it is the answer as of any moment after the invoice exists. All
    other invoices, credit memos included, have an absolute amount below NORMAL_AMOUNT_CEILING
    (60,000) in every version.
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
    ground_truth: dict[str, dict[str, Decimal]]

    @classmethod
    def generate(cls, seed: int = 7, scale: float = 1.0, day: date = DEFAULT_DAY) -> Scenario:
        return _generate(seed, scale, day)

    @property
    def day_start(self) -> datetime:
        return datetime.combine(self.day, time(0, 0), tzinfo=UTC)

    @property
    def day_end(self) -> datetime:
        """The last whole second of the day: every version is entered at or before it."""
        return self.day_start + timedelta(days=1, seconds=-1)

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


def generate_scenario(seed: int = 7, scale: float = 1.0, day: date = DEFAULT_DAY) -> Scenario:
    """Same as ``Scenario.generate``."""
    return _generate(seed, scale, day)


def _generate(seed: int, scale: float, day: date) -> Scenario:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    rng = random.Random(seed)

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
    cost_centers = {
        cid: CostCenter(cid, make_wid(seed, "cost_center", cid), name) for cid, name in _COST_CENTERS
    }
    document_statuses = {
        sid: Status(sid, make_wid(seed, "document_status", sid), name) for sid, name in _DOCUMENT_STATUSES
    }
    payment_statuses = {
        sid: Status(sid, make_wid(seed, "payment_status", sid), name) for sid, name in _PAYMENT_STATUSES
    }

    suppliers = _generate_suppliers(rng, seed, max(20, round(500 * scale)), day)
    invoices, high_value = _generate_invoices(
        rng,
        seed,
        max(30, round(5000 * scale)),
        day,
        currencies=currencies,
        suppliers=list(suppliers.values()),
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
        ground_truth={"high_value_invoice": high_value},
    )


def _generate_suppliers(rng: random.Random, seed: int, count: int, day: date) -> dict[str, Supplier]:
    specials = (*NON_ASCII_SUPPLIER_NAMES, HOSTILE_SUPPLIER_NAME)
    special_slots = dict(zip(rng.sample(range(count), len(specials)), specials, strict=True))
    n_combos = len(_NAME_PREFIXES) * len(_NAME_CORES) * len(_NAME_SUFFIXES)
    combos = rng.sample(range(n_combos), min(count, n_combos))
    company_currencies = [c[2] for c in _COMPANIES]
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
        suppliers[supplier_id] = Supplier(
            supplier_id=supplier_id,
            wid=make_wid(seed, "supplier", n + 1),
            name=name,
            currency_id=rng.choice(company_currencies),
            created_at=first_day - timedelta(days=rng.randint(30, 2000), seconds=rng.randint(0, 86_399)),
        )
    return suppliers


def _generate_invoices(
    rng: random.Random,
    seed: int,
    count: int,
    day: date,
    *,
    currencies: dict[str, Currency],
    suppliers: list[Supplier],
) -> tuple[dict[str, SupplierInvoice], dict[str, Decimal]]:
    # Planted cases first, from the same rng, so they are part of the deterministic sequence.
    n_planted = max(2, round(count * 0.01))
    planted = rng.sample(range(count), 2 * n_planted + 1)
    high_value_slots = set(planted[:n_planted])
    credit_memo_slots = set(planted[n_planted : 2 * n_planted])
    jpy_slot = planted[-1]  # guarantees at least one zero-decimal invoice at any scale

    # Every special-name supplier gets at least one invoice (the first few numbers).
    special_names = {*NON_ASCII_SUPPLIER_NAMES, HOSTILE_SUPPLIER_NAME}
    special_suppliers = [s for s in suppliers if s.name in special_names]
    # A few suppliers get most invoices, as in real AP ledgers.
    supplier_weights = list(accumulate(1.0 / (1 + (i % 50)) for i in range(len(suppliers))))
    company_ids = [c[0] for c in _COMPANIES]
    company_currency = {c[0]: c[2] for c in _COMPANIES}
    company_cum_weights = list(accumulate(c[3] for c in _COMPANIES))
    foreign_currencies = ("USD", "EUR", "GBP", "CHF", "JPY")
    category_ids = list(_SPEND_CATEGORIES)
    cost_center_ids = [c[0] for c in _COST_CENTERS]
    cost_center_names = dict(_COST_CENTERS)
    invoice_numbers = rng.sample(range(10_000, 1_000_000), count)
    day_start = datetime.combine(day, time(0, 0), tzinfo=UTC)
    entry_window_start = datetime.combine(day, _ENTRY_WINDOW_START)
    day_end = day_start + timedelta(days=1, seconds=-1)
    log_min, log_max = math.log(_NORMAL_LINE_MIN), math.log(_NORMAL_LINE_MAX - 1)

    invoices: dict[str, SupplierInvoice] = {}
    high_value: dict[str, Decimal] = {}
    for n in range(count):
        number = n + 1
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
            currency_id = rng.choice(foreign_currencies)
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
                target_minor = int(math.exp(rng.uniform(log_min, log_max)) * minor)
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

        def build_lines(
            raw: list[tuple[str, str, int, int]],
            descriptions: list[str] = descriptions,
            invoice_number: int = number,
            currency: Currency = currency,
        ) -> tuple[tuple[SupplierInvoiceLine, ...], Decimal]:
            lines = tuple(
                SupplierInvoiceLine(
                    line_id=f"SIL-{invoice_number:06d}-{i + 1}",
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

        lines, total = build_lines(raw_lines)
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
            )
        ]
        built_for = raw_lines
        moment = entered_at
        for delay, status_id, on_hold, step_lines in steps:
            moment += delay
            if moment > day_end:
                break
            if step_lines is not built_for:  # share unchanged line tuples between versions
                lines, total = build_lines(step_lines)
                built_for = step_lines
            versions.append(_next_version(versions[-1], moment, status_id, on_hold, total, lines))

        invoices[invoice_id] = SupplierInvoice(
            wid=wid, supplier_invoice_id=invoice_id, credit_memo=is_credit_memo, versions=tuple(versions)
        )
        if is_high_value:
            high_value[invoice_id] = versions[-1].control_amount_total
    return invoices, high_value


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
    )
