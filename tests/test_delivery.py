"""Slack delivery against the Slack sandbox, through the real slack_sdk client: every Slack error,
escaping, the Workday button, digests, threads, updates, reconciliation and concurrent runs."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mlc_dagster.alerts import alert_id as make_alert_id
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.slack.messages import DIGEST_EVENT_TYPE, alerts_carried
from mlc_dagster.slack.outbox import NewAlert, enqueue, resend
from mlc_dagster.slack.sender import SlackAuthError, SlackDelivery, make_client
from mlc_dagster.warehouse import Warehouse

FAST = 0.05  # seconds per message per channel, in the sandbox and the sender
HOSTILE = ["<!channel>", "<@U123>", "<http://evil.example|click>", "&amp;"]


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("MLC_WORKDAY_UI_URL", "MLC_OPS_CHANNEL", "MLC_DIGEST_THRESHOLD", "MLC_DAGSTER_UI_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fast_slack() -> Iterator[SlackSandbox]:
    with SlackSandbox(seconds_per_message_per_channel=FAST) as sandbox:
        yield sandbox


def invoice(n: int, **overrides: Any) -> dict[str, Any]:
    details: dict[str, Any] = {
        "invoice_id": f"SI-{n:06d}", "invoice_number": f"INV-{n}", "amount": f"{100000 + n}.5000",
        "currency": "USD", "supplier_name": "Acme Ltd", "supplier_id": "SUP-1", "company_id": "ACME_US",
        "due_date": "2026-12-29", "approval_status": "IN_PROGRESS", "payment_status": "UNPAID"}
    details.update(overrides)
    return details


def seed(db: Path, channels: dict[str, int], *, rule: str = "high_value_invoice", first: int = 0,
         wid: str | None = None, key: str = "", **details: Any) -> list[str]:
    """Alerts with pending deliveries: `count` per channel, each its own invoice unless `wid` is given."""
    alerts = []
    n = first
    for channel, count in channels.items():
        for _ in range(count):
            n += 1
            record = wid or f"WID{n:08d}"
            alerts.append(NewAlert(
                alert_id=make_alert_id(rule, f"{record}|{n}|{key}"), rule=rule, entity="supplier_invoices",
                entity_wid=record, entity_id=f"SI-{n:06d}", details=invoice(n, **details), channels=[channel],
                window_start=datetime(2026, 11, 29, 10), window_end=datetime(2026, 11, 29, 11)))
    enqueue(Warehouse(db), alerts)
    return [a.alert_id for a in alerts]


def delivery(db: Path, slack: SlackSandbox, run_id: str = "run-1", timeout: int = 5,
             **settings: Any) -> SlackDelivery:
    settings.setdefault("seconds_per_message", FAST)
    settings.setdefault("backoff_seconds", 0.05)
    return SlackDelivery(Warehouse(db), make_client(slack.bot_token, slack.api_url, timeout=timeout), run_id,
                         **settings)


def posted_ids(slack: SlackSandbox) -> Counter[tuple[str, str]]:
    """(alert id, channel name) for every alert in Slack, whether in its own message or a digest batch."""
    return Counter((alert, m["channel_name"]) for m in slack.messages() for alert, _ in alerts_carried(m))


def statuses(db: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "SELECT channel, status, count(*) FROM analytics.alerts GROUP BY ALL ORDER BY ALL").fetchall()


def rows(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def unescape(text: str) -> str:
    """What a Slack client shows for mrkdwn or plain_text: only &lt; &gt; &amp; are decoded."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def texts_of(message: dict[str, Any]) -> list[str]:
    found = [message["text"]]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["blocks"])
    return found


# -------------------------------------------------------------------------------- messages


