"""The code location `mlc_dagster`: Workday entity assets, alert rules, Slack delivery."""

from __future__ import annotations

import dagster as dg

from .defs.alerts.assets import diff_assets, rule_assets
from .defs.analyst.snapshot import build_snapshot_sensor, publish_analyst_snapshot
from .defs.delivery.assets import DELIVERIES_KEY, alert_deliveries
from .defs.delivery.polling import build_polling_behind_sensor
from .defs.delivery.sensors import build_alerts_sensor
from .defs.resources import resources_from_env
from .defs.workday.assets import entity_assets
from .workday.entities import ENTITIES

TRANSACTIONAL_KEYS = [dg.AssetKey(["workday", e.name]) for e in ENTITIES.values() if e.cadence == "transactional"]
REFERENCE_KEYS = [dg.AssetKey(["workday", e.name]) for e in ENTITIES.values() if e.cadence == "reference"]

# The jobs the schedules and sensors launch run their steps in the run's own process: every step that
# writes DuckDB is in pool duckdb_write (one slot), so they run one at a time anyway, and a process per
# step (the multiprocess default) would add a Python start and a Dagster import, ~3 s, to each of a
# poll's 13 steps: most of the time from a window's end to its alert (bench/latency.py).
FAST = dg.in_process_executor

# One run per window polls every transactional entity and runs the rules that read them.
transactional_poll = dg.define_asset_job(
    "workday_transactional_poll",
    selection=dg.AssetSelection.assets(*TRANSACTIONAL_KEYS) | dg.AssetSelection.groups("diffs", "alerts"),
    description="Polls every transactional Workday entity for one window and detects its alerts.",
    executor_def=FAST,
)
slack_delivery = dg.define_asset_job(
    "slack_delivery",
    selection=dg.AssetSelection.assets(DELIVERIES_KEY),
    description="Delivers every pending alert to Slack. Safe to run by hand at any time; concurrent runs "
                "never post the same alert twice.",
    executor_def=FAST,
)
jobs: list[dg.UnresolvedAssetJobDefinition | dg.JobDefinition] = [transactional_poll, slack_delivery,
                                                                   publish_analyst_snapshot]
schedules = [
    dg.build_schedule_from_partitioned_job(
        transactional_poll,
        name="workday_transactional_schedule",
        description="At the end of each window, polls the window that just closed.",
    )
]
if REFERENCE_KEYS:
    reference_poll = dg.define_asset_job("workday_reference_poll", selection=dg.AssetSelection.assets(*REFERENCE_KEYS),
                                         executor_def=FAST)
    jobs.append(reference_poll)
    schedules.append(dg.build_schedule_from_partitioned_job(reference_poll, name="workday_reference_schedule",
                                                            hour_of_day=0, minute_of_hour=15))

defs = dg.Definitions(
    assets=[*entity_assets, *diff_assets, *rule_assets, alert_deliveries],
    jobs=jobs,
    schedules=schedules,
    sensors=[build_alerts_sensor("slack_delivery"), build_polling_behind_sensor("slack_delivery"),
             build_snapshot_sensor([*(a.key for a in entity_assets), *(a.key for a in diff_assets),
                                    *(a.key for a in rule_assets), alert_deliveries.key])],
    resources=resources_from_env(),
)
