"""One partitioned asset per Workday entity, made by one factory from the entity registry.

A run may hold many windows (a backfill's ranged run holds up to 168). Per run, not per window: one
Workday client (one HTTP session) fetching on two background threads ahead of the loads, one warehouse
connection per batch of fetched windows (each still replaced in its own transaction, in order), one
log event per LOG_EVERY_WINDOWS windows. That per-window overhead, not the data, was most of a
month's backfill (bench/backfill.py).
"""


from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import dagster as dg

from ...warehouse import Warehouse, WindowStage
from ...workday.entities import ENTITIES, Entity
from ...workday.errors import WorkdayTransientError
from ...workday.readahead import ReadAhead
from ...workday.soap import PageSink, WindowResult
from ..partitions import REFERENCE, TRANSACTIONAL
from ..resources import WarehouseResource, WorkdayResource

OWNERS = ["team:finance-data"]
FETCH_THREADS = 2  # windows fetched at once (requests to Workday in flight per asset)
FETCH_AHEAD_WINDOWS = 24  # windows fetched and staged (on disk) ahead of the loads
LOAD_EVERY_WINDOWS = 24  # at most this many staged windows loaded per warehouse connection ...
LOAD_MIN_WINDOWS = 4  # ... and at least this many while more are coming (one connection costs ~15 ms)
LOG_EVERY_WINDOWS = 24  # windows per log event


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
        store = warehouse.warehouse()
        totals = {"records": 0, "lines": 0, "pages": 0, "api_calls": 0, "retries": 0, "bytes": 0}
        seconds = 0.0
        windows: list[str] = []
        log_lines: list[str] = []
        staged: list[Fetched] = []

        def load_staged() -> None:
            """Replace the staged windows, each in its own transaction, on one warehouse connection.

            The connection is opened once the pages are on disk: the warehouse file's lock is never
            held while Workday answers, only for the loads themselves."""
            nonlocal seconds
            try:
                with store.session():
                    while staged:
                        item = staged[0]
                        load = store.replace_window(entity, item.window.start, item.window.end, item.result.as_of,
                                                    item.stage, run_id=context.run_id)
                        staged.pop(0).stage.close()
                        stats = item.result.stats
                        log_lines.append(f"{item.key}: {load.records} records, {load.lines} lines, {stats.pages} "
                                         f"pages, {stats.api_calls} calls, {stats.retries} retries, "
                                         f"{stats.seconds:.2f}s")
                        for name, value in (("records", load.records), ("lines", load.lines),
                                            ("pages", stats.pages), ("api_calls", stats.api_calls),
                                            ("retries", stats.retries), ("bytes", stats.bytes)):
                            totals[name] += value
                        seconds += stats.seconds
                        windows.append(f"{item.window.start:%Y-%m-%dT%H:%MZ}..{item.window.end:%Y-%m-%dT%H:%MZ}")
            finally:
                for item in staged:  # not loaded (a window failed): their rows stay as they were
                    item.stage.close()
                staged.clear()
            if len(log_lines) >= LOG_EVERY_WINDOWS:
                flush_log()

        def flush_log() -> None:
            # One event per batch of windows, not one per window: on a PostgreSQL instance each event is
            # a round trip, and a month's backfill has thousands of windows.
            if log_lines:
                context.log.info(f"{entity.name}, {len(log_lines)} window(s):\n" + "\n".join(log_lines))
                log_lines.clear()

        keys = list(context.partition_keys)
        try:
            with fetch_windows(entity, workday.reader(entity), store,
                               [(key, partitions.time_window_for_partition_key(key)) for key in keys]) as fetcher:
                for item in fetcher:
                    staged.append(item)
                    if len(staged) >= LOAD_EVERY_WINDOWS or (fetcher.idle() and len(staged) >= LOAD_MIN_WINDOWS):
                        load_staged()
                load_staged()  # what was fetched before a failure is kept, as window by window
                if isinstance(fetcher.failure, WorkdayTransientError):
                    # The client already backed off within the window; let Dagster try the step again
                    # later. Other errors (credentials, permissions, bad data) fail at once.
                    raise dg.RetryRequested(max_retries=2, seconds_to_wait=60) from fetcher.failure
                if fetcher.failure is not None:
                    raise fetcher.failure
            check_results = []
            if entity.checks:
                with store.session():
                    for name in entity.checks:
                        failures = [row for key in keys
                                    for row in store.check(name, partitions.time_window_for_partition_key(key).start)]
                        check_results.append(dg.AssetCheckResult(
                            check_name=name, passed=not failures, severity=dg.AssetCheckSeverity.WARN,
                            metadata={"failures": len(failures), "first_failures": dg.MetadataValue.json(
                                [[str(value) for value in row] for row in failures[:20]])}))
        finally:
            flush_log()
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


@dataclass
class Fetched:
    key: str
    window: dg.TimeWindow
    result: WindowResult
    stage: WindowStage


class WindowReader(Protocol):
    """What reads a window: the SOAP client with its route negotiated (`RoutedReader`), or REST."""

    def fetch_window(self, entity: Entity, start: datetime, end: datetime, *,
                     sink: PageSink | None = None) -> WindowResult: ...


def fetch_windows(entity: Entity, reader: WindowReader, store: Warehouse,
                  windows: list[tuple[str, dg.TimeWindow]]) -> ReadAhead[tuple[str, dg.TimeWindow], Fetched]:
    """A run's windows fetched ahead of their loads, FETCH_THREADS at a time and at most
    FETCH_AHEAD_WINDOWS ahead, each into its own finished stage: Workday answering, pages being parsed
    and the previous windows' loads into DuckDB overlap (lxml, sockets and DuckDB release the
    interpreter lock for most of their work). Iterating yields the windows in order; the first
    failure ends the iteration and is kept in `failure` (every window before it has been yielded).
    On exit, windows not started are dropped; one under way (its own retries included) is not waited
    for: its stage is deleted when it ends."""

    def fetch(item: tuple[str, dg.TimeWindow]) -> Fetched:
        key, window = item
        stage = store.stage(entity)
        try:
            result = reader.fetch_window(entity, window.start, window.end, sink=stage)
            stage.finish()  # its Parquet files complete, outside the warehouse's lock
        except BaseException:
            stage.close()
            raise
        return Fetched(key, window, result, stage)

    return ReadAhead(windows, fetch, ahead=FETCH_AHEAD_WINDOWS, threads=FETCH_THREADS,
                     discard=lambda fetched: fetched.stage.close(), name=f"fetch-{entity.name}", wait=False)


entity_assets = [build_entity_asset(entity) for entity in ENTITIES.values()]
