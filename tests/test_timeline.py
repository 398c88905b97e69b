"""Multi-day sandbox data: a Timeline of consecutive business days, served by the Workday sandbox."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from mlc_dagster.sandbox.scenario import COLLECTIONS, DEFAULT_DAY, Scenario, generate_scenario
from mlc_dagster.sandbox.timeline import TRANSACTIONAL_COLLECTIONS, Timeline
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.workday.entities import JOURNAL_ENTRIES, PAYMENTS, SUPPLIER_INVOICES, SUPPLIERS
from mlc_dagster.workday.soap import RetryPolicy, WorkdaySoapClient

FIRST = date(2026, 11, 26)


@pytest.fixture(scope="module")
def timeline() -> Timeline:
    return Timeline.generate(seed=5, scale=0.1, first_day=FIRST, days=3)


def fingerprint(scenario: Scenario) -> str:
    digest = hashlib.sha256()
    for name in COLLECTIONS:
        for key, record in scenario.collection(name).items():
            digest.update(repr((key, record.versions)).encode())
    for extra in ("currencies", "companies", "spend_categories", "settlement_runs", "ground_truth"):
        digest.update(repr(getattr(scenario, extra)).encode())
    return digest.hexdigest()


def client_for(sandbox: WorkdaySandbox, page_size: int = 999) -> WorkdaySoapClient:
    return WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, page_size=page_size,
                             retry=RetryPolicy(attempts=3, initial_seconds=0.01, max_seconds=0.05),
                             timeout=(5.0, 10.0))


def busiest_hour(scenario: Scenario, collection: str = "supplier_invoices") -> tuple[datetime, datetime]:
    def changed(hour: int) -> int:
        start = scenario.day_start + timedelta(hours=hour)
        return len(scenario.changed_between(collection, start, start + timedelta(hours=1)))

    hour = max(range(24), key=changed)
    start = scenario.day_start + timedelta(hours=hour)
    return start, start + timedelta(hours=1)


def test_default_scenario_is_unchanged_by_the_stream_parameter() -> None:
    plain = Scenario.generate(7, 1)
    assert fingerprint(plain) == fingerprint(generate_scenario(7, 1, DEFAULT_DAY, stream=None))
    # The first day of a timeline is the stand-alone day itself: existing expectations hold for it.
    first = Timeline.generate(seed=7, scale=1, first_day=DEFAULT_DAY, days=1).days[0]
    assert fingerprint(first) == fingerprint(plain)


def test_every_day_has_its_own_transactional_data_and_ids(timeline: Timeline) -> None:
    assert [s.day for s in timeline.days] == [FIRST + timedelta(days=i) for i in range(3)]
    for name in TRANSACTIONAL_COLLECTIONS:
        per_day = [timeline.days[i].collection(name) for i in range(3)]
        assert all(per_day), name
        ids = Counter(key for records in per_day for key in records)
        wids = Counter(record.wid for records in per_day for record in records.values())
        assert max(ids.values()) == 1, f"{name}: an ID repeats across days"
        assert max(wids.values()) == 1, f"{name}: a WID repeats across days"
    numbers = [{v.invoice_number for inv in s.supplier_invoices.values() for v in inv.versions}
               for s in timeline.days]
    assert not (numbers[0] & numbers[1]) and not (numbers[1] & numbers[2]) and not (numbers[0] & numbers[2])
    # Different data, not a renumbered copy: amounts and suppliers of the days' own invoices differ.
    own = [sorted((v.latest.supplier_id, v.latest.control_amount_total) for v in s.supplier_invoices.values()
                  if v.created_at >= s.day_start) for s in timeline.days]
    assert own[0] != own[1] and own[1] != own[2]
    # Every version of a day's own records is entered during that day.
    for scenario in timeline.days:
        for name in ("payments", "journals"):
            for record in scenario.collection(name).values():
                assert all(scenario.day_start <= t <= scenario.day_end for t in record.entry_times)


def test_no_duplicate_spans_two_days(timeline: Timeline) -> None:
    """The duplicate rule joins on supplier + invoice number, or supplier + amount + date: across days
    nothing may match that was not planted (planted pairs are within one day)."""
    by_number: dict[tuple[str, str], set[date]] = {}
    by_amount: dict[tuple[str, object, date], set[date]] = {}
    for scenario in timeline.days:
        for invoice in scenario.supplier_invoices.values():
            v = invoice.latest
            by_number.setdefault((v.supplier_id, v.invoice_number), set()).add(scenario.day)
            by_amount.setdefault((v.supplier_id, v.control_amount_total, v.invoice_date), set()).add(scenario.day)
    assert all(len(days) == 1 for days in by_number.values())
    assert all(len(days) == 1 for days in by_amount.values())
    truth = timeline.ground_truth
    assert set(truth) == set(timeline.dates)
    assert all(truth[d]["duplicate_invoice"] for d in truth)


def test_reference_data_is_one_master_for_every_day(timeline: Timeline) -> None:
    first = timeline.days[0]
    for scenario in timeline.days[1:]:
        assert {k: v.wid for k, v in scenario.suppliers.items()} == {k: v.wid for k, v in first.suppliers.items()}
        assert {k: v.wid for k, v in scenario.cost_centers.items()} == \
            {k: v.wid for k, v in first.cost_centers.items()}
        assert scenario.account_set.wid == first.account_set.wid
        assert scenario.account_set.latest.ledger_accounts == first.account_set.latest.ledger_accounts
        # Every invoice of every day references that one supplier master.
        assert {v.latest.supplier_id for v in scenario.supplier_invoices.values()} <= set(first.suppliers)
        inactive = {sid for sid, s in first.suppliers.items() if s.status != "ACTIVE"}
        assert not {v.latest.supplier_id for v in scenario.supplier_invoices.values()
                    if v.created_at >= scenario.day_start} & inactive


def test_scenario_for_and_covering(timeline: Timeline) -> None:
    day2 = timeline.days[1]
    assert timeline.start == datetime(2026, 11, 26, tzinfo=UTC)
    assert timeline.end == datetime(2026, 11, 29, tzinfo=UTC)
    assert timeline.scenario_for(day2.day_start + timedelta(hours=13)) is day2
    assert timeline.scenario_for(day2.day_start) is day2
    with pytest.raises(ValueError):
        timeline.scenario_for(timeline.end)
    hour = timedelta(hours=1)
    assert timeline.covering(day2.day_start - hour, day2.day_start) == [timeline.days[0]]
    assert timeline.covering(day2.day_start, day2.day_start + hour) == [day2]
    assert timeline.covering(day2.day_start, day2.day_start + timedelta(days=1)) == [day2]
    assert timeline.covering(timeline.start, timeline.end) == timeline.days
    assert timeline.covering(timeline.end, timeline.end + hour) == []
    assert timeline.covering(timeline.start - timedelta(days=2), timeline.start) == []


def test_sandbox_answers_a_window_on_day_two_with_day_two_records(timeline: Timeline) -> None:
    day1, day2 = timeline.days[0], timeline.days[1]
    start, end = busiest_hour(day2)
    expected = day2.invoices_changed_between(start, end)
    assert expected
    with WorkdaySandbox(timeline, profile="v46") as sandbox:  # the transaction log: exactly what changed
        client = client_for(sandbox, page_size=7)  # several pages
        result = client.fetch_window(SUPPLIER_INVOICES, start, end)
        got = [row["invoice_id"] for row in result.rows.rows()]
        assert sorted(got) == sorted(v.supplier_invoice_id for v in expected)
        assert set(got).isdisjoint(day1.supplier_invoices)
        assert result.stats.pages == -(-len(expected) // 7)
        amounts = {row["invoice_id"]: row["amount"] for row in result.rows.rows()}
        for v in expected:
            assert amounts[v.supplier_invoice_id] == format(v.control_amount_total, "f")

        # The same hour a day earlier is day 1's.
        earlier = client.fetch_window(SUPPLIER_INVOICES, start - timedelta(days=1), end - timedelta(days=1))
        assert sorted(row["invoice_id"] for row in earlier.rows.rows()) == sorted(
            v.supplier_invoice_id for v in day1.invoices_changed_between(start - timedelta(days=1),
                                                                         end - timedelta(days=1)))

        # As_Of_Entry_DateTime still pins the window: half-way through, only what was entered by then.
        middle = start + timedelta(minutes=30)
        pinned = client.fetch_window(SUPPLIER_INVOICES, start, end, as_of=middle)
        assert sorted(row["invoice_id"] for row in pinned.rows.rows()) == sorted(
            v.supplier_invoice_id for v in day2.invoices_changed_between(start, end, as_of=middle))

        # Payments and journals of day 2 too.
        pay_start, pay_end = busiest_hour(day2, "payments")
        payments = client.fetch_window(PAYMENTS, pay_start, pay_end)
        assert sorted(row["payment_id"] for row in payments.rows.rows()) == sorted(
            v.payment_id for v in day2.changed_between("payments", pay_start, pay_end))

        # A window outside the timeline: a valid, empty answer.
        outside = client.fetch_window(SUPPLIER_INVOICES, timeline.end + timedelta(hours=9),
                                      timeline.end + timedelta(hours=10))
        assert outside.records == 0

        # A window longer than a day: each day's answer, reference records once.
        both = client.fetch_window(JOURNAL_ENTRIES, day1.day_start, day2.day_end)
        expected_journals = [v.journal_entry_id for s in (day1, day2)
                             for v in s.changed_between("journals", day1.day_start, day2.day_end)]
        assert [row["journal_id"] for row in both.rows.rows()] == expected_journals
        suppliers = client.fetch_window(SUPPLIERS, timeline.start, timeline.end)
        supplier_ids = [row["supplier_id"] for row in suppliers.rows.rows()]
        assert len(supplier_ids) == len(set(supplier_ids)) > 0
        # The daily reference window of day 2: the supplier master did not change that day.
        assert client.fetch_window(SUPPLIERS, day2.day_start, day2.day_start + timedelta(days=1)).records == 0
        assert sandbox.faults_served == Counter()
