"""The code location loads and shows what the UI must show."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_code_location_has_the_contract_assets_schedule_and_sensor() -> None:
    from mlc_dagster.definitions import defs

    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"workday/supplier_invoices", "alerts/high_value_invoice", "slack/alert_deliveries"} <= keys
    invoices = defs.resolve_assets_def(dg.AssetKey(["workday", "supplier_invoices"]))
    partitions = invoices.partitions_def
    assert isinstance(partitions, dg.TimeWindowPartitionsDefinition)
    assert partitions.timezone == "UTC"
    assert partitions.get_partition_keys()[0] == "2026-01-01-00:00"
    assert defs.resolve_job_def("slack_delivery") is not None
    schedule = defs.resolve_schedule_def("workday_transactional_schedule")
    assert schedule.cron_schedule == "0 * * * *"
    sensor = defs.resolve_sensor_def("alerts_to_slack")
    assert sensor.job_name == "slack_delivery"


def test_dagster_validates_the_workspace(tmp_path: Path) -> None:
    # An embedded instance: the repository's dagster.yaml is the PostgreSQL production one.
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mlc_dagster" in result.stdout + result.stderr


def test_window_length_is_configurable_and_checked(monkeypatch) -> None:
    from mlc_dagster.defs import partitions

    monkeypatch.setenv("MLC_WINDOW_MINUTES", "15")
    assert partitions.transactional_partitions().cron_schedule == "*/15 * * * *"
    for bad in ("7", "90", "abc"):
        monkeypatch.setenv("MLC_WINDOW_MINUTES", bad)
        try:
            partitions.transactional_partitions()
        except ValueError as exc:
            assert "MLC_WINDOW_MINUTES" in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")
