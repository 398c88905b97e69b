"""The command line as a user runs it: a real process, real sandboxes, real Dagster runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from mlc_dagster.workday.entities import ENTITIES

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).parent / "mlc-dagster")


def run(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_demo_posts_high_value_invoices_and_leaves_a_warehouse(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    result = run("demo", "--dir", str(folder), "--scale", "0.05", "--day", "2026-11-29")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The Slack sandbox received" in result.stdout
    posted = [line for line in result.stdout.splitlines() if line.strip().startswith("#finance-alerts ts=")]
    assert posted and all("High-value invoice" in line for line in posted)
    with duckdb.connect(str(folder / "mlc.duckdb"), read_only=True) as con:
        sent = con.execute("SELECT count(*) FROM analytics.alerts WHERE status = 'sent'").fetchall()[0][0]
    assert sent == len([line for line in result.stdout.splitlines() if " ts=" in line])
    # The audit trail read back from run history agrees with what the Slack sandbox received.
    received = {(line.split()[0], line.split("ts=")[1].split(":")[0]) for line in result.stdout.splitlines()
                if " ts=" in line}
    audit = run("audit", "--since", "1d", "--format", "json", env={"DAGSTER_HOME": str(folder / "dagster_home")})
    assert audit.returncode == 0, audit.stderr
    trail = json.loads(audit.stdout)
    assert {(m["channel"], m["ts"]) for m in trail["messages"]} == received
    polled = {p["asset"]: p for p in trail["polls"]}
    assert polled["workday/supplier_invoices"]["windows"] == 24 and polled["workday/supplier_invoices"]["records"] > 0
    assert set(polled) == {f"workday/{name}" for name in ENTITIES}


def test_commands_fail_with_one_clear_line(tmp_path: Path) -> None:
    env = {k: "" for k in ("DAGSTER_HOME",)}
    result = run("deliver", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "mlc-dagster deliver: DAGSTER_HOME is not set: point it at the Dagster instance folder "
        "(the one holding dagster.yaml)"]
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    result = run("replay", "--day", "29-11-2026", env={"DAGSTER_HOME": str(home)})
    assert result.returncode == 2 and "expected YYYY-MM-DD" in result.stderr
    result = run("deliver", env={"DAGSTER_HOME": str(home), "SLACK_BOT_TOKEN": "",
                                 "MLC_DUCKDB_PATH": str(tmp_path / "w.duckdb")})
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "SLACK_BOT_TOKEN" in result.stderr
