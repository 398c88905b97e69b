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


def seed_suppliers(resource_map: dict[str, Any], day_start: datetime) -> int:
    """Every supplier as of `day_start`, loaded as the previous day's window: the state issue 14's full
    load of reference data will leave. A tenant's suppliers were mostly last edited long before any
    window polled, and invoices that name no payment terms take their supplier's."""
    from mlc_dagster.workday.entities import SUPPLIERS, WholeCollection

    store = resource_map["warehouse"].warehouse()
    stage = store.stage(SUPPLIERS)
    start = day_start - timedelta(days=1)
    result = resource_map["workday"].client().fetch_window(SUPPLIERS, start, day_start, criteria=WholeCollection(),
                                                           as_of=day_start, sink=stage)
    stage.finish()
    with store.session():
        load = store.replace_window(SUPPLIERS, start, day_start, result.as_of, stage)
    stage.close()
    return load.records


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


def high_value_window(scenario: Scenario, profile: str = "v28") -> tuple[str, list[str]]:
    """The hourly partition with the most planted high-value invoices changed in it, and the planted
    invoices a poll of it alone alerts on: on v46 (the transaction log) those changed in it; on v28
    (invoice dates with a 7-day look-back) every planted invoice that exists by the window's end and is
    dated in its look-back. The last hour is left out: its poll also sweeps older invoices."""
    planted = scenario.ground_truth["high_value_invoice"]
    best: tuple[str, list[str], int] = ("", [], 0)
    for hour in range(23):
        start = scenario.day_start + timedelta(hours=hour)
        end = start + timedelta(hours=1)
        changed = [v.supplier_invoice_id for v in scenario.invoices_changed_between(start, end)
                   if v.supplier_invoice_id in planted]
        if profile == "v46":
            seen = changed
        else:
            versions = {i: scenario.supplier_invoices[i].as_of(end) for i in planted}
            seen = [i for i, v in versions.items()
                    if v is not None and v.invoice_date >= start.date() - timedelta(days=7)]
        if len(changed) > best[2]:
            best = (hour_key(start), sorted(seen), len(changed))
    return best[0], best[1]


def metadata(result: dg.ExecuteInProcessResult, key: list[str]) -> dict[str, Any]:
    events = result.asset_materializations_for_node(dg.AssetKey(key).to_python_identifier())
    return {k: getattr(v, "value", v) for k, v in events[-1].metadata.items()}


def stored_metadata(record: dg.EventLogRecord) -> dict[str, Any]:
    materialization = record.asset_materialization
    assert materialization is not None
    return {k: getattr(v, "value", v) for k, v in materialization.metadata.items()}
