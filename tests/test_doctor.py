"""`mlc-dagster doctor` names each failure class distinctly, against deliberately misconfigured sandboxes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlc_dagster.doctor import run_doctor
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def settings(workday: WorkdaySandbox, slack: SlackSandbox, subscriptions_file: Path,
             tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {
        "WORKDAY_SOAP_URL": workday.soap_url, "WORKDAY_USERNAME": workday.username,
        "WORKDAY_PASSWORD": workday.password, "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_API_URL": slack.api_url,
        "MLC_SUBSCRIPTIONS": str(subscriptions_file), "MLC_DUCKDB_PATH": str(tmp_path / "w.duckdb"),
    }


def failures(settings: dict[str, str]) -> dict[str, str]:
    return {c.name: f"{c.detail} | {c.fix}" for c in run_doctor(settings.get) if not c.ok}


def test_a_good_configuration_passes(settings: dict[str, str]) -> None:
    assert failures(settings) == {}


def test_wrong_password(settings: dict[str, str]) -> None:
    found = failures({**settings, "WORKDAY_PASSWORD": "wrong"})
    assert list(found) == ["workday Resource_Management/Get_Suppliers"]
    assert "authentication failed" in found["workday Resource_Management/Get_Suppliers"]
    assert "expired" in found["workday Resource_Management/Get_Suppliers"]


def test_missing_permission_names_the_operation(settings: dict[str, str], workday: WorkdaySandbox) -> None:
    workday.inject("Get_Journals", "processing")
    found = failures(settings)
    assert list(found) == ["workday Financial_Management/Get_Journals"]
    assert "not authorized" in found["workday Financial_Management/Get_Journals"]
    assert "security group" in found["workday Financial_Management/Get_Journals"]


def test_bad_slack_token(settings: dict[str, str]) -> None:
    found = failures({**settings, "SLACK_BOT_TOKEN": "xoxb-wrong"})
    assert list(found) == ["slack auth.test"] and "invalid_auth" in found["slack auth.test"]


def test_bot_not_in_a_private_channel(settings: dict[str, str], slack: SlackSandbox) -> None:
    slack.update_channel("finance-alerts", is_member=False)
    slack.add_channel("secret-finance", is_member=False, is_private=True)
    Path(settings["MLC_SUBSCRIPTIONS"]).write_text(
        "subscriptions:\n  - rule: payment_run\n    channel: '#secret-finance'\n"
        "  - rule: payment_run\n    channel: '#finance-alerts'\n")
    found = failures(settings)
    assert list(found) == ["slack channel #secret-finance"]
    assert "/invite" in found["slack channel #secret-finance"]


def test_unreachable_host(settings: dict[str, str]) -> None:
    found = failures({**settings, "WORKDAY_SOAP_URL": "http://127.0.0.1:9/ccx/service/acme_fin"})
    assert list(found) == ["workday Resource_Management/Get_Suppliers"]
    assert "cannot reach" in found["workday Resource_Management/Get_Suppliers"]


def test_the_command_prints_a_table_and_fails_with_status_1(settings: dict[str, str]) -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "mlc-dagster"), "doctor"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **settings, "WORKDAY_PASSWORD": "wrong"})
    assert result.returncode == 1
    assert "FAIL  workday Resource_Management/Get_Suppliers" in result.stdout
    assert "ok    slack auth.test" in result.stdout and "to fix" in result.stdout.splitlines()[-1]
