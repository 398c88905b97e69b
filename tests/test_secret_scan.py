"""No secret leaks: the pipeline runs on a PostgreSQL-backed Dagster instance with faults on both sides,
secrets coming from the environment and the credential store as in production, logging at DEBUG;
then every table of the instance's database, every table of the warehouse, every file written and
everything printed are searched for every secret value."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sys
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import dagster as dg
import duckdb
import psycopg2
import pytest
import yaml
from cryptography.fernet import Fernet

from mlc_dagster.credentials import CredentialStore
from mlc_dagster.defs.resources import WorkdayResource, resources_from_env
from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.slack_app import ACK_ACTION
from mlc_dagster.slack_app.server import build_app

from .pipeline import defs_with, high_value_window
from .test_workday_rest import ORGANIZATIONS

CANARY = f"canary-{secrets.token_hex(8)}"


def secret(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(24)}"


def _text(cell: Any) -> str:
    if isinstance(cell, memoryview | bytes):
        raw = bytes(cell)
        with contextlib.suppress(zlib.error):
            raw = zlib.decompress(raw)  # Dagster stores snapshots zlib-compressed
        return raw.decode("utf-8", "replace")
    return str(cell)


def postgres_text(url: str) -> str:
    chunks: list[str] = []
    with psycopg2.connect(url) as con, con.cursor() as cursor:
        cursor.execute("SELECT table_schema, table_name FROM information_schema.tables "
                       "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'")
        tables = cursor.fetchall()
        for schema, table in tables:
            cursor.execute(f'SELECT * FROM "{schema}"."{table}"')
            chunks.extend(_text(cell) for row in cursor.fetchall() for cell in row)
    assert len(tables) >= 10, tables
    return "\n".join(chunks)


def duckdb_text(path: Path) -> str:
    chunks: list[str] = []
    with duckdb.connect(str(path), read_only=True) as con:
        for schema, table in con.execute("SELECT table_schema, table_name FROM information_schema.tables "
                                         "WHERE table_type = 'BASE TABLE'").fetchall():
            rows = con.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall()
            chunks.extend(str(cell) for row in rows for cell in row)
    return "\n".join(chunks)


def files_text(folder: Path, skip: set[Path]) -> str:
    return "\n".join(path.read_bytes().decode("utf-8", "replace") for path in folder.rglob("*")
                     if path.is_file() and path not in skip)


def test_no_secret_reaches_the_event_log_the_warehouse_files_or_output(
        postgres_url: str, scenario: Scenario, subscriptions_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    values = {"password": secret("pw-"), "client secret": secret("cs-"), "refresh token": secret("rt-"),
              "bot token": secret("xoxb-"), "signing secret": secret("ss-"),
              "store key": Fernet.generate_key().decode()}
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(
        {"storage": {"postgres": {"postgres_url": postgres_url}}, "telemetry": {"enabled": False}}))
    db = tmp_path / "mlc.duckdb"
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)  # everything anyone logs, at DEBUG, into the scanned output
    handler.setLevel(logging.DEBUG)
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        with WorkdaySandbox(scenario, password=values["password"], client_secret=values["client secret"],
                            refresh_token=values["refresh token"], rotate_refresh_tokens=True) as workday, \
                SlackSandbox(bot_token=values["bot token"], signing_secret=values["signing secret"]) as slack:
            for name, value in {
                "DAGSTER_HOME": str(home), "MLC_DUCKDB_PATH": str(db), "MLC_SUBSCRIPTIONS": str(subscriptions_file),
                "MLC_CREDENTIALS_PATH": str(tmp_path / "credentials.enc"), "MLC_SECRET_KEY": values["store key"],
                "WORKDAY_SOAP_URL": workday.soap_url, "WORKDAY_TENANT": workday.tenant,
                "WORKDAY_USERNAME": workday.username, "WORKDAY_REST_URL": workday.rest_url,
                "WORKDAY_TOKEN_URL": workday.token_url, "WORKDAY_CLIENT_ID": workday.client_id,
                "WORKDAY_CLIENT_SECRET": values["client secret"],  # this one from the environment
                "MLC_REST_ENTITIES": ORGANIZATIONS.name, "SLACK_API_URL": slack.api_url,
            }.items():
                monkeypatch.setenv(name, value)
            for name in ("WORKDAY_PASSWORD", "WORKDAY_REFRESH_TOKEN", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"):
                monkeypatch.delenv(name, raising=False)
            CredentialStore().set_many({  # the rest from the store
                "WORKDAY_PASSWORD": values["password"], "WORKDAY_REFRESH_TOKEN": values["refresh token"],
                "SLACK_BOT_TOKEN": values["bot token"], "SLACK_SIGNING_SECRET": values["signing secret"]})

            defs = defs_with(resources_from_env())
            key, planted = high_value_window(scenario)
            poll = defs.resolve_job_def("workday_transactional_poll")
            reference = defs.resolve_job_def("workday_reference_poll")
            delivery = defs.resolve_job_def("slack_delivery")
            with dg.DagsterInstance.get() as instance:
                assert type(instance.run_storage).__name__ == "PostgresRunStorage"
                # Workday: a wrong password once (the run fails), then 503s retried within the run.
                workday.inject("Get_Supplier_Invoices", "authentication", times=1)
                failed = poll.execute_in_process(instance=instance, partition_key=key, raise_on_error=False,
                                                 tags={"mlc/canary": CANARY})
                assert not failed.success
                workday.inject("Get_Supplier_Invoices", "http_503", times=2)
                assert poll.execute_in_process(instance=instance, partition_key=key).success
                # REST with a rotating refresh token (saved to the store) and a 503 from the resource.
                # No registry entity reads over REST today: the REST reader's own read, in this process.
                assert reference.execute_in_process(instance=instance, partition_key=key[:10]).success
                workday.inject("organizations", "http_503", times=1)
                day = datetime.fromisoformat(key[:10]).replace(tzinfo=UTC)
                workday_resource = resources_from_env()["workday"]
                assert isinstance(workday_resource, WorkdayResource)
                rest = workday_resource.reader(ORGANIZATIONS)
                assert rest.fetch_window(ORGANIZATIONS, day, day + timedelta(days=1)).records
                assert CredentialStore().stored("WORKDAY_REFRESH_TOKEN") == workday.refresh_token
                # Slack: the token refused once (the run fails, alerts kept), then a 5xx retried.
                slack.inject("chat.postMessage", error="invalid_auth")
                assert not delivery.execute_in_process(instance=instance, raise_on_error=False).success
                slack.inject("chat.postMessage", status=503)
                assert delivery.execute_in_process(instance=instance).success
                assert len(slack.messages("#finance-alerts")) == len(planted)

            # Requests from Slack, signed with the stored signing secret: a forgery, then a real press.
            app = build_app()
            posted = slack.messages("#finance-alerts")[0]
            alert_id = posted["metadata"]["event_payload"]["alert_id"]
            body = urlencode({"payload": json.dumps({
                "type": "block_actions", "user": {"id": "U0SCAN0001"},
                "container": {"message_ts": posted["ts"], "channel_id": posted["channel"]},
                "message": {"text": posted["text"], "blocks": posted["blocks"], "ts": posted["ts"]},
                "actions": [{"action_id": ACK_ACTION, "value": alert_id, "action_ts": "1764414000.000001"}]})}).encode()
            forged = SlackSandbox(signing_secret="wrong").sign(body)
            assert app.handle_http(body, {**forged, "Content-Type": "application/x-www-form-urlencoded"}).status == 401
            assert app.handle_http(body, {**slack.sign(body),
                                          "Content-Type": "application/x-www-form-urlencoded"}).status == 200
            app.close()
            assert slack.messages("#finance-alerts")[0]["edits"], "the press updated the message"
            values["rotated refresh token"] = workday.refresh_token
            for number, token in enumerate(workday._access_tokens):
                values[f"access token {number}"] = token
            print(f"scan control: {CANARY}")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    time.sleep(0.1)
    captured = capfd.readouterr()
    output = captured.out + captured.err
    stored = postgres_text(postgres_url)
    warehouse = duckdb_text(db)
    files = files_text(tmp_path, skip={tmp_path / "credentials.enc"})
    # The scan sees what it should: the control value in the run storage and the output, real data elsewhere.
    assert CANARY in stored and CANARY in output
    assert "Get_Supplier_Invoices" in stored and "invalid_auth" in stored
    assert planted[0] in warehouse
    assert len(values) >= 8
    leaks = [(what, where) for what, value in values.items()
             for where, text in (("event log / run storage", stored), ("warehouse", warehouse),
                                 ("files", files), ("output", output)) if value in text]
    assert not leaks, leaks