def test_hostile_supplier_names_show_as_literal_text(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    for n, name in enumerate(HOSTILE):
        seed(db, {"#finance-alerts": 1}, first=n * 10, supplier_name=f"Evil {name} Co", invoice_number=name)
    delivery(db, fast_slack).deliver_pending()
    messages = fast_slack.messages("finance-alerts")
    assert len(messages) == len(HOSTILE)
    for message in messages:
        raw = " ".join(texts_of(message))
        for hostile in HOSTILE[:3]:  # no control sequence survives anywhere in what was posted
            assert hostile not in raw
    for name in HOSTILE:
        # every place that shows the supplier shows exactly the Workday text, as text
        [message] = [m for m in messages if f"Evil {name} Co" in unescape(m["text"])]
        shown = [unescape(t) for t in texts_of(message) if "Evil" in t]
        assert len(shown) >= 2 and all(f"Evil {name} Co" in t for t in shown), shown
        assert name in unescape(message["blocks"][1]["fields"][0]["text"])  # the invoice number field
    # "&amp;" in Workday is sent as "&amp;amp;", so Slack shows "&amp;", not "&"
    assert any("Evil &amp;amp; Co" in m["text"] for m in messages)


def test_workday_button_is_built_from_the_configured_base(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 1}, wid="a1b2c3/d4")
    delivery(db, fast_slack, workday_ui_url="https://wd5.myworkday.com/acme_fin/d/inst/{wid}.htmld").deliver_pending()
    seed(db, {"#finance-alerts": 1}, first=5)
    delivery(db, fast_slack, run_id="run-2").deliver_pending()  # unset: no button
    with_button, without = fast_slack.messages("finance-alerts")
    actions = [b for b in with_button["blocks"] if b["type"] == "actions"]
    assert actions[0]["elements"][0]["url"] == "https://wd5.myworkday.com/acme_fin/d/inst/a1b2c3%2Fd4.htmld"
    assert actions[0]["elements"][0]["text"]["text"] == "Open in Workday"
    links = [e for b in without["blocks"] if b["type"] == "actions" for e in b["elements"] if "url" in e]
    assert not links
    # Acknowledge / Snooze are there either way
    assert [e["action_id"] for b in without["blocks"] if b.get("block_id") == "mlc_alert_actions"
            for e in b["elements"]] == ["mlc_alert_ack", "mlc_alert_snooze_1h"]


# -------------------------------------------------------------------------------- Slack errors


