"""Slack delivery: an asset whose every materialization is one pass over the outbox."""


import dagster as dg

from ...alerts import RULES
from ...alerts.subscriptions import SubscriptionError
from ...slack.sender import DeliverySettings, SlackDelivery
from ...warehouse import Warehouse
from ..resources import SlackBotResource, SubscriptionsResource, WarehouseResource

DELIVERIES_KEY = dg.AssetKey(["slack", "alert_deliveries"])


def ops_channel(subscriptions: SubscriptionsResource, log: dg.DagsterLogManager | None = None) -> str | None:
    """MLC_OPS_CHANNEL, else the channel of the `polling_behind` subscription."""
    settings = DeliverySettings.from_env()
    if settings.ops_channel:
        return settings.ops_channel
    try:
        subs = subscriptions.load().for_rule("polling_behind")
    except (SubscriptionError, OSError) as exc:
        if log:
            log.warning(f"no ops channel: the subscriptions file did not load ({exc})")
        return None
    return subs[0].channel if subs else None


def dead_runs(instance: dg.DagsterInstance, store: Warehouse, run_id: str) -> set[str]:
    """Dagster runs holding `sending` rows that are over (finished, failed, canceled): their rows are
    reconciled at once. Claimers Dagster does not know (a `python -m mlc_dagster.slack` process) are
    left to their lease."""
    claimed_by = {row[0] for row in store.query(
        "SELECT DISTINCT claimed_by FROM alerts.deliveries WHERE status = 'sending' AND claimed_by IS NOT NULL")}
    dead = set()
    for claimer in claimed_by - {run_id}:
        run = instance.get_run_by_id(claimer)
        if run is not None and run.is_finished:
            dead.add(claimer)
    return dead


@dg.asset(
    key=DELIVERIES_KEY,
    deps=[dg.AssetKey(["alerts", name]) for name in RULES],
    group_name="slack",
    kinds={"slack", "duckdb"},
    owners=["team:finance-data"],
    description="Posts every pending alert to its channels through chat.postMessage, paced to one message "
                "per second per channel; a burst becomes one digest with the alerts in its thread, a repeat "
                "or a later change goes into the earlier message's thread. Each delivery is recorded "
                "(channel, ts) in alerts.deliveries.",
)
def alert_deliveries(context: dg.AssetExecutionContext, slack: SlackBotResource, warehouse: WarehouseResource,
                     subscriptions: SubscriptionsResource) -> dg.MaterializeResult:
    store = warehouse.warehouse()
    settings = DeliverySettings.from_env(seconds_per_message=slack.seconds_per_message,
                                         dagster_ui_url=slack.ui_url or None,
                                         ops_channel=ops_channel(subscriptions, context.log))
    delivery = SlackDelivery(store, slack.client(), context.run_id, settings)
    report = delivery.deliver_pending(dead_runs=dead_runs(context.instance, store, context.run_id))
    for post in report.posted[:1000]:
        context.log.info(f"posted {post.alert_id} to {post.channel} ({post.channel_id}) ts={post.ts} "
                         f"as {post.posted_as}")
    for what, reason in report.failed.items():
        context.log.warning(f"not delivered: {what}: {reason}")
    for channel, reason in report.dead_channels.items():
        context.log.warning(f"channel {channel} cannot receive alerts: {reason}")
    rows = [dg.TableRecord({"alert_id": p.alert_id, "channel": p.channel, "channel_id": p.channel_id,
                            "ts": p.ts, "posted_as": p.posted_as}) for p in report.posted[:500]]
    return dg.MaterializeResult(metadata={
        "claimed": report.claimed,
        "messages_posted": len(report.posted),
        "slack_messages": report.messages,
        "digests": report.digests,
        "thread_replies": report.thread_replies,
        "messages_updated": report.updated,
        "failed": len(report.failed),
        "released": report.released,
        "rate_limited": report.rate_limited,
        "workspace_pauses": report.workspace_pauses,
        "reconciled": report.reconciled,
        "plain_text_fallbacks": report.plain_text_fallbacks,
        "ops_notices": report.ops_notices,
        "api_calls": report.api_calls,
        "by_channel": dg.MetadataValue.json(report.by_channel()),
        "dead_channels": dg.MetadataValue.json(report.dead_channels),
        "posted": dg.MetadataValue.table(rows, schema=dg.TableSchema(columns=[
            dg.TableColumn("alert_id", "string"), dg.TableColumn("channel", "string"),
            dg.TableColumn("channel_id", "string"), dg.TableColumn("ts", "string"),
            dg.TableColumn("posted_as", "string")])),
    })
