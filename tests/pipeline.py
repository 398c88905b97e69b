"""Helpers for driving the Dagster wiring against the sandboxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from mlc_dagster.defs.resources import (
    SlackBotResource,
    SubscriptionsResource,
    WarehouseResource,
    WorkdayResource,
)
from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox


def resources(workday: WorkdaySandbox, slack: SlackSandbox | None, duckdb_path: Path,
              subscriptions: Path) -> dict[str, Any]:
    found: dict[str, Any] = {
        "workday": WorkdayResource(soap_url=workday.soap_url, username=workday.username,
                                   password=workday.password, tenant=workday.tenant,
                                   retry_attempts=3, retry_initial_seconds=0.01,
                                   routes_path=str(duckdb_path.with_name("workday-routes.json"))),
        "warehouse": WarehouseResource(path=str(duckdb_path)),
        "subscriptions": SubscriptionsResource(path=str(subscriptions)),
    }
    # Without a Slack sandbox, delivery points at a closed loopback port: never reached by these tests.
    found["slack"] = SlackBotResource(bot_token=slack.bot_token, api_url=slack.api_url) if slack else \
        SlackBotResource(bot_token="xoxb-unused", api_url="http://127.0.0.1:9/api/")
    return found


def defs_with(resource_map: dict[str, Any]) -> dg.Definitions:
    from mlc_dagster import definitions

    return dg.Definitions(
        assets=definitions.defs.assets,
        jobs=definitions.defs.jobs,
        schedules=definitions.defs.schedules,
        sensors=definitions.defs.sensors,
        resources=resource_map,
    )


def poll(defs: dg.Definitions, instance: dg.DagsterInstance, partition_key: str,
         raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("workday_transactional_poll")
    return job.execute_in_process(instance=instance, partition_key=partition_key, raise_on_error=raise_on_error)


def deliver_via_sensor(defs: dg.Definitions, instance: dg.DagsterInstance,
                       cursor: str | None = None) -> tuple[list[dg.ExecuteInProcessResult], str | None]:
    sensor = defs.resolve_sensor_def("alerts_to_slack")
    tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=defs, cursor=cursor))
    runs = [defs.resolve_job_def("slack_delivery").execute_in_process(instance=instance, tags=dict(r.tags))
            for r in tick.run_requests or []]
    return runs, tick.cursor


def hour_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def high_value_window(scenario: Scenario) -> tuple[str, list[str]]:
    """The hourly partition with the most planted high-value invoices changed in it, and those ids."""
    planted = scenario.ground_truth["high_value_invoice"]
    best: tuple[str, list[str]] = ("", [])
    for hour in range(24):
        start = scenario.day_start + timedelta(hours=hour)
        changed = scenario.invoices_changed_between(start, start + timedelta(hours=1))
        ids = sorted(v.supplier_invoice_id for v in changed if v.supplier_invoice_id in planted)
        if len(ids) > len(best[1]):
            best = (hour_key(start), ids)
    return best


def metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict[str, Any]:
    events = result.asset_materializations_for_node(dg.AssetKey(key).to_python_identifier())
    return {k: getattr(v, "value", v) for k, v in events[-1].metadata.items()}


def stored_metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    materialization = record.asset_materialization
    assert materialization is not None
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
