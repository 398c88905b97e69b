"""Analysts read a published snapshot: held open for hours, it never blocks a poll, and a poll never
blocks it."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from mlc_dagster.sandbox.workday import WorkdaySandbox

from .pipeline import defs_with, poll, resources


def test_an_analyst_connection_held_through_a_backfill(workday: WorkdaySandbox, tmp_path: Path,
                                                       subscriptions_file: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    defs = defs_with(resources(workday, None, db, subscriptions_file))
    publish = defs.resolve_job_def("publish_analyst_snapshot")
    sensor = defs.resolve_sensor_def("analyst_snapshot")
    with dg.instance_for_test() as instance:
        poll(defs, instance, "2026-11-29-09:00")
        assert publish.execute_in_process(instance=instance).success
        snapshot = db.with_name("mlc.snapshot.duckdb")
        analyst = duckdb.connect(str(snapshot), read_only=True)
        first = analyst.execute("SELECT count(*) FROM analytics.supplier_invoices").fetchall()[0][0]
        assert first > 0

        # A backfill of three more windows runs while the analyst keeps the snapshot open...
        for hour in ("10", "11", "12"):
            poll(defs, instance, f"2026-11-29-{hour}:00")
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs))
        assert tick.run_requests, "new materializations ask for a new snapshot"
        assert publish.execute_in_process(instance=instance).success

        # ...the analyst's session still reads the snapshot it opened, consistently,
        assert analyst.execute("SELECT count(*) FROM analytics.supplier_invoices").fetchall()[0][0] == first
        analyst.close()
        # and a new session sees the backfill.
        with duckdb.connect(str(snapshot), read_only=True) as fresh:
            assert fresh.execute("SELECT count(*) FROM analytics.supplier_invoices").fetchall()[0][0] > first
        quiet = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs,
                                                             cursor=tick.cursor))
        assert not quiet.run_requests