def test_not_in_channel_joins_the_public_channel_then_posts(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    fast_slack.update_channel("approvals", is_member=False)
    seed(db, {"#approvals": 3})
    report = delivery(db, fast_slack).deliver_pending()
    assert len(report.posted) == 3 and not report.failed
    assert len(fast_slack.calls("conversations.join")) == 1
    assert statuses(db) == [("#approvals", "sent", 3)]


def test_a_private_channel_without_the_bot_fails_and_ops_is_told(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    fast_slack.add_channel("controllers", is_private=True, is_member=False)
    seed(db, {"#controllers": 2, "#finance-alerts": 2})
    report = delivery(db, fast_slack, ops_channel="#finance-ops").deliver_pending()
    assert report.dead_channels["#controllers"].startswith("not_in_channel")
    assert statuses(db) == [("#controllers", "failed", 2), ("#finance-alerts", "sent", 2), ("#finance-ops", "sent", 1)]
    [notice] = fast_slack.messages("finance-ops")
    assert "controllers" in notice["text"] and "not_in_channel" in notice["text"]


@pytest.mark.parametrize("error", ["channel_not_found", "is_archived"])
def test_a_dead_channel_fails_with_its_reason_ops_is_told_and_the_rest_go_on(
        tmp_path: Path, fast_slack: SlackSandbox, error: str) -> None:
    db = tmp_path / "mlc.duckdb"
    if error == "is_archived":
        fast_slack.add_channel("fy2023-close", is_archived=True)
        dead = "#fy2023-close"
    else:
        dead = "#no-such-channel"
    seed(db, {dead: 4, "#finance-alerts": 3, "#ap-overdue": 2})
    report = delivery(db, fast_slack, ops_channel="#finance-ops").deliver_pending()
    assert report.dead_channels == {dead: report.dead_channels[dead]} and error in report.dead_channels[dead]
    assert statuses(db) == sorted([(dead, "failed", 4), ("#finance-alerts", "sent", 3), ("#ap-overdue", "sent", 2),
                                   ("#finance-ops", "sent", 1)])
    reasons = rows(db, "SELECT DISTINCT last_error FROM alerts.deliveries WHERE status = 'failed'")
    assert len(reasons) == 1 and reasons[0][0].startswith(error)
    # the first refusal is enough: the channel's other alerts are not tried one by one
    assert sum(1 for c in fast_slack.calls("chat.postMessage") if c["error"] == error) == 1
    [notice] = fast_slack.messages("finance-ops")
    assert dead.lstrip("#") in notice["text"] and error in notice["text"] and "4 alerts" in notice["text"]
    # a later failure for the same channel goes into the first notice's thread, not the channel
    seed(db, {dead: 1}, first=50)
    delivery(db, fast_slack, run_id="run-2", ops_channel="#finance-ops").deliver_pending()
    first, second = fast_slack.messages("finance-ops")
    assert second["thread_ts"] == first["ts"]


@pytest.mark.parametrize("error", ["invalid_auth", "token_revoked", "account_inactive"])
def test_a_refused_token_stops_keeps_everything_pending_and_fails_clearly(
        tmp_path: Path, fast_slack: SlackSandbox, error: str) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 3, "#ap-overdue": 3, "#approvals": 3})
    refused = delivery(db, fast_slack)
    if error == "invalid_auth":  # a wrong token
        refused.client = make_client("xoxb-not-the-token", fast_slack.api_url, timeout=5)
    else:  # the app was uninstalled, or the bot user deactivated
        fast_slack.revoke_token(error)
    with pytest.raises(SlackAuthError, match=f"Slack refused the bot token \\({error}\\).*SLACK_BOT_TOKEN"):
        refused.deliver_pending()
    assert fast_slack.messages() == []
    assert [s for _, s, _ in statuses(db)] == ["pending"] * 3
    assert len(fast_slack.calls("chat.postMessage")) <= 3  # each channel stops at its first refusal
    fast_slack.restore_token()
    report = delivery(db, fast_slack, run_id="run-2").deliver_pending()
    assert len(report.posted) == 9 and len(posted_ids(fast_slack)) == 9


def test_a_revoked_token_is_refused_during_reconciliation_too(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 2})
    delivery(db, fast_slack, run_id="dead-run").claim()
    fast_slack.revoke_token()
    with pytest.raises(SlackAuthError, match="token_revoked"):
        delivery(db, fast_slack, run_id="run-2").deliver_pending(dead_runs={"dead-run"})
    assert {s for _, s, _ in statuses(db)} == {"sending"}  # untouched: still to be reconciled


def test_invalid_blocks_posts_the_plain_text_form_and_records_why(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 2})
    fast_slack.inject("chat.postMessage", error="invalid_blocks")
    report = delivery(db, fast_slack).deliver_pending()
    assert report.plain_text_fallbacks == 1 and len(report.posted) == 2
    plain, rich = fast_slack.messages("finance-alerts")
    assert plain["blocks"] is None and "High-value invoice: invoice INV-" in plain["text"] and rich["blocks"]
    why = rows(db, "SELECT last_error FROM alerts.deliveries WHERE last_error IS NOT NULL")
    assert why == [("invalid_blocks: sent as plain text",)]
    assert statuses(db) == [("#finance-alerts", "sent", 2)]


def test_server_errors_are_retried_with_backoff(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 1})
    fast_slack.inject("chat.postMessage", status=503, times=2)
    fast_slack.inject("chat.postMessage", error="internal_error", status=500)
    started = time.monotonic()
    report = delivery(db, fast_slack, backoff_seconds=0.2).deliver_pending()
    assert len(report.posted) == 1 and posted_ids(fast_slack).most_common(1)[0][1] == 1
    assert [c["status"] for c in fast_slack.calls("chat.postMessage")] == [503, 503, 500, 200]
    assert time.monotonic() - started >= 0.2 * (1 + 2 + 4) * 0.8  # 0.2, 0.4, 0.8 s (±20% jitter)


