"""A partitioned materialization with the Dagster instance in PostgreSQL, read back from that storage."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox

from .pipeline import defs_with, high_value_window, poll, resources


def test_run_and_its_metadata_are_stored_in_postgres(postgres_url: str, workday: WorkdaySandbox,
                                                     scenario: Scenario, tmp_path: Path,
                                                     subscriptions_file: Path) -> None:
    overrides = {"storage": {"postgres": {"postgres_url": postgres_url}}}
    defs = defs_with(resources(workday, None, tmp_path / "mlc.duckdb", subscriptions_file))
    key, planted = high_value_window(scenario)
    with dg.instance_for_test(overrides=overrides) as instance:
        assert "Postgres" in type(instance.run_storage).__name__
        run_id = poll(defs, instance, key).run_id

    # A new instance on the same database sees the run, its partition and its metadata.
    with dg.instance_for_test(overrides=overrides) as reopened:
        run = reopened.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == key
        records = reopened.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(["workday", "supplier_invoices"])), limit=10).records
        assert [r.partition_key for r in records] == [key]
        stored = records[0].asset_materialization
        assert stored is not None
        assert stored.metadata["records"].value > 0
        assert stored.metadata["api_calls"].value >= 1
        assert stored.metadata["window_start"].value == key[:10] + "T" + key[11:] + "Z"
        alerts = reopened.fetch_materializations(dg.AssetKey(["alerts", "high_value_invoice"]), limit=1).records
        assert alerts[0].asset_materialization.metadata["new_alerts"].value == len(planted)
