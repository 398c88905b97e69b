"""`mlc-dagster replay --resend` as an operator runs it: delivery re-sends nothing, --resend everything."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox

from .conftest import DAY, SUBSCRIPTIONS_YAML
from .test_delivery import posted_ids, rows

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "mlc-dagster")


def test_replay_sends_only_what_was_not_delivered_and_resend_forces_it(
        tmp_path: Path, workday: WorkdaySandbox) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    subscriptions = tmp_path / "subscriptions.yaml"
    subscriptions.write_text(SUBSCRIPTIONS_YAML)
    db = tmp_path / "mlc.duckdb"
    with SlackSandbox() as slack:
        env = {**{k: v for k, v in os.environ.items() if "proxy" not in k.lower()},
               **workday.settings(rest=False), **slack.settings(),
               "DAGSTER_HOME": str(home), "MLC_DUCKDB_PATH": str(db), "MLC_SUBSCRIPTIONS": str(subscriptions)}

        def cli(*args: str) -> str:
            done = subprocess.run([CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        first = cli("replay", "--day", DAY.isoformat())
        sent = posted_ids(slack)
        assert sent and set(sent.values()) == {1}, first
        assert "0 posted" in cli("deliver")  # delivering again posts nothing already delivered
        assert posted_ids(slack) == sent
        again = cli("replay", "--day", DAY.isoformat(), "--resend")
        assert f"--resend: {len(sent)} deliveries" in again and f"{len(sent)} posted" in again
        assert posted_ids(slack) == Counter({key: 2 for key in sent})
        assert rows(db, "SELECT count(*) FROM alerts.delivery_history") == [(len(sent),)]
