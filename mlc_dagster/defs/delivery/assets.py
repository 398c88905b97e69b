"""Slack delivery: an asset whose every materialization is one pass over the outbox."""


import dagster as dg

from ...alerts import RULES
from ...slack.sender import SlackDelivery
from ..resources import SlackBotResource, WarehouseResource

DELIVERIES_KEY = dg.AssetKey(["slack", "alert_deliveries"])


@dg.asset(
    key=DELIVERIES_KEY,
    deps=[dg.AssetKey(["alerts", name]) for name in RULES],
    group_name="slack",
    kinds={"slack", "duckdb"},
    owners=["team:finance-data"],
    description="Posts every pending alert to its channels through chat.postMessage, paced to one message "
                "per second per channel; each delivery is recorded (channel, ts) in alerts.deliveries.",
)
def alert_deliveries(context: dg.AssetExecutionContext, slack: SlackBotResource,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    store = warehouse.warehouse()
    delivery = SlackDelivery(store, slack.client(), context.run_id,
                             seconds_per_message=slack.seconds_per_message, ui_url=slack.ui_url or None)
    # Runs that are no longer alive cannot finish their `sending` rows: reconcile those at once.
    active = {r.run_id for r in context.instance.get_runs(
        filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING,
                                        dg.DagsterRunStatus.CANCELING]))}
    claimed_by = {row[0] for row in store.query(
        "SELECT DISTINCT claimed_by FROM alerts.deliveries WHERE status = 'sending' AND claimed_by IS NOT NULL")}
    report = delivery.deliver_pending(dead_runs=claimed_by - active - {context.run_id})
    for post in report.posted:
        context.log.info(f"posted {post.alert_id} to {post.channel} ({post.channel_id}) ts={post.ts}")
    for what, reason in report.failed.items():
        context.log.warning(f"not delivered: {what}: {reason}")
    rows = [dg.TableRecord({"alert_id": p.alert_id, "channel": p.channel, "channel_id": p.channel_id,
                            "ts": p.ts}) for p in report.posted[:500]]
    return dg.MaterializeResult(metadata={
        "claimed": report.claimed,
        "messages_posted": len(report.posted),
        "failed": len(report.failed),
        "released": report.released,
        "rate_limited": report.rate_limited,
        "reconciled": report.reconciled,
        "plain_text_fallbacks": report.plain_text_fallbacks,
        "api_calls": report.api_calls,
        "by_channel": dg.MetadataValue.json(report.by_channel()),
        "posted": dg.MetadataValue.table(rows, schema=dg.TableSchema(columns=[
            dg.TableColumn("alert_id", "string"), dg.TableColumn("channel", "string"),
            dg.TableColumn("channel_id", "string"), dg.TableColumn("ts", "string")])),
    })
