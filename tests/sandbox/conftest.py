"""One Workday sandbox per test module, put back in its default state after every test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox

DAY = date(2026, 11, 29)
PASSWORD = "sandbox-Passw0rd!"
REFRESH_TOKEN = "sandbox-refresh-token"


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return Scenario.generate(seed=7, scale=0.1, day=DAY)


@pytest.fixture(scope="module")
def running_sandbox(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    with WorkdaySandbox(scenario) as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(running_sandbox: WorkdaySandbox) -> Iterator[WorkdaySandbox]:
    yield running_sandbox
    running_sandbox.clear_faults()
    running_sandbox.set_password(PASSWORD)
    running_sandbox.issue_refresh_token(REFRESH_TOKEN)
    running_sandbox.reset_counters()