def test_slack_down_for_good_leaves_the_alert_pending(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 1})
    fast_slack.inject("chat.postMessage", status=502, times=10)
    report = delivery(db, fast_slack, max_attempts=3).deliver_pending()
    assert report.released == 1 and not report.failed
    assert rows(db, "SELECT status, last_error FROM alerts.deliveries") == [("pending", "Slack unavailable: HTTP 502")]


@pytest.mark.parametrize("fault", ["timeout", "dropped"])
def test_an_unanswered_post_is_found_in_history_not_posted_again(
        tmp_path: Path, fast_slack: SlackSandbox, fault: str) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 2})
    if fault == "timeout":
        fast_slack.inject("chat.postMessage", delay=1.5)
    else:
        fast_slack.inject("chat.postMessage", post_then_drop=True)
    report = delivery(db, fast_slack, timeout=1).deliver_pending()
    assert len(report.posted) == 2 and report.reconciled == 1
    assert set(posted_ids(fast_slack).values()) == {1} and len(fast_slack.messages()) == 2
    assert statuses(db) == [("#finance-alerts", "sent", 2)]


def test_a_timeout_where_nothing_landed_is_retried(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 1})
    fast_slack.inject("chat.postMessage", status=504, delay=1.5)  # slow, then a gateway error: not stored
    report = delivery(db, fast_slack, timeout=1).deliver_pending()
    assert len(report.posted) == 1 and len(fast_slack.messages()) == 1


# -------------------------------------------------------------------------------- pacing


def test_a_429_is_waited_out_for_its_retry_after(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 2, "#ap-overdue": 2})
    fast_slack.inject("chat.postMessage", status=429, retry_after=2)
    started = time.time()
    report = delivery(db, fast_slack).deliver_pending()
    assert report.rate_limited == 1 and not report.failed and len(report.posted) == 4
    first: dict[str, float] = {}
    for message in fast_slack.messages():
        first.setdefault(message["channel_name"], message["received_at"] - started)
    # the limited channel waited its 2 s; the other went on at its own pace
    assert max(first.values()) >= 1.95 and min(first.values()) < 1.0


