"""Ranged (backfill) runs of the workday/* assets: the same rows as one run per window, replayable,
metadata on every partition's materialization, and a failure mid-range keeps what came before it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from mlc_dagster import definitions
from mlc_dagster.defs.resources import WorkdayResource
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.workday.entities import ENTITIES

from .pipeline import resources, stored_metadata

HOURS = [f"2026-11-29-{hour:02d}:00" for hour in range(8, 16)]
PAGE_SIZE = 40  # small pages: busy windows take several, so a fault can hit the middle of a range


def workday_defs(workday: WorkdaySandbox, db: Path, subscriptions: Path) -> dg.Definitions:
    found = resources(workday, None, db, subscriptions)
    found["workday"] = WorkdayResource(soap_url=workday.soap_url, username=workday.username,
                                       password=workday.password, tenant=workday.tenant, page_size=PAGE_SIZE,
                                       retry_attempts=2, retry_initial_seconds=0.01)
    return dg.Definitions(
        assets=definitions.defs.assets,
        jobs=[dg.define_asset_job("transactional",
                                  selection=dg.AssetSelection.assets(*definitions.TRANSACTIONAL_KEYS))],
        resources=found,
    )


def run(defs: dg.Definitions, instance: dg.DagsterInstance, keys: list[str]) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("transactional")
    if len(keys) == 1:
        return job.execute_in_process(instance=instance, partition_key=keys[0], raise_on_error=False)
    return job.execute_in_process(instance=instance, raise_on_error=False, tags={
        "dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]})


def raw(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    tables = [e.table for e in ENTITIES.values() if e.cadence == "transactional"]
    tables += [e.lines.table for e in ENTITIES.values() if e.cadence == "transactional" and e.lines]
    with duckdb.connect(str(db), read_only=True) as con:
        found = {t: con.execute(f"SELECT * FROM raw.{t} ORDER BY ALL").fetchall() for t in tables}
        found["meta.windows"] = con.execute(
            "SELECT entity, window_start, window_end, as_of, records FROM meta.windows ORDER BY ALL").fetchall()
    return found


def test_a_ranged_run_loads_what_one_run_per_window_loads(workday: WorkdaySandbox, tmp_path: Path,
                                                         subscriptions_file: Path) -> None:
    ranged_db, single_db = tmp_path / "ranged.duckdb", tmp_path / "single.duckdb"
    with dg.instance_for_test() as instance:
        ranged_defs = workday_defs(workday, ranged_db, subscriptions_file)
        result = run(ranged_defs, instance, HOURS)
        assert result.success
        once = raw(ranged_db)
        assert run(ranged_defs, instance, HOURS).success  # a replay of the range
        assert raw(ranged_db) == once

        single_defs = workday_defs(workday, single_db, subscriptions_file)
        for hour in HOURS:
            assert run(single_defs, instance, [hour]).success
        assert raw(single_db) == once

        # Every window of every entity loaded; several pages in the busy ones.
        assert len(once["meta.windows"]) == len(HOURS) * len(definitions.TRANSACTIONAL_KEYS)
        assert len(once["supplier_invoices"]) > PAGE_SIZE * 2
        # Each partition has its materialization with the run's figures.
        key = dg.AssetKey(["workday", "supplier_invoices"])
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=HOURS[:1]),
                                                  limit=10).records
        assert len(records) == 3  # ranged, replayed, single
        for record in records:
            meta = stored_metadata(record)
            assert {"window_start", "window_end", "pages", "records", "api_calls", "retries", "bytes",
                    "seconds"} <= set(meta)
        ranged = stored_metadata(records[-1])  # the oldest: the first ranged run
        invoices = sum(r[4] for r in once["meta.windows"] if r[0] == "supplier_invoices")
        assert ranged["records"] == invoices
        assert ranged["window_start"] == "2026-11-29T08:00Z" and ranged["window_end"] == "2026-11-29T16:00Z"
        assert ranged["pages"] >= len(HOURS) and ranged["api_calls"] >= ranged["pages"]
        assert set(instance.get_materialized_partitions(key)) == set(HOURS)
        # One log event holds every window's line (not one event per window).
        logs = [e.user_message for e in instance.all_logs(result.run_id)
                if e.step_key == "workday__supplier_invoices" and "window(s)" in e.user_message]
        assert len(logs) == 1 and all(hour in logs[0] for hour in HOURS)


def test_a_failure_mid_range_keeps_the_windows_before_it(workday: WorkdaySandbox, tmp_path: Path,
                                                         subscriptions_file: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    defs = workday_defs(workday, db, subscriptions_file)
    with dg.instance_for_test() as instance:
        first = run(defs, instance, HOURS)
        assert first.success
        before = raw(db)
        with duckdb.connect(str(db), read_only=True) as con:
            counts = con.execute("SELECT strftime(window_start, '%Y-%m-%d-%H:%M'), records FROM meta.windows "
                                 "WHERE entity = 'supplier_invoices' ORDER BY 1").fetchall()
        # The first window with a second page fails there, after windows with a single page loaded.
        failing = next(i for i, (_, records) in enumerate(counts) if records > PAGE_SIZE)
        assert failing > 0, "the range should start with a quiet window"
        workday.inject("Get_Supplier_Invoices", "processing", page=2, times=1)
        second = run(defs, instance, HOURS)
        assert not second.success
        failure = next(e for e in second.all_events if e.is_step_failure)
        assert failure.step_key == "workday__supplier_invoices"
        assert "Get_Supplier_Invoices" in str(failure.step_failure_data.error)
        with duckdb.connect(str(db), read_only=True) as con:
            loaded_by = dict(con.execute("SELECT strftime(window_start, '%Y-%m-%d-%H:%M'), run_id FROM meta.windows "
                                         "WHERE entity = 'supplier_invoices'").fetchall())
        assert [loaded_by[key] for key, _ in counts[:failing]] == [second.run_id] * failing
        assert [loaded_by[key] for key, _ in counts[failing:]] == [first.run_id] * (len(counts) - failing)
        # Rows: unchanged everywhere (the windows reloaded before the failure hold the same rows).
        assert raw(db) == before
