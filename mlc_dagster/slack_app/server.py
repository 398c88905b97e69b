"""Serving the Slack app: an HTTP endpoint (loopback unless told otherwise) or Socket Mode.

HTTP: `POST /slack/events` takes everything Slack sends (Events API, interactivity, slash commands;
`/slack/interactive` and `/slack/commands` are aliases), `GET /healthz` answers "ok". Put it behind
your HTTPS reverse proxy; it binds 127.0.0.1 by default. Socket Mode (`SLACK_APP_TOKEN`, `xapp-...`)
needs no public endpoint at all: the app dials out to Slack over a websocket.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from ..credentials import CredentialStore
from ..warehouse import Warehouse
from .actions import AlertActions
from .app import MAX_BODY_BYTES, ReplayLauncher, Response, SlackApp

log = logging.getLogger(__name__)

PATHS = ("/slack/events", "/slack/interactive", "/slack/commands")
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001  # 3000 is the Dagster UI's


class SubprocessReplay(ReplayLauncher):
    """Runs `mlc-dagster replay --day D` (runs recorded in the Dagster instance at DAGSTER_HOME), one
    replay per day at a time, and reports its last line when it ends."""

    def __init__(self, command: list[str] | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = 3 * 3600) -> None:
        self.command = command or [sys.executable, "-m", "mlc_dagster.cli", "replay"]
        self.env = dict(env) if env is not None else None
        self.timeout = timeout
        self._running: set[date] = set()
        self._lock = threading.Lock()

    def launch(self, day: date, requested_by: str, on_done: Callable[[bool, str], None]) -> str:
        with self._lock:
            if day in self._running:
                raise RuntimeError(f"a replay of {day} is already running")
            self._running.add(day)
        try:
            process = subprocess.Popen(  # noqa: S603 - a fixed command; the day is a parsed date
                [*self.command, "--day", day.isoformat()], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, text=True, env=self.env)
        except BaseException:
            with self._lock:
                self._running.discard(day)
            raise

        def wait() -> None:
            try:
                out, err = process.communicate(timeout=self.timeout)
                lines = [line for line in (err or out or "").strip().splitlines() if line.strip()]
                on_done(process.returncode == 0, lines[-1][:500] if lines else f"exit status {process.returncode}")
            except subprocess.TimeoutExpired:
                process.kill()
                on_done(False, f"stopped after {self.timeout:.0f}s")
            finally:
                with self._lock:
                    self._running.discard(day)

        threading.Thread(target=wait, name=f"replay-{day}", daemon=True).start()
        return f"running as process {process.pid}; its runs appear in the Dagster UI, tagged mlc/day={day}"


def build_app(environ: Mapping[str, str] | None = None, store: CredentialStore | None = None,
              replay: ReplayLauncher | None = None, socket_mode: bool = False) -> SlackApp:
    """The app as configured by the environment (CONTRACT.md) and the credential store. In Socket Mode
    nothing is signed (the websocket is authenticated by the app-level token): no signing secret needed."""
    env = os.environ if environ is None else environ
    store = store or CredentialStore(environ=env)
    api_url = env.get("SLACK_API_URL") or "https://slack.com/api/"
    from .tokens import bot_token

    client = WebClient(token=bot_token(store, api_url), base_url=api_url, timeout=10,
                       retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=2)])
    users = {u.strip() for u in (env.get("MLC_SLACK_REPLAY_USERS") or "").split(",") if u.strip()}
    warehouse = Warehouse(env.get("MLC_DUCKDB_PATH") or "data/mlc.duckdb")
    signing = store.get("SLACK_SIGNING_SECRET") if socket_mode else \
        store.require("SLACK_SIGNING_SECRET", "verifies the requests Slack sends")
    return SlackApp(signing_secret=signing or secrets.token_hex(32),
                    client=client, actions=AlertActions(warehouse), replay=replay or SubprocessReplay(env=env),
                    replay_users=users, command=env.get("MLC_SLACK_COMMAND") or "/mlc")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: SlackApp


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that stalls mid-request is dropped
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # request lines only; never bodies or headers
        log.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/healthz":
            self._send(Response(200, b"ok"))
        else:
            self._send(Response(404, b"not found"))

    def do_POST(self) -> None:
        if self.path.split("?")[0] not in PATHS:
            self._send(Response(404, b"not found"))
            return
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            self._send(Response(411, b"length required"))
            return
        if int(length) > MAX_BODY_BYTES:
            self._send(Response(413, b"request too large"))
            self.close_connection = True
            return
        body = self.rfile.read(int(length))
        try:
            response = self.server.app.handle_http(body, dict(self.headers.items()))
        except Exception as exc:  # never a traceback to Slack, never one with a body in it
            log.error("Slack request failed: %s", type(exc).__name__)
            response = Response(500, b"internal error")
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)


class SlackAppServer:
    """The HTTP endpoint on a thread: `with SlackAppServer(app) as server: server.url`."""

    def __init__(self, app: SlackApp, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.app = app
        self.host = host
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SlackAppServer:
        self._server = _Server((self.host, self._requested_port), _Handler)
        self._server.app = self.app
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="slack-app-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/slack/events"

    def __enter__(self) -> SlackAppServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def socket_mode_listener(app: SlackApp) -> Callable[[Any, Any], None]:
    """A SocketModeClient listener: acknowledge the envelope first, the work runs after on the app's pool."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    def listener(client: Any, request: Any) -> None:
        payload = app.handle_socket(request.type, request.payload or {}, request.retry_attempt)
        client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id, payload=payload))

    return listener


def run_socket_mode(app: SlackApp, app_token: str, api_url: str, stop: threading.Event) -> None:
    """Connect out to Slack (no public endpoint needed) until `stop` is set."""
    from slack_sdk.socket_mode import SocketModeClient

    client = SocketModeClient(app_token=app_token, web_client=WebClient(base_url=api_url),
                              auto_reconnect_enabled=True)
    client.socket_mode_request_listeners.append(socket_mode_listener(app))
    client.connect()
    try:
        stop.wait()
    finally:
        client.close()
