"""Exactly once, proven the hard way: delivery processes killed with SIGKILL at random moments, then a
clean run; the Slack sandbox must hold every alert x channel exactly once, and the outbox must agree.

MLC_KILL_TRIALS (default 20) and MLC_KILL_SEED change the number of kills and the moments chosen.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from mlc_dagster.sandbox.slack import SlackSandbox

from .test_delivery import posted_ids, seed

TRIALS = int(os.environ.get("MLC_KILL_TRIALS", "20"))
SPEED = 0.02  # seconds per message per channel, in the sandbox and the killed processes
CHANNELS = ["#finance-alerts", "#ap-overdue", "#approvals", "#reconciliation"]


def start(db: Path, slack: SlackSandbox, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    process = subprocess.Popen(
        [sys.executable, "-m", "mlc_dagster.slack", "--db", str(db), "--api-url", slack.api_url,
         "--token", slack.bot_token, "--seconds-per-message", str(SPEED), "--heartbeat", "0.1",
         "--digest-threshold", "15", "--digest-batch", "4", "--timeout", "5", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("ready"), line + (process.stderr.read() if process.stderr else "")
    return process


def in_flight(db: Path, slack: SlackSandbox) -> set[tuple[str, str]]:
    """Alerts in Slack whose delivery row still says `sending`: posted, answered, not yet recorded."""
    with duckdb.connect(str(db), read_only=True) as con:
        sending = {(a, c.lstrip("#")) for a, c in con.execute(
            "SELECT alert_id, channel FROM alerts.deliveries WHERE status = 'sending'").fetchall()}
    return sending & set(posted_ids(slack))


def assert_exactly_once(db: Path, slack: SlackSandbox) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        outbox = con.execute("SELECT alert_id, channel, status, slack_ts FROM alerts.deliveries").fetchall()
    in_slack = posted_ids(slack)
    expected = {(alert, channel.lstrip("#")) for alert, channel, _, _ in outbox}
    duplicates = {k: n for k, n in in_slack.items() if n > 1}
    assert not duplicates, f"posted more than once: {duplicates}"
    assert set(in_slack) == expected, f"missing from Slack: {expected - set(in_slack)}"
    assert {status for _, _, status, _ in outbox} == {"sent"}
    stamps = {(m["channel_name"], m["ts"]) for m in slack.messages()}
    assert all((channel.lstrip("#"), ts) in stamps for _, channel, _, ts in outbox)
    return len(outbox)


def test_sigkill_at_random_moments_then_every_alert_is_in_slack_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("MLC_KILL_SEED", "5")))
    db = tmp_path / "mlc.duckdb"
    first = 0
    kills = 0
    unrecorded = 0  # alerts Slack holds whose delivery was still `sending` when its process died
    with SlackSandbox(seconds_per_message_per_channel=SPEED) as slack:
        seed(db, {"#finance-alerts": 30, "#ap-overdue": 12, "#approvals": 12, "#reconciliation": 12})
        first = 1000
        trial = 0
        while kills < TRIALS and trial < 2 * TRIALS:  # a process that finished first is not a kill
            trial += 1
            # new alerts keep landing between runs; now and then a burst that makes a digest
            burst = {CHANNELS[trial % len(CHANNELS)]: 20} if trial % 4 == 0 else {}
            more = {channel: rng.randint(0, 6) for channel in CHANNELS} | burst
            seed(db, more, first=first)
            first += 1000
            posted_before = slack.stats["posted"]
            process = start(db, slack, "--stale-after", "0.3")
            if trial % 2:  # any moment: reconciling, claiming, posting, recording
                time.sleep(rng.uniform(0.0, 1.2))
            else:  # a moment while it posts, where "Slack answered, we did not record it yet" happens
                deadline = time.monotonic() + 10
                while slack.stats["posted"] == posted_before and time.monotonic() < deadline:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.4))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
            unrecorded += len(in_flight(db, slack))
            time.sleep(0.35)  # the killed run's lease lapses (its heartbeat is 0.1 s, the lease 0.3 s)
        final = start(db, slack, "--stale-after", "0.3")
        out, err = final.communicate(timeout=120)
        assert final.returncode == 0, out + err
        delivered = assert_exactly_once(db, slack)
    assert kills == TRIALS, f"only {kills} of {trial} processes were still running when killed"
    assert unrecorded > 0, "no kill landed between Slack's answer and the outbox record"
    assert delivered > 300
    print(f"{kills} kills, {unrecorded} alerts posted but unrecorded at a kill, {delivered} delivered once")


def test_two_processes_at_once_never_post_the_same_alert_twice(tmp_path: Path) -> None:
    db = tmp_path / "mlc.duckdb"
    with SlackSandbox(seconds_per_message_per_channel=SPEED) as slack:
        seed(db, {"#finance-alerts": 40, "#ap-overdue": 10, "#approvals": 10, "#reconciliation": 10})
        processes = [start(db, slack) for _ in range(2)]
        for process in processes:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, out + err
        assert assert_exactly_once(db, slack) == 70
