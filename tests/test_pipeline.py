"""The slice end to end through Dagster: Workday sandbox -> DuckDB -> rule -> outbox -> Slack sandbox."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pytest

from mlc_dagster.alerts import RULES
from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox

from .pipeline import defs_with, deliver_via_sensor, high_value_window, metadata, poll, resources


def raw_rows(path: Path) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        invoices = con.execute("SELECT * FROM raw.supplier_invoices ORDER BY window_start, wid").fetchall()
        lines = con.execute(
            "SELECT * FROM raw.supplier_invoice_lines ORDER BY window_start, parent_wid, line_id").fetchall()
    return invoices, lines


def test_rerunning_a_partition_leaves_identical_rows(workday: WorkdaySandbox, scenario: Scenario,
                                                     tmp_path: Path, subscriptions_file: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    defs = defs_with(resources(workday, None, db, subscriptions_file))
    key, _ = high_value_window(scenario)
    with dg.instance_for_test() as instance:
        first = poll(defs, instance, key)
        once = raw_rows(db)
        second = poll(defs, instance, key)
        twice = raw_rows(db)
    assert once == twice
    polled = metadata(second, ["workday", "supplier_invoices"])
    assert polled["records"] == len(once[0]) > 0
    assert polled["window_start"] == key[:10] + "T" + key[11:] + "Z"
    assert metadata(first, ["workday", "supplier_invoices"])["records"] == polled["records"]


def test_a_failed_window_keeps_its_previous_rows(workday: WorkdaySandbox, scenario: Scenario,
                                                 tmp_path: Path, subscriptions_file: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    defs = defs_with(resources(workday, None, db, subscriptions_file))
    key, _ = high_value_window(scenario)
    with dg.instance_for_test() as instance:
        poll(defs, instance, key)
        before = raw_rows(db)
        workday.inject("Get_Supplier_Invoices", "processing", times=5)
        failed = poll(defs, instance, key, raise_on_error=False)
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "Get_Supplier_Invoices" in str(failure.step_failure_data.error)
    assert raw_rows(db) == before


def test_high_value_alert_reaches_slack_once_despite_a_429(workday: WorkdaySandbox, slack: SlackSandbox,
                                                           scenario: Scenario, tmp_path: Path,
                                                           subscriptions_file: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    defs = defs_with(resources(workday, slack, db, subscriptions_file))
    key, planted = high_value_window(scenario)
    slack.inject("chat.postMessage", status=429, retry_after=1)
    with dg.instance_for_test() as instance:
        polled = poll(defs, instance, key)
        assert metadata(polled, ["alerts", "high_value_invoice"])["new_deliveries"] == len(planted)
        runs, cursor = deliver_via_sensor(defs, instance)
        assert len(runs) == 1
        sent = metadata(runs[0], ["slack", "alert_deliveries"])
        assert sent["messages_posted"] == len(planted)
        assert sent["rate_limited"] >= 1
        # A replay of the window, another sensor tick and a manual delivery post nothing new.
        poll(defs, instance, key)
        again, _ = deliver_via_sensor(defs, instance, cursor)
        assert [metadata(r, ["slack", "alert_deliveries"])["messages_posted"] for r in again] == [0]

    messages = slack.messages("#finance-alerts")
    posted_ids = [m["metadata"]["event_payload"]["alert_id"] for m in messages]
    assert len(posted_ids) == len(set(posted_ids)) == len(planted)
    texts = " ".join(m["text"] for m in messages)
    for invoice_id in planted:
        assert invoice_id in str([m["blocks"] for m in messages])
        number = scenario.supplier_invoices[invoice_id].versions[0].invoice_number
        assert number in texts
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = con.execute("SELECT status, count(*) FROM analytics.alerts GROUP BY 1").fetchall()
    assert statuses == [("sent", len(planted))]


def test_sensor_sees_every_window_of_a_backfill(workday: WorkdaySandbox, scenario: Scenario,
                                                tmp_path: Path, subscriptions_file: Path) -> None:
    defs = defs_with(resources(workday, None, tmp_path / "mlc.duckdb", subscriptions_file))
    sensor = defs.resolve_sensor_def("alerts_to_slack")
    with dg.instance_for_test() as instance:
        for hour in ("09", "10", "11"):
            poll(defs, instance, f"2026-11-29-{hour}:00")
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        assert tick.run_requests is not None and len(tick.run_requests) == 1
        # every rule's asset materialized for each of the 3 windows: all of them seen, one run requested
        assert tick.run_requests[0].tags["mlc/alert_materializations"] == str(3 * len(RULES))
        quiet = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs,
                                                             cursor=tick.cursor))
        assert not quiet.run_requests


@pytest.mark.parametrize("bad", ["not: [valid", "subscriptions:\n  - rule: high_value_invoice\n"])
def test_a_bad_subscriptions_file_fails_the_detection_clearly(workday: WorkdaySandbox, scenario: Scenario,
                                                              tmp_path: Path, bad: str) -> None:
    subs = tmp_path / "subscriptions.yaml"
    subs.write_text(bad)
    defs = defs_with(resources(workday, None, tmp_path / "mlc.duckdb", subs))
    with dg.instance_for_test() as instance:
        result = poll(defs, instance, high_value_window(scenario)[0], raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "subscriptions.yaml line" in str(failure.step_failure_data.error)
