"""What the benchmarks (and the tests' PostgreSQL fixtures) share: where figures are written, and
scratch PostgreSQL databases."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def publish(name: str, text: str, figures: Any = None, json_path: str | None = None) -> None:
    """Write a benchmark's markdown to bench/out/<name>.md (and its figures as JSON where asked), and
    print it."""
    OUT.mkdir(exist_ok=True)
    (OUT / f"{name}.md").write_text(text + "\n")
    if json_path:
        Path(json_path).write_text(json.dumps(figures, indent=1, default=str))
    print(text)


def postgres_reachable(url: str) -> bool:
    import psycopg2

    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """A new database on the server at `server_url`, its URL yielded, dropped afterwards."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    params = parse_dsn(server_url)
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
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