def test_pacing_keeps_each_channel_under_its_limit_in_parallel(tmp_path: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    with SlackSandbox(seconds_per_message_per_channel=0.2) as slack:
        seed(db, {"#finance-alerts": 8, "#ap-overdue": 8, "#approvals": 8})
        started = time.monotonic()
        report = delivery(db, slack, seconds_per_message=0.2).deliver_pending()
        elapsed = time.monotonic() - started
        assert len(report.posted) == 24 and slack.stats["ratelimited"] == 0
    # 8 per channel at 0.2 s each, channels in parallel: about 1.5 s, not 24 x 0.2 = 4.8 s
    assert elapsed < 3.0


def test_a_workspace_wide_limit_pauses_every_channel(tmp_path: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    with SlackSandbox(seconds_per_message_per_channel=FAST, workspace_messages_per_minute=4,
                      workspace_window_seconds=1.0) as slack:
        seed(db, {"#finance-alerts": 4, "#ap-overdue": 4, "#approvals": 4})
        report = delivery(db, slack).deliver_pending()
        assert len(report.posted) == 12 and not report.failed
        assert report.workspace_pauses >= 1
        assert set(posted_ids(slack).values()) == {1}
        # the pause keeps the channels from hammering Slack: far fewer 429s than posts
        assert slack.stats["workspace_ratelimited"] <= 12


# -------------------------------------------------------------------------------- floods and repeats


def test_a_burst_becomes_one_digest_with_every_alert_in_its_thread(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    burst = seed(db, {"#finance-alerts": 60})
    seed(db, {"#ap-overdue": 3}, first=100)
    report = delivery(db, fast_slack, digest_threshold=20, digest_batch=25).deliver_pending()
    assert report.digests == 1 and len(report.posted) == 63 and report.messages == 1 + 3 + 3
    top = [m for m in fast_slack.messages("finance-alerts") if m["thread_ts"] is None]
    assert len(top) == 1 and top[0]["metadata"]["event_type"] == DIGEST_EVENT_TYPE
    assert "60 finance alerts" in top[0]["text"]
    assert "and 50 more in the thread" in json.dumps(top[0]["blocks"])
    replies = [m for m in fast_slack.messages("finance-alerts") if m["thread_ts"] == top[0]["ts"]]
    assert len(replies) == 3
    counts = posted_ids(fast_slack)
    assert all(counts[(a, "finance-alerts")] == 1 for a in burst) and set(counts.values()) == {1}
    recorded = rows(db, "SELECT DISTINCT posted_as, thread_ts FROM analytics.alerts WHERE channel = '#finance-alerts'")
    assert recorded == [("digest", top[0]["ts"])]
    assert len(fast_slack.messages("ap-overdue")) == 3  # under the threshold: one message each


def test_a_repeat_goes_into_the_first_messages_thread_within_the_interval(
        tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 1}, wid="WID-R", key="a")
    delivery(db, fast_slack).deliver_pending()
    seed(db, {"#finance-alerts": 1}, wid="WID-R", key="b", amount="250000.0000")  # same invoice, new amount
    delivery(db, fast_slack, run_id="run-2").deliver_pending()
    first, repeat = fast_slack.messages("finance-alerts")
    assert first["thread_ts"] is None and repeat["thread_ts"] == first["ts"]
    assert rows(db, "SELECT posted_as FROM alerts.deliveries ORDER BY sent_at") == [("message",), ("repeat",)]
    seed(db, {"#finance-alerts": 1}, wid="WID-R", key="c")  # with no repeat interval: its own message again
    delivery(db, fast_slack, run_id="run-3", repeat_interval=timedelta(0)).deliver_pending()
    assert fast_slack.messages("finance-alerts")[-1]["thread_ts"] is None


def _invoice_row(db: Path, wid: str, hour: int, approval: str, payment: str) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(
            "INSERT INTO raw.supplier_invoices (window_start, window_end, as_of, wid, invoice_id, invoice_number, "
            "approval_status, payment_status, on_hold, updated_at) VALUES (?, ?, ?, ?, 'SI-000001', 'INV-1', ?, ?, "
            "false, ?)", [datetime(2026, 11, 29, hour), datetime(2026, 11, 29, hour + 1),
                          datetime(2026, 11, 29, hour + 1), wid, approval, payment, datetime(2026, 11, 29, hour, 30)])


def test_a_records_later_change_updates_the_original_and_replies_in_its_thread(
        tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 1}, wid="WID-U")
    _invoice_row(db, "WID-U", 10, "IN_PROGRESS", "UNPAID")
    delivery(db, fast_slack).deliver_pending()
    assert delivery(db, fast_slack, run_id="run-2").deliver_pending().updated == 0  # nothing changed yet
    # approved and paid in a later window, and the status-change rule raised an alert for the approval
    _invoice_row(db, "WID-U", 12, "APPROVED", "PAID")
    seed(db, {"#finance-alerts": 1}, rule="invoice_status_change", wid="WID-U", change="approved",
         field="approval_status", before="IN_PROGRESS", after="APPROVED", approval_status="APPROVED")
    report = delivery(db, fast_slack, run_id="run-3").deliver_pending()
    assert report.updated == 1 and report.thread_replies == 1
    original, reply = fast_slack.messages("finance-alerts")
    assert reply["thread_ts"] == original["ts"]
    assert "approval status IN_PROGRESS → *APPROVED*" in original["text"]
    assert "payment status UNPAID → *PAID*" in original["text"]
    assert len(original["edits"]) == 1
    fields = json.dumps(original["blocks"])
    assert "APPROVED" in fields and "PAID" in fields
    assert delivery(db, fast_slack, run_id="run-4").deliver_pending().updated == 0  # updated once only


# -------------------------------------------------------------------------------- exactly once


def test_rows_left_sending_by_a_dead_run_are_reconciled_not_reposted(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 3})
    dead = delivery(db, fast_slack, run_id="dead-run")
    claims = dead.claim()
    # it posted the first one, then died before recording it
    dead._post_single(claims[0].__class__(**{**claims[0].__dict__}))
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE alerts.deliveries SET status = 'sending' WHERE alert_id = ?", [claims[0].alert_id])
    live = delivery(db, fast_slack, run_id="run-2")
    report = live.deliver_pending()
    assert report.reconciled == 0  # the dead run's lease has not lapsed and nobody said it died
    report = delivery(db, fast_slack, run_id="run-3").deliver_pending(dead_runs={"dead-run"})
    assert report.reconciled == 3 and len(report.posted) == 2
    assert set(posted_ids(fast_slack).values()) == {1} and len(posted_ids(fast_slack)) == 3
    assert statuses(db) == [("#finance-alerts", "sent", 3)]


