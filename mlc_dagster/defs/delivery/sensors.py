"""The sensor that launches `slack_delivery` when alerts land.

A plain @sensor with a storage-id cursor, not @asset_sensor: the latter sees only the newest
materialization per tick and would let windows slip through during a backfill. One run delivers every
pending alert, so several new materializations coalesce into one run.
"""


import dagster as dg

from ...alerts import RULES

ALERT_KEYS = [dg.AssetKey(["alerts", name]) for name in RULES]


def build_alerts_sensor(job_name: str) -> dg.SensorDefinition:
    @dg.sensor(
        name="alerts_to_slack",
        job_name=job_name,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Launches slack_delivery whenever any alerts/* asset is materialized (every window, "
                    "backfills included); the cursor is the newest materialization's storage id.",
    )
    def alerts_to_slack(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = int(context.cursor) if context.cursor else 0
        newest = cursor
        seen = 0
        for key in ALERT_KEYS:
            after = cursor
            while True:
                page = context.instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1000, ascending=True
                )
                for record in page.records:
                    after = max(after, record.storage_id)
                    seen += 1
                newest = max(newest, after)
                if not page.has_more:
                    break
        if newest == cursor:
            return dg.SkipReason("no new alert materializations")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=f"alerts-through-{newest}",
                                        tags={"mlc/trigger": "alerts", "mlc/alert_materializations": str(seen)})],
            cursor=str(newest),
        )

    return alerts_to_slack
