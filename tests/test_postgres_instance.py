"""A partitioned materialization with the Dagster instance in PostgreSQL, read back from that storage."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
import yaml

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox

from .pipeline import defs_with, high_value_window, poll, resources, stored_metadata

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def production_instance_home(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DAGSTER_HOME holding the project's own production dagster.yaml, its DAGSTER_PG_* pointed at the
    test database (or, for a socket-only embedded server, its storage given as a URL)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    parts = urlsplit(postgres_url)
    if parts.hostname:
        for name, value in (("HOST", parts.hostname), ("PORT", str(parts.port or 5432)),
                            ("DB", parts.path.lstrip("/")), ("USERNAME", parts.username or "postgres"),
                            ("PASSWORD", parts.password or "")):
            monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    else:
        config["storage"] = {"postgres": {"postgres_url": postgres_url}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def test_run_and_its_metadata_are_stored_in_postgres(production_instance_home: Path, workday: WorkdaySandbox,
                                                     scenario: Scenario, tmp_path: Path,
                                                     subscriptions_file: Path) -> None:
    defs = defs_with(resources(workday, None, tmp_path / "mlc.duckdb", subscriptions_file))
    key, planted = high_value_window(scenario)
    with dg.DagsterInstance.from_config(str(production_instance_home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.run_monitoring_enabled
        run_id = poll(defs, instance, key).run_id

    # A new instance on the same database sees the run, its partition and its metadata.
    with dg.DagsterInstance.from_config(str(production_instance_home)) as reopened:
        run = reopened.get_run_by_id(run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        assert run.tags["dagster/partition"] == key
        records = reopened.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(["workday", "supplier_invoices"])), limit=10).records
        assert [r.partition_key for r in records] == [key]
        stored = stored_metadata(records[0])
        assert stored["records"] > 0
        assert stored["api_calls"] >= 1
        assert stored["window_start"] == key[:10] + "T" + key[11:] + "Z"
        alerts = reopened.fetch_materializations(dg.AssetKey(["alerts", "high_value_invoice"]), limit=1).records
        assert stored_metadata(alerts[0])["new_alerts"] == len(planted)
