"""The polling_behind sensor: once per incident, once on recovery, through the outbox to Slack."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from mlc_dagster.defs.delivery.polling import build_polling_behind_sensor
from mlc_dagster.defs.resources import SubscriptionsResource, WarehouseResource
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.slack.sender import SlackDelivery, make_client
from mlc_dagster.warehouse import Warehouse

from .test_delivery import rows

SUBSCRIPTIONS = """
subscriptions:
  - rule: polling_behind
    channel: "#finance-ops"
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 11, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def at(self, hour: int, minute: int) -> None:
        self.now = datetime(2026, 11, 29, hour, minute, tzinfo=UTC)


def polled(instance: dg.DagsterInstance, entity: str, *partitions: str) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=["workday", entity],
                                                                    partition=partition))


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.delenv("MLC_POLLING_GRACE_MINUTES", raising=False)
    monkeypatch.delenv("MLC_WINDOW_MINUTES", raising=False)
    subs = tmp_path / "subscriptions.yaml"
    subs.write_text(SUBSCRIPTIONS)
    db = tmp_path / "mlc.duckdb"
    return {"db": db, "resources": {"warehouse": WarehouseResource(path=str(db)),
                                    "subscriptions": SubscriptionsResource(path=str(subs))}}


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, resources: dict[str, Any],
         cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources))
    return list(result.run_requests or []), result.cursor


def test_behind_once_per_incident_then_recovered_in_its_thread(setup: dict[str, Any]) -> None:
    clock = Clock()
    sensor = build_polling_behind_sensor("slack_delivery", clock=clock)
    db, resources = setup["db"], setup["resources"]
    with dg.instance_for_test() as instance, SlackSandbox(seconds_per_message_per_channel=0.05) as slack:
        delivery = SlackDelivery(Warehouse(db), make_client(slack.bot_token, slack.api_url), "run-1",
                                 seconds_per_message=0.05)
        polled(instance, "supplier_invoices", "2026-11-29-08:00", "2026-11-29-09:00")
        polled(instance, "payments", "2026-11-29-09:00")
        # 11:00: the 09:00-10:00 windows are the newest; 60 min cadence + 30 min grace -> due by 11:30
        requests, cursor = tick(sensor, instance, resources, None)
        assert requests == []
        clock.at(11, 45)
        requests, cursor = tick(sensor, instance, resources, cursor)
        assert len(requests) == 1 and requests[0].tags["mlc/trigger"] == "polling_behind"
        clock.at(11, 55)
        assert tick(sensor, instance, resources, cursor)[0] == []  # once per incident
        delivery.deliver_pending()
        behind = {m["blocks"][0]["text"]["text"]: m for m in slack.messages("finance-ops")}
        assert set(behind) == {"Polling behind: supplier_invoices", "Polling behind: payments"}
        assert "2026-11-29 09:00–10:00 UTC" in behind["Polling behind: payments"]["text"]
        assert "11:30 UTC" in behind["Polling behind: payments"]["text"]

        # invoices catch up (a backfill of the missing window), payments do not
        clock.at(12, 10)
        polled(instance, "supplier_invoices", "2026-11-29-10:00", "2026-11-29-11:00")
        requests, cursor = tick(sensor, instance, resources, cursor)
        assert len(requests) == 1
        assert tick(sensor, instance, resources, cursor)[0] == []
        SlackDelivery(Warehouse(db), make_client(slack.bot_token, slack.api_url), "run-2",
                      seconds_per_message=0.05).deliver_pending()
        messages = slack.messages("finance-ops")
        assert len(messages) == 3
        recovered = messages[-1]
        assert recovered["blocks"][0]["text"]["text"] == "Polling recovered: supplier_invoices"
        assert recovered["thread_ts"] == behind["Polling behind: supplier_invoices"]["ts"]
        assert recovered["reply_broadcast"] is True  # seen in the channel too
        assert "behind since 2026-11-29 11:30 UTC (40 min)" in recovered["text"]
        assert rows(db, "SELECT count(*) FROM alerts.alerts WHERE rule = 'polling_behind'") == [(3,)]

        # a second incident for invoices later on is a new alert, not a repeat of the first id
        clock.at(13, 45)
        requests, cursor = tick(sensor, instance, resources, cursor)
        assert len(requests) == 1
        assert rows(db, "SELECT count(*) FROM alerts.alerts WHERE rule = 'polling_behind'") == [(4,)]


def test_grace_is_configurable_and_an_entity_never_polled_is_not_behind(
        setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    clock.at(11, 5)
    sensor = build_polling_behind_sensor("slack_delivery", clock=clock)
    with dg.instance_for_test() as instance:
        polled(instance, "journal_entries", "2026-11-29-09:00")
        assert tick(sensor, instance, setup["resources"], None)[0] == []  # due by 11:30
        monkeypatch.setenv("MLC_POLLING_GRACE_MINUTES", "0")
        requests, _ = tick(sensor, instance, setup["resources"], None)  # due by 11:00
        assert len(requests) == 1
        entities = rows(setup["db"], "SELECT entity_id FROM alerts.alerts")
        assert entities == [("journal_entries",)]  # invoices, payments, POs: never polled, not behind
        monkeypatch.setenv("MLC_POLLING_GRACE_MINUTES", "soon")
        with pytest.raises(Exception, match="MLC_POLLING_GRACE_MINUTES"):
            tick(sensor, instance, setup["resources"], None)


def test_the_code_location_runs_the_sensor() -> None:
    from mlc_dagster.definitions import defs

    sensor = defs.resolve_sensor_def("polling_behind")
    assert sensor.job_name == "slack_delivery"
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
