"""Snapshot diffs per entity and one alert asset per rule, partitioned like the entity they read."""

import dagster as dg

from ...alerts import RULES, Rule, detect_window
from ...alerts.diffs import diff_window
from ...workday.entities import ENTITIES, Entity
from ..partitions import REFERENCE, TRANSACTIONAL
from ..resources import SubscriptionsResource, WarehouseResource

OWNERS = ["team:finance-data"]


def _partitions(entity: Entity) -> dg.TimeWindowPartitionsDefinition:
    return TRANSACTIONAL if entity.cadence == "transactional" else REFERENCE


def _markdown_table(raised: list[dict[str, str]], limit: int = 50) -> str:
    if not raised:
        return "No alerts raised."
    lines = ["| alert | record | amount | about | channels |", "|---|---|---|---|---|"]
    for item in raised[:limit]:
        cells = [item["alert"], item["entity"], item["amount"], item["supplier"], item["channels"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if len(raised) > limit:
        lines.append(f"\n… and {len(raised) - limit} more")
    return "\n".join(lines)


def build_diff_asset(entity: Entity) -> dg.AssetsDefinition:
    partitions = _partitions(entity)

    @dg.asset(
        key=["diffs", entity.name],
        deps=[dg.AssetKey(["workday", entity.name])],
        partitions_def=partitions,
        group_name="diffs",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=f"What changed in each window of {entity.name}: new records, and {', '.join(entity.tracked)} "
                    "with before and after values against each record's previous snapshot (diffs.changes).",
        pool="duckdb_write",
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=168),
    )
    def _diff(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        store = warehouse.warehouse()
        new = changed = 0
        by_field: dict[str, int] = {}
        with store.session():
            results = [diff_window(store, entity, partitions.time_window_for_partition_key(key).start)
                       for key in context.partition_keys]
        for result in results:
            new += result.new
            changed += result.changed_fields
            for name, count in result.by_field.items():
                by_field[name] = by_field.get(name, 0) + count
        return dg.MaterializeResult(metadata={"new_records": new, "changed_fields": changed,
                                              "by_field": dg.MetadataValue.json(by_field),
                                              "dagster/row_count": new + changed})

    return _diff


def build_rule_asset(rule: Rule) -> dg.AssetsDefinition:
    entity = ENTITIES[rule.entity]
    partitions = _partitions(entity)
    key = dg.AssetKey(["alerts", rule.name])
    deps = [dg.AssetKey(["workday", entity.name])] + [dg.AssetKey(name.split("/")) for name in rule.reads]

    @dg.asset(
        key=key,
        deps=deps,
        partitions_def=partitions,
        group_name="alerts",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=f"{rule.description} Rule: sql/rules/{rule.name}.sql; routed by the subscriptions file; "
                    "alert ids are stable across re-runs, so a replay queues only what was never queued.",
        pool="duckdb_write",
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=168),
        check_specs=[dg.AssetCheckSpec("every_alert_routed", asset=key,
                                       description="Every alert raised in these windows has at least one "
                                                   "channel delivery queued or done.")],
    )
    def _detect(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                subscriptions: SubscriptionsResource) -> dg.MaterializeResult:
        subs = subscriptions.load()
        store = warehouse.warehouse()
        totals = {"candidates": 0, "alerts": 0, "new_alerts": 0, "new_deliveries": 0, "unrouted": 0}
        raised: list[dict[str, str]] = []
        window_starts = []
        with store.session():
            for partition in context.partition_keys:
                window = partitions.time_window_for_partition_key(partition)
                window_starts.append(window.start.replace(tzinfo=None))
                result = detect_window(store, rule.name, window.start, window.end, subs, run_id=context.run_id)
                for name in totals:
                    totals[name] += getattr(result, name)
                raised.extend(result.raised)
            orphans = store.query(
                "SELECT count(*) FROM alerts.alerts a WHERE a.rule = ? AND list_contains(?, a.window_start) "
                "AND NOT EXISTS (SELECT 1 FROM alerts.deliveries d WHERE d.alert_id = a.alert_id)",
                [rule.name, window_starts],
            )[0][0]
        context.log.info(f"{rule.name}: {totals}")
        return dg.MaterializeResult(
            metadata={**totals, "dagster/row_count": totals["alerts"],
                      "raised": dg.MetadataValue.md(_markdown_table(raised))},
            check_results=[dg.AssetCheckResult(
                check_name="every_alert_routed", passed=orphans == 0,
                metadata={"alerts_without_delivery": orphans, "candidates_matching_no_subscription":
                          totals["unrouted"]})],
        )

    return _detect


diff_assets = [build_diff_asset(e) for e in ENTITIES.values() if e.tracked]
rule_assets = [build_rule_asset(rule) for rule in RULES.values()]
