"""Detection against the scenario's ground truth: every planted anomaly found, nothing else flagged.

A whole business day goes through Dagster as an operator would run it: the day's reference data,
then one ranged run over the 24 hourly windows of the transactional entities, diffs and rules."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox

from .conftest import DAY
from .pipeline import defs_with, resources

SUBSCRIPTIONS = """
subscriptions:
  - rule: high_value_invoice
    channel: "#finance-alerts"
    min_amount: 100000
  - rule: overdue_payment
    channel: "#ap-overdue"
    min_days_overdue: 1
  - rule: payment_run
    channel: "#approvals"
  - rule: gl_discrepancy
    channel: "#reconciliation"
  - rule: duplicate_invoice
    channel: "#ap-control"
  - rule: invoice_status_change
    channel: "#ap-control"
"""


@dataclass
class Day:
    scenario: Scenario
    path: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance

    def alerts(self, rule: str) -> list[tuple[str, str, dict[str, Any]]]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            rows = con.execute("SELECT alert_id, entity_id, details FROM alerts.alerts WHERE rule = ? "
                               "ORDER BY alert_id", [rule]).fetchall()
        return [(a, e, json.loads(d)) for a, e, d in rows]


def run_day(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    reference = defs.resolve_job_def("workday_reference_poll")
    assert reference.execute_in_process(instance=instance, partition_key=DAY.isoformat()).success
    transactional = defs.resolve_job_def("workday_transactional_poll")
    result = transactional.execute_in_process(instance=instance, tags={
        "dagster/asset_partition_range_start": f"{DAY}-00:00",
        "dagster/asset_partition_range_end": f"{DAY}-23:00",
    })
    assert result.success


@pytest.fixture(scope="module", params=[1.0, 10.0], ids=["scale1", "scale10"])
def day(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Day]:
    scenario = Scenario.generate(seed=5, scale=request.param, day=DAY)
    folder = tmp_path_factory.mktemp("detect")
    subs = folder / "subscriptions.yaml"
    subs.write_text(SUBSCRIPTIONS)
    with WorkdaySandbox(scenario) as workday, dg.instance_for_test() as instance:
        defs = defs_with(resources(workday, None, folder / "mlc.duckdb", subs))
        run_day(defs, instance)
        yield Day(scenario, folder / "mlc.duckdb", defs, instance)


def test_high_value_invoices(day: Day) -> None:
    found = {entity for _, entity, _ in day.alerts("high_value_invoice")}
    assert found == set(day.scenario.ground_truth["high_value_invoice"])


def test_overdue_invoices(day: Day) -> None:
    alerts = day.alerts("overdue_payment")
    truth = day.scenario.ground_truth["overdue_invoice"]
    assert {entity for _, entity, _ in alerts} == set(truth)
    assert len(alerts) == len(truth), "one alert per overdue invoice"
    for _, entity, details in alerts:
        assert details["days_overdue"] <= truth[entity]


def test_gl_discrepancies(day: Day) -> None:
    truth = day.scenario.ground_truth
    expected = {(j, "unbalanced") for j in truth["unbalanced_journal"]}
    expected |= {(j, "header_mismatch") for j in truth["journal_header_mismatch"]}
    expected |= {(j, "retired_account") for j in truth["retired_account_posting"]}
    expected |= {(j, "intercompany") for j in truth["intercompany_mismatch"]}
    found = {(entity, details["check"]) for _, entity, details in day.alerts("gl_discrepancy")}
    assert found == expected


def test_duplicate_invoices(day: Day) -> None:
    found = {(entity, details["duplicate_of"]) for _, entity, details in day.alerts("duplicate_invoice")}
    assert found == {tuple(pair) for pair in day.scenario.ground_truth["duplicate_invoice"]}


def test_payment_runs(day: Day) -> None:
    truth = day.scenario.ground_truth["payment_runs"]
    alerts = day.alerts("payment_run")
    assert {entity for _, entity, _ in alerts} == set(truth)
    for _, run, details in alerts:
        assert details["payments"] == truth[run]["payments"]
        totals = {(t["company_id"], t["currency"]): Decimal(t["total"]) for t in details["totals"]}
        assert totals == truth[run]["totals"]


def test_status_changes_follow_the_snapshots(day: Day) -> None:
    """Approved / put on hold, between consecutive polled snapshots (the state at each window's end)."""
    scenario = day.scenario
    expected: set[tuple[str, str]] = set()
    previous: dict[str, Any] = {}
    for hour in range(24):
        start = scenario.day_start + timedelta(hours=hour)
        for version in scenario.changed_between("supplier_invoices", start, start + timedelta(hours=1)):
            before = previous.get(version.wid)
            if before is not None:
                if version.document_status_id == "APPROVED" and before.document_status_id != "APPROVED":
                    expected.add((version.supplier_invoice_id, "approved"))
                if version.on_hold and not before.on_hold:
                    expected.add((version.supplier_invoice_id, "put on hold"))
            previous[version.wid] = version
    found = {(entity, details["change"]) for _, entity, details in day.alerts("invoice_status_change")}
    assert expected and found == expected


def test_replaying_the_day_gives_identical_alert_ids(day: Day) -> None:
    with duckdb.connect(str(day.path), read_only=True) as con:
        before = con.execute("SELECT alert_id FROM alerts.alerts ORDER BY 1").fetchall()
        deliveries = con.execute("SELECT count(*) FROM alerts.deliveries").fetchall()
    run_day(day.defs, day.instance)
    with duckdb.connect(str(day.path), read_only=True) as con:
        assert con.execute("SELECT alert_id FROM alerts.alerts ORDER BY 1").fetchall() == before
        assert con.execute("SELECT count(*) FROM alerts.deliveries").fetchall() == deliveries


def test_journals_balance_check_fails_on_the_planted_windows(day: Day) -> None:
    key = dg.AssetKey(["workday", "journal_entries"])
    evaluations = day.instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(key, "journals_balance"), limit=10)
    assert evaluations, "the check ran with the poll"
    latest = evaluations[0].event
    assert latest is not None and latest.dagster_event is not None
    result = latest.dagster_event.event_specific_data
    assert isinstance(result, dg.AssetCheckEvaluation)
    unbalanced = set(day.scenario.ground_truth["unbalanced_journal"])
    assert result.passed is False
    rows: Any = result.metadata["first_failures"].value
    failing = {row[0] for row in rows}
    assert failing <= unbalanced and failing
