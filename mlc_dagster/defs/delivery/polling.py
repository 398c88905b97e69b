"""The `polling_behind` sensor: tells the ops channel when a transactional entity's polling falls behind.

Each transactional entity's newest window comes from the Dagster instance (its newest materialized
partition; no DuckDB lock needed to look). An entity is behind when its newest window ended more than
its cadence plus a grace period (MLC_POLLING_GRACE_MINUTES, 30 by default) ago. One alert is queued
when an incident starts and one when it recovers (as a reply in the first one's thread, also shown in
the channel), through the same outbox as every alert: rule `polling_behind`, routed by the
subscriptions file, alert ids stable from the entity and the incident's start. The cursor (JSON) holds
each entity's newest window, the storage id read up to and the open incidents. An entity never
polled is not behind: polling has not started (the schedule ships stopped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from ...alerts import alert_id
from ...alerts.subscriptions import Subscription
from ...slack.outbox import NewAlert, enqueue
from ...workday.entities import ENTITIES
from ..partitions import TRANSACTIONAL, window_minutes
from ..resources import SubscriptionsResource, WarehouseResource

RULE = "polling_behind"


def grace_period() -> timedelta:
    raw = os.environ.get("MLC_POLLING_GRACE_MINUTES", "30").strip() or "30"
    try:
        minutes = float(raw)
    except ValueError:
        raise ValueError(f"MLC_POLLING_GRACE_MINUTES={raw!r}: expected a number of minutes") from None
    if minutes < 0:
        raise ValueError(f"MLC_POLLING_GRACE_MINUTES={raw!r}: expected a number of minutes, at least 0")
    return timedelta(minutes=minutes)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    parts.append(f"{minutes} min")
    return " ".join(parts)


def _newest_partition(instance: dg.DagsterInstance, key: dg.AssetKey, after: int,
                      newest: str | None) -> tuple[int, str | None]:
    """Read materializations after storage id `after`: the newest partition key seen, and how far read."""
    while True:
        page = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
                                               limit=1000, ascending=True)
        for record in page.records:
            after = max(after, record.storage_id)
            partition = record.partition_key
            # keys are YYYY-MM-DD-HH:MM: their order is their time order
            if partition and (newest is None or partition > newest):
                newest = partition
        if not page.has_more:
            return after, newest


def build_polling_behind_sensor(job_name: str,
                                clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> dg.SensorDefinition:
    entities = [e.name for e in ENTITIES.values() if e.cadence == "transactional"]

    @dg.sensor(
        name="polling_behind",
        job_name=job_name,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Posts to the polling_behind subscription once when a transactional entity's newest "
                    "window is older than its cadence plus a grace period (MLC_POLLING_GRACE_MINUTES), and "
                    "once when it recovers.",
    )
    def polling_behind(context: dg.SensorEvaluationContext, warehouse: WarehouseResource,
                       subscriptions: SubscriptionsResource) -> dg.SensorResult | dg.SkipReason:
        state: dict[str, Any] = json.loads(context.cursor) if context.cursor else {}
        after: dict[str, int] = state.get("after", {})
        newest: dict[str, str] = state.get("newest", {})
        incidents: dict[str, dict[str, str]] = state.get("incidents", {})
        now = clock()
        cadence = timedelta(minutes=window_minutes())
        allowance = cadence + grace_period()
        changes: list[tuple[str, datetime, str, dict[str, Any]]] = []  # entity, incident start, state, details
        for entity in entities:
            read_to, latest = _newest_partition(context.instance, dg.AssetKey(["workday", entity]),
                                                after.get(entity, 0), newest.get(entity))
            after[entity] = read_to
            if latest is None:
                continue
            newest[entity] = latest
            window = TRANSACTIONAL.time_window_for_partition_key(latest)
            expected_by = window.end + allowance
            shown = f"{window.start.astimezone(UTC):%Y-%m-%d %H:%M}–{window.end.astimezone(UTC):%H:%M} UTC"
            incident = incidents.get(entity)
            if now > expected_by and incident is None:
                start = expected_by.astimezone(UTC)
                incidents[entity] = {"start": start.isoformat()}
                changes.append((entity, start, "behind", {
                    "entity": entity, "state": "behind", "newest_window": shown, "expected_by": _utc(expected_by),
                    "behind_by": _duration(now - expected_by),
                    "allowance": f"{int(cadence.total_seconds() // 60)} min + "
                                 f"{int((allowance - cadence).total_seconds() // 60)} min grace"}))
            elif now <= expected_by and incident is not None:
                start = datetime.fromisoformat(incident["start"])
                del incidents[entity]
                changes.append((entity, start, "recovered", {
                    "entity": entity, "state": "recovered", "newest_window": shown, "since": _utc(start),
                    "duration": _duration(now - start), "broadcast": True}))
        cursor = json.dumps({"after": after, "newest": newest, "incidents": incidents}, sort_keys=True)
        if not changes:
            return dg.SensorResult(skip_reason=dg.SkipReason(
                f"no change: {', '.join(sorted(incidents)) or 'no entity'} behind"), cursor=cursor)
        subs = subscriptions.load().for_rule(RULE)
        raised = [_alerts(entity, start, state, subs, details) for entity, start, state, details in changes]
        queued = enqueue(warehouse.warehouse(), [a for alerts in raised for a in alerts])
        if not any(raised):
            context.log.warning("polling_behind: incidents changed but no polling_behind subscription: nothing posted")
        for item in (a for alerts in raised for a in alerts):
            context.log.info(f"polling_behind: {item.details['entity']} {item.details['state']} -> "
                             f"{', '.join(item.channels)}")
        if not queued:
            return dg.SensorResult(skip_reason=dg.SkipReason("incident recorded; nothing to post"), cursor=cursor)
        ids = sorted({a.alert_id for alerts in raised for a in alerts})
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key="polling-" + "-".join(ids), tags={"mlc/trigger": "polling_behind"})],
            cursor=cursor)

    return polling_behind


def _alerts(entity: str, start: datetime, state: str, subs: list[Subscription],
            details: dict[str, Any]) -> list[NewAlert]:
    """One alert (a stable id from the entity, the incident's start and the state), one delivery per
    subscription."""
    incident = f"{entity}|{start.isoformat()}"
    return [NewAlert(alert_id=alert_id(RULE, f"{incident}|{state}"), rule=RULE, entity="polling",
                     entity_wid=incident, entity_id=entity, details=details, channels=[sub.channel],
                     subscription=sub.label, mention=sub.mention) for sub in subs]
