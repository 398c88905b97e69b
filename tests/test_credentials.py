"""The encrypted credential store, the `credentials` command, and token lifecycles that write to it."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from cryptography.fernet import Fernet

from mlc_dagster.cli import main
from mlc_dagster.credentials import (
    CredentialKeyError,
    CredentialStore,
    MissingCredentialError,
    TamperedStoreError,
    WrongKeyError,
)
from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox

SECRETS = {"WORKDAY_PASSWORD": "pw-Ünïcode-&<>\"'", "WORKDAY_CLIENT_SECRET": "cs-123",
           "SLACK_BOT_TOKEN": "xoxb-1-abc", "SLACK_SIGNING_SECRET": "ss-456"}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean credential environment: the store in tmp_path, no key, no secrets set."""
    for name in [*SECRETS, "WORKDAY_REFRESH_TOKEN", "MLC_SECRET_KEY", "MLC_SECRET_KEY_FILE", "SLACK_CLIENT_ID",
                 "SLACK_CLIENT_SECRET", "SLACK_REFRESH_TOKEN", "SLACK_TOKEN_EXPIRES_AT"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLC_CREDENTIALS_PATH", str(tmp_path / "store" / "credentials.enc"))
    return os.environ  # type: ignore[return-value]


def test_round_trip_with_env_precedence(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    store = CredentialStore()
    store.set_many(SECRETS)
    raw = store.path.read_bytes()
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    for value in SECRETS.values():
        assert value.encode() not in raw and json.dumps(value)[1:-1].encode() not in raw
    assert {name: store.get(name) for name in SECRETS} == SECRETS
    assert [entry.name for entry in store.catalog()] == sorted(SECRETS)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")
    assert store.get("SLACK_BOT_TOKEN") == "xoxb-from-env", "the environment wins"
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    assert store.get("SLACK_BOT_TOKEN") == "xoxb-1-abc", "an empty variable is unset"
    assert store.delete("SLACK_BOT_TOKEN") and not store.delete("SLACK_BOT_TOKEN")
    assert store.get("SLACK_BOT_TOKEN") is None
    with pytest.raises(MissingCredentialError, match="credentials set SLACK_BOT_TOKEN"):
        store.require("SLACK_BOT_TOKEN")
    assert "xoxb" not in repr(store)


def test_a_wrong_key_or_a_tampered_file_is_a_clear_error(env: dict[str, str], monkeypatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MLC_SECRET_KEY", key)
    store = CredentialStore()
    store.set_many(SECRETS)
    good = store.path.read_bytes()

    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    with pytest.raises(WrongKeyError) as wrong:
        store.get("WORKDAY_PASSWORD")
    assert str(store.path) in str(wrong.value) and "different key" in str(wrong.value)
    monkeypatch.setenv("MLC_SECRET_KEY", "not-a-key")
    with pytest.raises(CredentialKeyError, match="MLC_SECRET_KEY is not a valid key"):
        store.get("WORKDAY_PASSWORD")
    monkeypatch.setenv("MLC_SECRET_KEY", key)

    envelope = json.loads(good)
    token = bytearray(envelope["data"].encode())
    token[60] = ord("A") if token[60] != ord("A") else ord("B")
    store.path.write_text(json.dumps({**envelope, "data": token.decode()}))
    with pytest.raises(TamperedStoreError, match="integrity check"):
        store.get("WORKDAY_PASSWORD")
    store.path.write_bytes(good[: len(good) // 2])
    with pytest.raises(TamperedStoreError, match="not a readable credential store"):
        store.get("WORKDAY_PASSWORD")
    store.path.write_bytes(good)
    assert store.get("WORKDAY_PASSWORD") == SECRETS["WORKDAY_PASSWORD"]
    # Each error names what to do and never a value.
    for error in (wrong.value,):
        assert not any(value in str(error) for value in SECRETS.values())


def test_rotating_the_key_keeps_every_credential_readable(env: dict[str, str], monkeypatch) -> None:
    # Key file flavour: the first write makes the key file (0600) beside the store.
    store = CredentialStore()
    store.set_many(SECRETS)
    key_file = store.key_file
    assert key_file == store.path.with_name("credentials.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    old_key = key_file.read_bytes().strip()
    new_key = store.rotate_key()
    assert key_file.read_bytes().strip() == new_key != old_key
    assert {name: CredentialStore().get(name) for name in SECRETS} == SECRETS
    monkeypatch.setenv("MLC_SECRET_KEY", old_key.decode())
    with pytest.raises(WrongKeyError, match="different key"):
        CredentialStore().get("WORKDAY_PASSWORD")
    monkeypatch.delenv("MLC_SECRET_KEY")

    # A rotation cut short after the store was re-encrypted: the pending key finishes it.
    pending = key_file.with_name(key_file.name + ".new")
    newest = Fernet.generate_key()
    pending.write_bytes(newest + b"\n")
    pending.chmod(0o600)
    entries = store._load()
    store._save(entries, newest)
    assert CredentialStore().get("SLACK_SIGNING_SECRET") == SECRETS["SLACK_SIGNING_SECRET"]
    assert key_file.read_bytes().strip() == newest and not pending.exists()


def test_a_key_file_others_can_read_is_refused(env: dict[str, str], monkeypatch, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_bytes(Fernet.generate_key())
    key_file.chmod(0o644)
    monkeypatch.setenv("MLC_SECRET_KEY_FILE", str(key_file))
    with pytest.raises(CredentialKeyError, match="chmod 600"):
        CredentialStore().set("WORKDAY_PASSWORD", "x")
    key_file.chmod(0o600)
    CredentialStore().set("WORKDAY_PASSWORD", "x")
    assert CredentialStore().get("WORKDAY_PASSWORD") == "x"
    assert not CredentialStore().path.with_name("credentials.key").exists()


def test_concurrent_writers_in_two_processes_lose_nothing(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    CredentialStore().set("SEED", "x")
    script = ("import sys; from mlc_dagster.credentials import CredentialStore\n"
              "for i in range(25): CredentialStore().set(f'P{sys.argv[1]}_{i}', str(i))")
    workers = [subprocess.Popen([sys.executable, "-c", script, str(n)]) for n in range(2)]
    assert [w.wait(60) for w in workers] == [0, 0]
    assert len(CredentialStore().catalog()) == 51


def test_a_value_rotated_away_in_the_environment_gives_way(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SLACK_REFRESH_TOKEN", "xoxe-1-first")
    store = CredentialStore()
    store.set("SLACK_REFRESH_TOKEN", "xoxe-1-second", replaces="xoxe-1-first")
    assert store.get("SLACK_REFRESH_TOKEN") == "xoxe-1-second"
    monkeypatch.setenv("SLACK_REFRESH_TOKEN", "xoxe-1-regenerated-by-an-admin")
    assert store.get("SLACK_REFRESH_TOKEN") == "xoxe-1-regenerated-by-an-admin"


# -- the command ----------------------------------------------------------------------------------


def cli(capsys, *args: str, stdin: str = "") -> tuple[int, str, str]:
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(args))
    finally:
        sys.stdin = sys.__stdin__
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_credentials_command(env: dict[str, str], monkeypatch, capsys, tmp_path: Path) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MLC_SECRET_KEY", key)
    assert cli(capsys, "credentials", "set", "WORKDAY_PASSWORD", stdin="s3cret-pw\n")[0] == 0
    assert cli(capsys, "credentials", "set", "SLACK_BOT_TOKEN", stdin="xoxb-cli-token")[0] == 0
    assert cli(capsys, "credentials", "set", "lower", stdin="x")[0] == 1
    assert CredentialStore().get("WORKDAY_PASSWORD") == "s3cret-pw"
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env")
    code, out, _ = cli(capsys, "credentials", "list")
    assert code == 0 and "WORKDAY_PASSWORD" in out and "overridden by the environment" in out
    assert "s3cret-pw" not in out and "xoxb" not in out
    monkeypatch.delenv("SLACK_BOT_TOKEN")

    code, out, _ = cli(capsys, "credentials", "rotate-key")
    new_key = out.splitlines()[1]
    assert code == 0 and new_key != key and "re-encrypted 2 credentials" in out
    code, _, err = cli(capsys, "credentials", "list")
    assert code == 1 and len(err.strip().splitlines()) == 1 and "different key" in err
    monkeypatch.setenv("MLC_SECRET_KEY", new_key)
    assert CredentialStore().get("SLACK_BOT_TOKEN") == "xoxb-cli-token"
    key_file = tmp_path / "next.key"
    code, out, _ = cli(capsys, "credentials", "rotate-key", "--key-file", str(key_file))
    assert code == 0 and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    monkeypatch.setenv("MLC_SECRET_KEY", key_file.read_text().strip())
    assert CredentialStore().get("WORKDAY_PASSWORD") == "s3cret-pw"

    assert cli(capsys, "credentials", "delete", "WORKDAY_PASSWORD")[0] == 0
    code, _, err = cli(capsys, "credentials", "delete", "WORKDAY_PASSWORD")
    assert code == 1 and "not in the credential store" in err


# -- token lifecycles -----------------------------------------------------------------------------


def test_a_rotated_workday_refresh_token_replaces_the_stored_one(env: dict[str, str], monkeypatch,
                                                                 scenario: Scenario, tmp_path: Path) -> None:
    from mlc_dagster.defs.resources import WorkdayResource

    from .test_workday_rest import ORGANIZATIONS  # no registry entity reads over REST today

    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    day = datetime(2026, 11, 29, tzinfo=UTC)
    with WorkdaySandbox(scenario, rotate_refresh_tokens=True, access_token_lifetime=3600) as sandbox:
        first = sandbox.refresh_token
        monkeypatch.setenv("WORKDAY_REFRESH_TOKEN", first)  # the operator's original, in the environment
        monkeypatch.setenv("WORKDAY_CLIENT_SECRET", sandbox.client_secret)
        for _run in range(2):  # two runs, each with its own resource: each refreshes once, each rotates
            resource = WorkdayResource(soap_url=sandbox.soap_url, username=sandbox.username, password="unused",
                                       rest_url=sandbox.rest_url, token_url=sandbox.token_url,
                                       client_id=sandbox.client_id, rest_entities=[ORGANIZATIONS.name])
            result = resource.reader(ORGANIZATIONS).fetch_window(ORGANIZATIONS, day, day + timedelta(days=1))
            assert result.records == len(scenario.cost_centers)
        store = CredentialStore()
        assert store.stored("WORKDAY_REFRESH_TOKEN") == sandbox.refresh_token != first
        assert store.get("WORKDAY_REFRESH_TOKEN") == sandbox.refresh_token, "the dead one in the env gives way"
        assert sandbox.token_requests == 2


class FakeSlackOAuth:
    """oauth.v2.access with token rotation, and auth.test that accepts only the live access token."""

    def __init__(self) -> None:
        self.refresh = "xoxe-1-initial"
        self.access = ""
        self.rotations = 0
        oauth = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                form = {k: v[-1] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
                        .items()}
                if self.path.endswith("oauth.v2.access"):
                    if form.get("refresh_token") != oauth.refresh or "Basic" not in self.headers["Authorization"]:
                        body: dict[str, Any] = {"ok": False, "error": "invalid_refresh_token"}
                    else:
                        oauth.rotations += 1
                        oauth.access = f"xoxe.xoxb-1-access{oauth.rotations}"
                        oauth.refresh = f"xoxe-1-refresh{oauth.rotations}"
                        body = {"ok": True, "access_token": oauth.access, "refresh_token": oauth.refresh,
                                "expires_in": 43200, "token_type": "bot"}
                else:
                    live = self.headers.get("Authorization") == f"Bearer {oauth.access}"
                    body = {"ok": True, "user_id": "U0BOT"} if live else {"ok": False, "error": "invalid_auth"}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.api_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"


@pytest.fixture
def oauth() -> Iterator[FakeSlackOAuth]:
    found = FakeSlackOAuth()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_slack_token_rotation_saves_both_tokens_together(env: dict[str, str], monkeypatch,
                                                         oauth: FakeSlackOAuth) -> None:
    from mlc_dagster.defs.resources import SlackBotResource
    from mlc_dagster.slack_app.tokens import EXPIRES_AT, SlackTokenRotationError, bot_token

    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("SLACK_CLIENT_ID", "123.456")
    store = CredentialStore()
    store.set_many({"SLACK_CLIENT_SECRET": "client-secret", "SLACK_REFRESH_TOKEN": oauth.refresh})
    resource = SlackBotResource(api_url=oauth.api_url)
    assert resource.client().auth_test()["ok"], "rotated at first use (expiry unknown)"
    assert (store.stored("SLACK_BOT_TOKEN"), store.stored("SLACK_REFRESH_TOKEN")) == (oauth.access, oauth.refresh)
    now = datetime.now(UTC).timestamp()
    assert 43000 < float(store.stored(EXPIRES_AT) or 0) - now <= 43200
    assert bot_token(store, oauth.api_url) == oauth.access and oauth.rotations == 1, "still fresh: no rotation"
    later = now + 43200 - 3600  # an hour before expiry: within the 2-hour margin
    assert bot_token(store, oauth.api_url, clock=lambda: later) == oauth.access == "xoxe.xoxb-1-access2"
    assert store.stored("SLACK_REFRESH_TOKEN") == "xoxe-1-refresh2"
    oauth.refresh = "revoked-elsewhere"
    with pytest.raises(SlackTokenRotationError, match="invalid_refresh_token") as failure:
        bot_token(store, oauth.api_url, clock=lambda: later + 43200)
    assert "xoxe" not in str(failure.value) and "client-secret" not in str(failure.value)


def test_resources_read_secrets_from_the_store_without_config(env: dict[str, str], monkeypatch) -> None:
    from mlc_dagster.defs.resources import WorkdayResource, resources_from_env

    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("WORKDAY_REST_URL", "http://127.0.0.1:9/ccx/api")
    configured = resources_from_env()
    assert configured["workday"].password == configured["workday"].client_secret == ""  # type: ignore[attr-defined]
    assert configured["slack"].bot_token == ""  # type: ignore[attr-defined]
    resource = WorkdayResource(soap_url="http://127.0.0.1:9/ccx/service/acme_fin", username="isu")
    with pytest.raises(MissingCredentialError, match="WORKDAY_PASSWORD"):
        resource.client()
    CredentialStore().set("WORKDAY_PASSWORD", "from-the-store")
    client = resource.client()
    assert client._password == "from-the-store" and "from-the-store" not in repr(client)
    monkeypatch.setenv("WORKDAY_PASSWORD", "from-the-env")
    assert resource.client()._password == "from-the-env"


def test_nested_use_of_two_store_objects_does_not_deadlock(env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("MLC_SECRET_KEY", Fernet.generate_key().decode())
    done = threading.Event()

    def nested() -> None:
        with CredentialStore().lock():
            CredentialStore().set("A", "1")  # another object on the same file, same thread
        done.set()

    threading.Thread(target=nested, daemon=True).start()
    assert done.wait(10), "deadlocked"
    assert CredentialStore().get("A") == "1"
