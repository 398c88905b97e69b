"""Requests from Slack, against the Slack sandbox: signatures, ack-first, retries, buttons, /mlc."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from slack_sdk import WebClient

from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.slack_app import ACK_ACTION, SNOOZE_ACTION, alert_actions_block
from mlc_dagster.slack_app.actions import AlertActions
from mlc_dagster.slack_app.app import ReplayLauncher, SlackApp
from mlc_dagster.slack_app.server import SlackAppServer, SubprocessReplay, socket_mode_listener
from mlc_dagster.warehouse import Warehouse

ALERT = "hv-INV-000123"
USER = "U0FINANCE1"
OPERATOR = "U0OPERATOR"


def make_warehouse(path: Path) -> Warehouse:
    warehouse = Warehouse(path)
    now = datetime(2026, 11, 29, 11, 5)
    with warehouse.connect() as con:
        con.execute("INSERT INTO alerts.alerts (alert_id, rule, entity, entity_id, created_at) VALUES "
                    "(?, 'high_value_invoice', 'supplier_invoices', 'INV-000123', ?)", [ALERT, now])
        con.execute("INSERT INTO alerts.deliveries (alert_id, channel, status, created_at) VALUES "
                    "(?, '#finance-alerts', 'sent', ?), ('other', '#finance-alerts', 'pending', ?)", [ALERT, now, now])
        con.execute("INSERT INTO meta.windows VALUES ('supplier_invoices', ?, ?, ?, 12, ?, 'run-1')",
                    [now - timedelta(minutes=65), now - timedelta(minutes=5), now - timedelta(minutes=5), now])
    return warehouse


class FakeReplay(ReplayLauncher):
    def __init__(self) -> None:
        self.calls: list[tuple[date, str]] = []

    def launch(self, day: date, requested_by: str, on_done: Any) -> str:
        self.calls.append((day, requested_by))
        on_done(True, f"replayed {day}: 24 windows")
        return "running"


class Hooks:
    """A stand-in for hooks.slack.com: collects what is posted to a command's response_url."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hooks.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/commands/T0/1/abc"

    def wait(self, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    found = Hooks()
    yield found
    found.server.shutdown()
    found.server.server_close()


@pytest.fixture
def setup(slack: SlackSandbox, tmp_path: Path) -> Iterator[dict[str, Any]]:
    warehouse = make_warehouse(tmp_path / "w.duckdb")
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    posted = client.chat_postMessage(
        channel="#finance-alerts", text="High-value invoice INV-000123",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "High-value invoice INV-000123"}},
                alert_actions_block(ALERT)],
        metadata={"event_type": "mlc_alert", "event_payload": {"alert_id": ALERT}})
    replay = FakeReplay()
    app = SlackApp(signing_secret=slack.signing_secret, client=client, actions=AlertActions(warehouse),
                   replay=replay, replay_users={OPERATOR})
    with SlackAppServer(app) as server:
        yield {"app": app, "server": server, "warehouse": warehouse, "replay": replay,
               "channel": posted["channel"], "ts": posted["ts"], "message": posted["message"]}
    app.close()


