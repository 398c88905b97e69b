"""One alert asset per rule, partitioned like the entity it reads, idempotent per window."""


import dagster as dg

from ...alerts import RULES, Rule, detect_window
from ...workday.entities import ENTITIES
from ..partitions import REFERENCE, TRANSACTIONAL
from ..resources import SubscriptionsResource, WarehouseResource

OWNERS = ["team:finance-data"]


def _markdown_table(raised: list[dict[str, str]], limit: int = 50) -> str:
    if not raised:
        return "No alerts raised."
    lines = ["| alert | record | amount | supplier | channels |", "|---|---|---|---|---|"]
    for item in raised[:limit]:
        cells = [item["alert"], item["entity"], item["amount"], item["supplier"], item["channels"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if len(raised) > limit:
        lines.append(f"\n… and {len(raised) - limit} more")
    return "\n".join(lines)


def build_rule_asset(rule: Rule) -> dg.AssetsDefinition:
    entity = ENTITIES[rule.entity]
    partitions = TRANSACTIONAL if entity.cadence == "transactional" else REFERENCE

    @dg.asset(
        key=["alerts", rule.name],
        deps=[dg.AssetKey(["workday", entity.name])],
        partitions_def=partitions,
        group_name="alerts",
        kinds={"duckdb", "sql"},
        owners=OWNERS,
        description=f"{rule.description} Rule: sql/rules/{rule.name}.sql; routed by the subscriptions file; "
                    "alert ids are stable across re-runs, so a replay queues only what was never queued.",
        pool="duckdb_write",
        backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=168),
    )
    def _detect(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                subscriptions: SubscriptionsResource) -> dg.MaterializeResult:
        subs = subscriptions.load()
        store = warehouse.warehouse()
        totals = {"candidates": 0, "alerts": 0, "new_alerts": 0, "new_deliveries": 0, "unrouted": 0}
        raised: list[dict[str, str]] = []
        for key in context.partition_keys:
            window = partitions.time_window_for_partition_key(key)
            result = detect_window(store, rule.name, window.start, window.end, subs, run_id=context.run_id)
            for name in totals:
                totals[name] += getattr(result, name)
            raised.extend(result.raised)
        context.log.info(f"{rule.name}: {totals}")
        return dg.MaterializeResult(metadata={
            **totals,
            "dagster/row_count": totals["alerts"],
            "raised": dg.MetadataValue.md(_markdown_table(raised)),
        })

    return _detect


rule_assets = [build_rule_asset(rule) for rule in RULES.values()]
