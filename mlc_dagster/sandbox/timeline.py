"""Consecutive business days of Workday-shaped data: one ``Scenario`` per day, one supplier master.

``Timeline.generate(seed, scale, first_day, days)`` builds ``days`` consecutive days. The first is
exactly ``Scenario.generate(seed, scale, first_day)``; each later one is generated with a
``DayStream`` (see ``mlc_dagster.sandbox.scenario``):

* its transactional data (invoices and their history, purchase orders, payments, journals) comes
  from random streams tagged with the day, so no day is a copy of another;
* its business IDs lie in their own range: SI-, PO-, PAY- and JE- numbers are offset by
  ``day index x id_stride`` (``id_stride`` a power of ten above the most records one day can have
  at this scale, so day 2 of a scale-10 timeline has SI-100001 ...), the suppliers' own invoice
  numbers (INV-) by ``day index x 10,000,000``; WIDs follow the numbers, so they are unique too;
* its reference data are the first day's objects: the same suppliers, cost centers, account set
  ACME_COA and enumerations, with the same IDs and WIDs. Reference records change on the first day
  only (a few suppliers deactivated or renamed, a cost center closed, a ledger account opened);
* no invoice of a later day shares supplier, amount and invoice date with an earlier day's unless
  planted (they are nudged apart), so every day's ``ground_truth`` stays exact for that day.

``WorkdaySandbox(timeline)`` serves it: a request's updated window is answered by the day(s) it
covers (see ``Timeline.covering``).
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from mlc_dagster.sandbox.scenario import (
    DEFAULT_DAY,
    INVOICE_NUMBER_SPAN,
    DayStream,
    GroundTruth,
    Scenario,
)

__all__ = ["TRANSACTIONAL_COLLECTIONS", "Timeline", "id_stride"]

# Collections whose records belong to one day; the others are shared by every day.
TRANSACTIONAL_COLLECTIONS = ("supplier_invoices", "purchase_orders", "payments", "journals")

_DAY = timedelta(days=1)


def id_stride(scale: float) -> int:
    """A power of ten (at least 100,000) above the number of SI/PO/PAY/JE records one day can hold.

    The bound is the day's invoices plus the largest possible invoice history (1 to 3 invoices per
    settled group, plus the overdue and open ones); purchase orders, payments and journals are
    always fewer than that.
    """
    invoices = max(30, round(5000 * scale))
    history = (
        3 * max(2, round(360 * scale))
        + max(2, round(12 * scale))
        + max(1, round(4 * scale))
        + max(2, round(110 * scale))
    )
    bound = invoices + history + 1
    return max(100_000, 10 ** math.ceil(math.log10(bound)))


@dataclass(frozen=True)
class Timeline:
    """``len(days)`` consecutive business days; ``days[i]`` is the ``Scenario`` of ``first_day + i``."""

    seed: int
    scale: float
    first_day: date
    days: list[Scenario]
    id_stride: int

    @classmethod
    def generate(
        cls, seed: int = 7, scale: float = 1.0, first_day: date = DEFAULT_DAY, days: int = 3
    ) -> Timeline:
        if days < 1:
            raise ValueError(f"a timeline needs at least one day, got {days}")
        # As in Scenario.generate: the cyclic collector would otherwise walk the earlier days' millions
        # of acyclic objects again and again while the later days are built (a quarter of the time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            return cls._generate(seed, scale, first_day, days)
        finally:
            if collecting:
                gc.enable()

    @classmethod
    def _generate(cls, seed: int, scale: float, first_day: date, days: int) -> Timeline:
        stride = id_stride(scale)
        first = Scenario.generate(seed, scale, first_day)
        generated = [first]
        taken: dict[tuple[str, Decimal, date], str] = {}
        _take(taken, first)
        for index in range(1, days):
            stream = DayStream(
                name=f"day{index + 1}",
                number_base=index * stride,
                invoice_number_base=index * INVOICE_NUMBER_SPAN,
                reference=first,
                taken=dict(taken),
            )
            scenario = Scenario.generate(seed, scale, first_day + timedelta(days=index), stream)
            generated.append(scenario)
            _take(taken, scenario)
        timeline = cls(seed=seed, scale=scale, first_day=first_day, days=generated, id_stride=stride)
        timeline.check_disjoint()
        return timeline

    # -- time

    @property
    def last_day(self) -> date:
        return self.days[-1].day

    @property
    def start(self) -> datetime:
        """00:00 UTC of the first day."""
        return self.days[0].day_start

    @property
    def end(self) -> datetime:
        """00:00 UTC after the last day (exclusive): the timeline is [start, end)."""
        return self.days[-1].day_start + _DAY

    @property
    def dates(self) -> list[date]:
        return [scenario.day for scenario in self.days]

    def scenario_on(self, day: date) -> Scenario:
        index = (day - self.first_day).days
        if not 0 <= index < len(self.days):
            raise KeyError(f"{day} is not in the timeline {self.first_day}..{self.last_day}")
        return self.days[index]

    def scenario_for(self, moment: datetime) -> Scenario:
        """The day containing ``moment`` (UTC); ValueError outside [start, end)."""
        moment = moment.astimezone(UTC)
        if not self.start <= moment < self.end:
            raise ValueError(f"{moment.isoformat()} is outside the timeline [{self.start}, {self.end})")
        return self.days[(moment.date() - self.first_day).days]

    def covering(self, start: datetime | None, end: datetime | None) -> list[Scenario]:
        """The days an updated window [start, end] (both inclusive; None: open) covers, in order.

        A window ending exactly at midnight does not cover the day that starts then (an hourly
        window 23:00-00:00 or a daily window 00:00-00:00 is its first day's), unless the window is
        that very instant. A window entirely outside the timeline covers nothing.
        """
        low = start.astimezone(UTC) if start is not None else None
        high = end.astimezone(UTC) if end is not None else None
        found = []
        for scenario in self.days:
            day_start, next_start = scenario.day_start, scenario.day_start + _DAY
            if low is not None and next_start <= low:
                continue
            if high is not None and (day_start > high or (day_start == high and (low is None or low < high))):
                continue
            found.append(scenario)
        return found

    # -- answers

    @property
    def ground_truth(self) -> dict[date, GroundTruth]:
        """Each day's ``Scenario.ground_truth``: what a detector polling that day must find."""
        return {scenario.day: scenario.ground_truth for scenario in self.days}

    def check_disjoint(self) -> None:
        """Raise if two days share a business ID, a WID or a supplier's invoice number."""
        for name in TRANSACTIONAL_COLLECTIONS:
            seen_ids: set[str] = set()
            seen_wids: set[str] = set()
            for scenario in self.days:
                records = scenario.collection(name)
                wids = {record.wid for record in records.values()}
                if seen_ids & records.keys() or seen_wids & wids:
                    clash = sorted((seen_ids & records.keys()) or (seen_wids & wids))[:3]
                    raise RuntimeError(f"{name}: {scenario.day} repeats IDs of an earlier day: {clash}")
                seen_ids |= records.keys()
                seen_wids |= wids
        seen_numbers: set[str] = set()
        for scenario in self.days:
            numbers = {v.invoice_number for invoice in scenario.supplier_invoices.values() for v in invoice.versions}
            # Planted same-number duplicates repeat a number within their own day, never across days.
            if seen_numbers & numbers:
                raise RuntimeError(f"{scenario.day} repeats invoice numbers: {sorted(seen_numbers & numbers)[:3]}")
            seen_numbers |= numbers


def _take(taken: dict[tuple[str, Decimal, date], str], scenario: Scenario) -> None:
    for invoice_id, invoice in scenario.supplier_invoices.items():
        v = invoice.latest
        taken.setdefault((v.supplier_id, v.control_amount_total, v.invoice_date), invoice_id)
