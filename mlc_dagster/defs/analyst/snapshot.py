"""The analyst snapshot: a read-only copy of the warehouse, republished after new materializations."""

import time

import dagster as dg

from ..resources import WarehouseResource

WAREHOUSE_GROUPS = ("workday", "diffs", "alerts", "slack")


@dg.op(description="Copies the warehouse and swaps the copy in as the analyst snapshot (atomic rename).",
       out=dg.Out(dg.Nothing))
def publish_snapshot(context: dg.OpExecutionContext, warehouse: WarehouseResource) -> None:
    store = warehouse.warehouse()
    started = time.monotonic()
    path = store.publish_snapshot()
    seconds = time.monotonic() - started
    context.log.info(f"analyst snapshot published at {path} in {seconds:.2f}s")
    context.add_output_metadata({"path": str(path), "bytes": path.stat().st_size, "seconds": round(seconds, 3)})


@dg.job(description="Publishes the DuckDB snapshot analysts read (MLC_DUCKDB_PATH with .snapshot.duckdb).",
        tags={"dagster/concurrency_key": "analyst_snapshot"})
def publish_analyst_snapshot() -> None:
    publish_snapshot()


def build_snapshot_sensor(asset_keys: list[dg.AssetKey]) -> dg.SensorDefinition:
    @dg.sensor(
        name="analyst_snapshot",
        job=publish_analyst_snapshot,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Republishes the analyst snapshot at most once a minute, when any warehouse asset has "
                    "materialized since the last snapshot.",
    )
    def analyst_snapshot(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = int(context.cursor) if context.cursor else 0
        newest = cursor
        for key in asset_keys:
            records = context.instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, after_storage_id=cursor), limit=1, ascending=False).records
            if records:
                newest = max(newest, records[0].storage_id)
        if newest == cursor:
            return dg.SkipReason("nothing new since the last snapshot")
        return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"snapshot-{newest}")], cursor=str(newest))

    return analyst_snapshot