def press(setup: dict[str, Any], action_id: str, action_ts: str = "1764414000.123456") -> bytes:
    payload = {
        "type": "block_actions", "user": {"id": USER, "username": "fin.lead", "team_id": "T0MLCSBX01"},
        "api_app_id": "A0MLCAPP01", "trigger_id": f"trigger-{action_ts}",
        "container": {"type": "message", "message_ts": setup["ts"], "channel_id": setup["channel"]},
        "channel": {"id": setup["channel"], "name": "finance-alerts"}, "message": setup["message"],
        "response_url": "https://hooks.slack.com/actions/T0/1/x",
        "actions": [{"action_id": action_id, "block_id": "mlc_alert_actions", "type": "button", "value": ALERT,
                     "action_ts": action_ts}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def command(text: str, user: str = USER, response_url: str = "", trigger: str = "") -> bytes:
    return urlencode({"command": "/mlc", "text": text, "user_id": user, "channel_id": "C0FINANCE1",
                      "response_url": response_url, "trigger_id": trigger or f"t-{time.monotonic_ns()}"}).encode()


def send(slack: SlackSandbox, setup: dict[str, Any], body: bytes, headers: dict[str, str] | None = None,
         content_type: str = "application/x-www-form-urlencoded") -> requests.Response:
    signed = slack.sign(body) if headers is None else headers
    return requests.post(setup["server"].url, data=body, timeout=5,
                         headers={**signed, "Content-Type": content_type})


def wait_for_edit(slack: SlackSandbox, count: int = 1, seconds: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = slack.messages("#finance-alerts")[0]
        if len(message["edits"]) >= count:
            return message
        time.sleep(0.02)
    raise AssertionError("the message was not updated")


def test_acknowledge_answers_at_once_then_updates_the_message_and_the_warehouse(
        slack: SlackSandbox, setup: dict[str, Any]) -> None:
    slack.inject("chat.update", delay=1.5)  # a slow Slack: the answer must not wait for it
    started = time.monotonic()
    answer = send(slack, setup, press(setup, ACK_ACTION))
    assert answer.status_code == 200 and time.monotonic() - started < 1.0
    message = wait_for_edit(slack)
    texts = json.dumps(message["blocks"])
    assert f"Acknowledged by <@{USER}>" in texts
    assert ACK_ACTION not in texts, "buttons go once acknowledged"
    assert message["blocks"][0]["text"]["text"] == "High-value invoice INV-000123"
    assert message["metadata"] == {"event_type": "mlc_alert", "event_payload": {"alert_id": ALERT}}
    history = AlertActions(setup["warehouse"]).history(ALERT)
    assert [(row[0], row[1], row[2], row[3]) for row in history] == [
        ("acknowledged", USER, setup["channel"], setup["ts"])]
    status = AlertActions(setup["warehouse"]).status_text()
    assert "0 posted and not acknowledged" in status


def test_snooze_keeps_the_buttons_and_records_an_hour(slack: SlackSandbox, setup: dict[str, Any]) -> None:
    assert send(slack, setup, press(setup, SNOOZE_ACTION)).status_code == 200
    message = wait_for_edit(slack)
    texts = json.dumps(message["blocks"])
    assert f"Snoozed by <@{USER}> until" in texts and ACK_ACTION in texts
    (row,) = AlertActions(setup["warehouse"]).history(ALERT)
    assert row[0] == "snoozed" and row[5] - row[4] == timedelta(hours=1)
    assert "(1 snoozed)" in AlertActions(setup["warehouse"]).status_text()


def test_forged_expired_and_replayed_requests_are_refused(slack: SlackSandbox, setup: dict[str, Any]) -> None:
    body = press(setup, ACK_ACTION)
    forged = SlackSandbox(signing_secret="not-the-secret").sign(body)
    expired = slack.sign(body, timestamp=int(time.time()) - 301)
    future = slack.sign(body, timestamp=int(time.time()) + 301)
    tampered_body = body.replace(b"mlc_alert_ack", b"mlc_alert_snooze_1h")
    cases = {
        "forged": (body, forged),
        "expired": (body, expired),
        "from the future": (body, future),
        "tampered body": (tampered_body, slack.sign(body)),
        "no signature": (body, {}),
        "malformed timestamp": (body, {**slack.sign(body), "X-Slack-Request-Timestamp": "soon"}),
    }
    for name, (sent, headers) in cases.items():
        answer = send(slack, setup, sent, headers)
        assert answer.status_code == 401, name
        assert answer.json() == {"error": "invalid request"}, name
    genuine = slack.sign(body)
    assert send(slack, setup, body, genuine).status_code == 200
    replayed = send(slack, setup, body, genuine)
    assert replayed.status_code == 401, "a captured request sent again"
    wait_for_edit(slack)
    time.sleep(0.2)
    assert len(slack.calls("chat.update")) == 1
    assert len(AlertActions(setup["warehouse"]).history(ALERT)) == 1
    assert setup["app"].stats["refused"] == len(cases) + 1


def test_slack_retries_are_answered_and_dropped(slack: SlackSandbox, setup: dict[str, Any]) -> None:
    event = json.dumps({"type": "event_callback", "event_id": "Ev0MLC1", "event": {"type": "app_mention"}}).encode()
    first = send(slack, setup, event, content_type="application/json")
    retry = requests.post(setup["server"].url, data=event, timeout=5, headers={
        **slack.sign(event, timestamp=int(time.time()) - 1), "Content-Type": "application/json",
        "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status_code == retry.status_code == 200
    assert retry.headers.get("X-Slack-No-Retry") == "1"
    # The same press delivered twice (re-signed each time): one warehouse row, one chat.update.
    body = press(setup, ACK_ACTION, action_ts="1764414111.000001")
    assert send(slack, setup, body).status_code == 200
    assert send(slack, setup, body, slack.sign(body, timestamp=int(time.time()) - 2)).status_code == 200
    wait_for_edit(slack)
    time.sleep(0.2)
    assert len(slack.calls("chat.update")) == 1
    assert setup["app"].stats["duplicates"] == 2
    challenge = json.dumps({"type": "url_verification", "challenge": "abc123"}).encode()
    assert send(slack, setup, challenge, content_type="application/json").json() == {"challenge": "abc123"}


def test_status_command_shows_freshness_and_pending_alerts(slack: SlackSandbox, setup: dict[str, Any]) -> None:
    answer = send(slack, setup, command("status")).json()
    assert answer["response_type"] == "ephemeral"
    assert "`supplier_invoices`: through 2026-11-29 11:00" in answer["text"]
    assert "`payments`: never polled" in answer["text"]
    assert "1 waiting to be posted" in answer["text"] and "1 posted and not acknowledged" in answer["text"]


def test_a_slow_status_is_acknowledged_first_and_answered_later(slack: SlackSandbox, setup: dict[str, Any],
                                                                hooks: Hooks, monkeypatch) -> None:
    actions = setup["app"].actions
    real = actions.status_text
    def slow() -> str:
        time.sleep(1.0)
        return real()

    monkeypatch.setattr(actions, "status_text", slow)
    setup["app"].inline_seconds = 0.2
    started = time.monotonic()
    answer = send(slack, setup, command("status", response_url=hooks.url)).json()
    assert time.monotonic() - started < 1.0
    assert "follows in a moment" in answer["text"]
    (later,) = hooks.wait(1)
    assert "`supplier_invoices`: through" in later["text"]


def test_replay_is_for_configured_users_only(slack: SlackSandbox, setup: dict[str, Any], hooks: Hooks) -> None:
    refused = send(slack, setup, command("replay 2026-11-29")).json()
    assert "not allowed" in refused["text"] and setup["replay"].calls == []
    usage = send(slack, setup, command("replay 29/11/2026", user=OPERATOR)).json()
    assert "Usage" in usage["text"]
    started = send(slack, setup, command("replay 2026-11-29", user=OPERATOR, response_url=hooks.url)).json()
    assert started["response_type"] == "in_channel" and f"<@{OPERATOR}>" in started["text"]
    assert setup["replay"].calls == [(date(2026, 11, 29), OPERATOR)]
    assert "finished: replayed 2026-11-29" in hooks.wait(1)[0]["text"]


def test_subprocess_replay_runs_the_command_for_the_day() -> None:
    launcher = SubprocessReplay(command=["python3", "-c", "import sys; print('replayed', sys.argv[-1])"])
    done = threading.Event()
    outcome: list[tuple[bool, str]] = []
    def on_done(ok: bool, line: str) -> None:
        outcome.append((ok, line))
        done.set()

    launcher.launch(date(2026, 11, 29), OPERATOR, on_done)
    with pytest.raises(RuntimeError, match="already running"):
        launcher.launch(date(2026, 11, 29), OPERATOR, lambda ok, line: None)
    assert done.wait(10)
    assert outcome == [(True, "replayed 2026-11-29")]


def test_socket_mode_acknowledges_the_envelope_then_works(slack: SlackSandbox, setup: dict[str, Any]) -> None:
    from urllib.parse import parse_qs

    sent: list[Any] = []

    class Client:
        def send_socket_mode_response(self, response: Any) -> None:
            sent.append(response)

    class Request:
        type = "interactive"
        envelope_id = "env-1"
        retry_attempt = None
        payload = json.loads(parse_qs(press(setup, ACK_ACTION).decode())["payload"][0])

    socket_mode_listener(setup["app"])(Client(), Request())
    assert [r.envelope_id for r in sent] == ["env-1"]
    assert "Acknowledged by" in json.dumps(wait_for_edit(slack)["blocks"])


def test_everything_binds_loopback_by_default() -> None:
    import inspect

    from mlc_dagster.cli import build_parser
    from mlc_dagster.sandbox.workday import WorkdaySandbox

    for made in (SlackAppServer, SlackSandbox, WorkdaySandbox):
        assert inspect.signature(made).parameters["host"].default == "127.0.0.1", made
    assert build_parser().parse_args(["slack-app"]).host == "127.0.0.1"
    assert build_parser().parse_args(["sandbox"]).host == "127.0.0.1"
