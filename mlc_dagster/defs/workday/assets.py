"""One partitioned asset per Workday entity, made by one factory from the entity registry."""


import dagster as dg

from ...workday.entities import ENTITIES, Entity
from ...workday.errors import WorkdayTransientError
from ..partitions import REFERENCE, TRANSACTIONAL
from ..resources import WarehouseResource, WorkdayResource

OWNERS = ["team:finance-data"]


def build_entity_asset(entity: Entity) -> dg.AssetsDefinition:
    partitions = TRANSACTIONAL if entity.cadence == "transactional" else REFERENCE
    columns = [dg.TableColumn(spec.name, spec.type) for spec in entity.fields]
    key = dg.AssetKey(["workday", entity.name])

    @dg.asset(
        key=key,
        partitions_def=partitions,
        group_name="workday",
        kinds={"workday", "duckdb"},
        owners=OWNERS,
        description=f"{entity.description} Read with {entity.service}/{entity.operation}; each window "
                    "replaces its rows in raw." + entity.table + " atomically.",
        metadata={"dagster/column_schema": dg.TableSchema(columns=columns),
                  "workday/operation": f"{entity.service}/{entity.operation}"},
        pool="duckdb_write",
        # A month of hourly windows runs as a handful of runs, not 720.
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=168),
        check_specs=[dg.AssetCheckSpec(name, asset=key, description=text) for name, text in entity.checks.items()],
    )
    def _poll(context: dg.AssetExecutionContext, workday: WorkdayResource,
              warehouse: WarehouseResource) -> dg.MaterializeResult:
        client = workday.reader(entity)
        store = warehouse.warehouse()
        totals = {"records": 0, "lines": 0, "pages": 0, "api_calls": 0, "retries": 0, "bytes": 0}
        seconds = 0.0
        windows = []
        for key in context.partition_keys:
            window = partitions.time_window_for_partition_key(key)
            with store.stage(entity) as stage:
                try:
                    fetched = client.fetch_window(entity, window.start, window.end, sink=stage)
                except WorkdayTransientError as exc:
                    # The client already backed off within the window; let Dagster try the step again
                    # later. Other errors (credentials, permissions, bad data) fail at once.
                    raise dg.RetryRequested(max_retries=2, seconds_to_wait=60) from exc
                load = store.replace_window(entity, window.start, window.end, fetched.as_of, stage,
                                            run_id=context.run_id)
            stats = fetched.stats
            context.log.info(
                f"{entity.name} {key}: {load.records} records, {load.lines} lines, {stats.pages} pages, "
                f"{stats.api_calls} calls, {stats.retries} retries, {stats.seconds:.2f}s"
            )
            for name, value in (("records", load.records), ("lines", load.lines), ("pages", stats.pages),
                                ("api_calls", stats.api_calls), ("retries", stats.retries),
                                ("bytes", stats.bytes)):
                totals[name] += value
            seconds += stats.seconds
            windows.append(f"{window.start:%Y-%m-%dT%H:%MZ}..{window.end:%Y-%m-%dT%H:%MZ}")
        check_results = []
        for name in entity.checks:
            failures = [row for key in context.partition_keys
                        for row in store.check(name, partitions.time_window_for_partition_key(key).start)]
            check_results.append(dg.AssetCheckResult(
                check_name=name, passed=not failures, severity=dg.AssetCheckSeverity.WARN,
                metadata={"failures": len(failures), "first_failures": dg.MetadataValue.json(
                    [[str(value) for value in row] for row in failures[:20]])}))
        return dg.MaterializeResult(check_results=check_results, metadata={
            "window_start": windows[0].split("..")[0] if windows else "",
            "window_end": windows[-1].split("..")[1] if windows else "",
            "windows": len(windows),
            "dagster/row_count": totals["records"],
            "records": totals["records"],
            "lines": totals["lines"],
            "pages": totals["pages"],
            "api_calls": totals["api_calls"],
            "retries": totals["retries"],
            "bytes": totals["bytes"],
            "seconds": round(seconds, 3),
        })

    return _poll


entity_assets = [build_entity_asset(entity) for entity in ENTITIES.values()]