def test_a_lapsed_lease_is_reconciled_without_being_told(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    seed(db, {"#finance-alerts": 2})
    dead = delivery(db, fast_slack, run_id="dead-run")
    dead._start_lease()  # a heartbeat thread that dies with the "process"
    dead._beat_stop.set()
    dead.claim()
    time.sleep(0.3)
    report = delivery(db, fast_slack, run_id="run-2", stale_after=timedelta(seconds=0.2)).deliver_pending()
    assert report.reconciled == 2 and len(report.posted) == 2


def test_two_runs_at_once_never_post_the_same_alert_twice(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    alerts = seed(db, {"#finance-alerts": 15, "#ap-overdue": 15, "#approvals": 15})
    reports = []

    def run(name: str) -> None:
        reports.append(delivery(db, fast_slack, run_id=name, digest_threshold=100).deliver_pending())

    threads = [threading.Thread(target=run, args=(f"run-{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    counts = posted_ids(fast_slack)
    assert len(counts) == len(alerts) and set(counts.values()) == {1}
    assert sum(len(r.posted) for r in reports) == len(alerts)


def test_a_forced_resend_posts_again_and_keeps_the_old_ts(tmp_path: Path, fast_slack: SlackSandbox) -> None:
    db = tmp_path / "mlc.duckdb"
    alerts = seed(db, {"#finance-alerts": 2})
    delivery(db, fast_slack).deliver_pending()
    assert delivery(db, fast_slack, run_id="run-2").deliver_pending().posted == []  # replay: nothing new
    old = rows(db, "SELECT alert_id, slack_ts FROM alerts.deliveries ORDER BY 1")
    assert resend(Warehouse(db), date(2026, 11, 29)) == 2
    assert resend(Warehouse(db), date(2026, 11, 28)) == 0
    report = delivery(db, fast_slack, run_id="run-3").deliver_pending()
    assert len(report.posted) == 2 and all(p.posted_as == "message" for p in report.posted)
    assert posted_ids(fast_slack) == Counter({(a, "finance-alerts"): 2 for a in alerts})
    assert rows(db, "SELECT alert_id, slack_ts FROM alerts.delivery_history ORDER BY 1") == old
    assert rows(db, "SELECT DISTINCT generation FROM alerts.deliveries") == [(1,)]
    assert [m["metadata"]["event_payload"].get("n") for m in fast_slack.messages()] == [None, None, 1, 1]


# -------------------------------------------------------------------------------- message construction


def test_digest_and_batches_stay_within_block_kit_limits_for_any_input() -> None:
    from slack_sdk.models.blocks import Block

    from mlc_dagster.sandbox.slack import validate_blocks
    from mlc_dagster.slack.messages import DigestItem, batch_message, digest_message

    huge = "<!channel> " + "Ü" * 5000
    items = [DigestItem(f"high_value_invoice:{n:020d}", "high_value_invoice",
                        invoice(n, supplier_name=huge, invoice_number=huge), window="2026-11-29 10:00–11:00 UTC",
                        workday_link=f"https://wd.example/{n}") for n in range(1000)]
    digest = digest_message("digest:x", items, top=10, mention="<!here>")
    batch = batch_message("digest:x", items[:49], first=1, total=1000)
    for message in (digest, batch):
        assert validate_blocks(message.blocks) == []
        for block in message.blocks:
            Block.parse(block).validate_json()  # type: ignore[union-attr]
        assert "<!channel>" not in json.dumps(message.blocks) + message.text
        assert len(message.text) <= 39_000
    assert "1,000 finance alerts" in digest.text and "and 990 more in the thread" in json.dumps(digest.blocks)
    assert digest.text.startswith("<!here>")  # the subscription's own mention still pings
    with pytest.raises(ValueError):
        batch_message("digest:x", items[:50], first=1, total=1000)


def test_every_new_rule_has_a_valid_escaped_message() -> None:
    from mlc_dagster.sandbox.slack import validate_blocks
    from mlc_dagster.slack.messages import alert_message, workday_url

    samples: dict[str, dict[str, Any]] = {
        "polling_behind": {"entity": "supplier_invoices", "state": "behind", "newest_window": "x",
                           "expected_by": "y", "behind_by": "1 h", "allowance": "60 + 30"},
        "delivery_failed": {"channel": "#gone <!channel>", "reason": "channel_not_found", "alerts": 3,
                            "hint": "fix it"},
    }
    for rule, details in samples.items():
        message = alert_message("a", rule, details, workday_link=workday_url("https://wd.example", "W&1"))
        assert validate_blocks(message.blocks) == [] and "<!channel>" not in json.dumps(message.blocks)
    recovered = alert_message("a", "polling_behind", {**samples["polling_behind"], "state": "recovered"})
    assert recovered.blocks[0]["text"]["text"] == "Polling recovered: supplier_invoices"
    assert workday_url(None, "W1") is None and workday_url("https://wd.example/", None) is None
    assert workday_url("https://wd.example/", "<W 1>") == "https://wd.example/%3CW%201%3E"
    header = alert_message("a", "overdue_payment", invoice(1, invoice_number="A&B <x>", days_overdue=3))
    assert header.blocks[0]["text"]["text"] == "Overdue 3 days: invoice A&amp;B &lt;x&gt;"


def test_the_dagster_run_reconciles_a_finished_runs_rows_at_once_and_leaves_live_claims(
        tmp_path: Path, fast_slack: SlackSandbox, workday: WorkdaySandbox, subscriptions_file: Path) -> None:
    import dagster as dg

    from mlc_dagster.defs.resources import SlackBotResource

    from .pipeline import defs_with, metadata, resources

    db = tmp_path / "mlc.duckdb"

    def defs_for(token: str) -> dg.Definitions:
        return defs_with({**resources(workday, None, db, subscriptions_file), "slack": SlackBotResource(
            bot_token=token, api_url=fast_slack.api_url, seconds_per_message=FAST)})

    with dg.instance_for_test() as instance:
        seed(db, {"#finance-alerts": 3})
        failed = defs_for("xoxb-wrong").resolve_job_def("slack_delivery").execute_in_process(
            instance=instance, raise_on_error=False)
        assert not failed.success  # invalid_auth: everything kept pending
        # as if that run had claimed the rows and died while posting; another process holds one more
        delivery(db, fast_slack, run_id=failed.run_id).claim()
        seed(db, {"#ap-overdue": 1}, first=10)
        delivery(db, fast_slack, run_id="proc-live").claim()
        ok = defs_for(fast_slack.bot_token).resolve_job_def("slack_delivery").execute_in_process(instance=instance)
        sent = metadata(ok, ["slack", "alert_deliveries"])
    assert sent["reconciled"] == 3 and sent["messages_posted"] == 3
    assert statuses(db) == [("#ap-overdue", "sending", 1), ("#finance-alerts", "sent", 3)]
