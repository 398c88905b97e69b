"""Requests from Slack: verify, acknowledge at once, do the work after. No Dagster, no HTTP server here.

`SlackApp.handle_http(body, headers)` takes one request as Slack sent it and returns the answer to
send back, within milliseconds: the work (warehouse writes, chat.update, status queries, a replay
launch) runs on a small thread pool after the answer. `handle_socket` does the same for Socket Mode,
where the websocket (app-level token) stands in for the signature.

Trust:
- v0 signatures (HMAC-SHA256 of `v0:{timestamp}:{raw body}` with the signing secret), compared in
  constant time by slack_sdk's SignatureVerifier; a timestamp more than 5 minutes off is refused;
- a signature seen before (a captured request sent again) is refused: Slack signs each delivery,
  its retries included, anew;
- Slack's retries (`X-Slack-Retry-Num`) of what was already taken are answered 200 and dropped, and
  so is any second delivery of the same event_id, button press (action_ts) or command (trigger_id);
- bodies over 1 MiB are refused unread; nothing secret is ever logged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qs

import requests
from slack_sdk import WebClient
from slack_sdk.signature import Clock, SignatureVerifier

from ..slack.messages import EVENT_TYPE
from .actions import AlertActions
from .blocks import ACK_ACTION, ACTION_IDS, SNOOZE_ACTION, SNOOZE_HOURS, acted_blocks, status_line

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20
SIGNATURE_WINDOW_SECONDS = 300
SEEN_TTL_SECONDS = 3600  # Slack retries an event for about 5 minutes; a press cannot come back later
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,30}$")
_TS = re.compile(r"^\d{1,12}\.\d{1,9}$")


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

    def payload(self) -> Any:
        return json.loads(self.body) if self.content_type.startswith("application/json") else None


class _Seen:
    """Keys seen within a time-to-live (bounded, thread-safe)."""

    def __init__(self, ttl: float, clock: Callable[[], float], limit: int = 100_000) -> None:
        self.ttl, self.clock, self.limit = ttl, clock, limit
        self._items: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """True if `key` is new (and remembers it), False if already seen."""
        now = self.clock()
        with self._lock:
            while self._items and (next(iter(self._items.values())) < now or len(self._items) > self.limit):
                self._items.popitem(last=False)
            if key in self._items:
                return False
            self._items[key] = now + self.ttl
            return True

    def __contains__(self, key: str) -> bool:
        with self._lock:
            expiry = self._items.get(key)
            return expiry is not None and expiry >= self.clock()


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now

    def now(self) -> float:
        return self._now()


class ReplayLauncher:
    """Starts `mlc-dagster replay --day` for a day; `on_done(ok, summary)` is called when it ends."""

    def launch(self, day: date, requested_by: str, on_done: Callable[[bool, str], None]) -> str:
        raise NotImplementedError


class SlackApp:
    def __init__(self, *, signing_secret: str, client: WebClient, actions: AlertActions,
                 replay: ReplayLauncher | None = None, replay_users: frozenset[str] | set[str] = frozenset(),
                 command: str = "/mlc", clock: Callable[[], float] = time.time, workers: int = 4,
                 inline_seconds: float = 2.0, http: requests.Session | None = None) -> None:
        if not signing_secret:
            raise ValueError("SLACK_SIGNING_SECRET is not set: the app cannot tell Slack's requests from forgeries")
        self._verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
        self.client = client
        self.actions = actions
        self.replay = replay
        self.replay_users = frozenset(replay_users)
        self.command = command
        self.clock = clock
        self.inline_seconds = inline_seconds
        self.http = http or requests.Session()
        self._signatures = _Seen(2 * SIGNATURE_WINDOW_SECONDS, clock)
        self._deliveries = _Seen(SEEN_TTL_SECONDS, clock)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-app")
        self.stats = {"accepted": 0, "refused": 0, "duplicates": 0, "failed": 0}
        self._stats_lock = threading.Lock()

    def __repr__(self) -> str:
        return "SlackApp()"

    def close(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self.stats[name] += 1

    # -- HTTP -------------------------------------------------------------------------------------

    def verify(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        """None if the request is Slack's and fresh, else why not (no secret in the reason)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp = lowered.get("x-slack-request-timestamp", "")
        signature = lowered.get("x-slack-signature", "")
        if not timestamp or not signature:
            return "no signature headers"
        if not timestamp.isdigit():
            return "malformed timestamp"
        if abs(self.clock() - int(timestamp)) > SIGNATURE_WINDOW_SECONDS:
            return "timestamp outside the 5-minute window (expired or clock skew)"
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            return "body is not UTF-8"
        if not self._verifier.is_valid(body, timestamp, signature):  # hmac.compare_digest inside
            return "signature mismatch"
        return None

    def handle_http(self, body: bytes, headers: Mapping[str, str]) -> Response:
        if len(body) > MAX_BODY_BYTES:
            self._count("refused")
            return Response(413, b"request too large")
        reason = self.verify(body, headers)
        lowered = {k.lower(): v for k, v in headers.items()}
        if reason is None and not self._signatures.add(lowered.get("x-slack-signature", "")):
            reason = "replayed: this signature was already used"
        if reason is not None:
            self._count("refused")
            log.warning("refused a request claiming to come from Slack: %s", reason)
            return Response.json({"error": "invalid request"}, status=401)
        retry = lowered.get("x-slack-retry-num")
        try:
            kind, payload = _parse(body, lowered.get("content-type", ""))
        except ValueError as exc:
            return Response(400, f"unreadable request: {exc}".encode())
        return self.dispatch(kind, payload, retry_num=int(retry) if retry and retry.isdigit() else None)

    # -- Socket Mode ------------------------------------------------------------------------------

    def handle_socket(self, request_type: str, payload: dict[str, Any], retry_attempt: int | None = None) -> Any:
        """A Socket Mode envelope (type events_api | interactive | slash_commands): the ack payload."""
        kind = {"events_api": "event", "interactive": "interactive", "slash_commands": "command"}.get(request_type)
        if kind is None:
            return None
        return self.dispatch(kind, payload, retry_num=retry_attempt).payload()

    # -- dispatch ---------------------------------------------------------------------------------

    def dispatch(self, kind: str, payload: dict[str, Any], retry_num: int | None = None) -> Response:
        if kind == "event":
            return self._event(payload, retry_num)
        if kind == "interactive":
            return self._interactive(payload)
        if kind == "command":
            return self._command(payload)
        return Response(400, b"unknown request type")

    def _first_time(self, key: str, retry_num: int | None = None) -> bool:
        if self._deliveries.add(key):
            self._count("accepted")
            return True
        self._count("duplicates")
        log.info("ignored a repeated delivery from Slack (%s, retry %s)", key.split(":", 1)[0], retry_num)
        return False

    def _event(self, payload: dict[str, Any], retry_num: int | None) -> Response:
        if payload.get("type") == "url_verification":
            return Response.json({"challenge": str(payload.get("challenge", ""))})
        event_id = str(payload.get("event_id") or "")
        if event_id and not self._first_time(f"event:{event_id}", retry_num):
            return Response(200, headers={"X-Slack-No-Retry": "1"})
        # No event subscriptions are acted on yet: acknowledged so that Slack does not retry.
        return Response(200)

    def _interactive(self, payload: dict[str, Any]) -> Response:
        if payload.get("type") != "block_actions":
            return Response(200)
        user = payload.get("user") or {}
        for action in payload.get("actions") or []:
            action_id = action.get("action_id")
            if action_id not in ACTION_IDS:
                continue
            key = f"action:{user.get('id')}:{action.get('action_ts')}:{action_id}"
            if self._first_time(key):
                self._submit(self._act, payload, action)
        return Response(200)

    def _submit(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        def run() -> Any:
            try:
                return work(*args)
            except Exception as exc:
                self._count("failed")
                log.error("Slack request work failed: %s: %s", type(exc).__name__, _first_line(exc))
                raise
        return self._pool.submit(run)

    def _act(self, payload: dict[str, Any], action: dict[str, Any]) -> None:
        """A button press: record it in the warehouse, then show it by updating the alert's message."""
        alert_id = str(action.get("value") or "")
        user = payload.get("user") or {}
        user_id = str(user.get("id") or "")
        container = payload.get("container") or {}
        message = payload.get("message") or {}
        channel_id = str(container.get("channel_id") or (payload.get("channel") or {}).get("id") or "")
        message_ts = str(container.get("message_ts") or message.get("ts") or "")
        action_ts = str(action.get("action_ts") or "")
        if not (_USER_ID.match(user_id) and _CHANNEL_ID.match(channel_id) and _TS.match(message_ts)
                and _TS.match(action_ts) and alert_id):
            log.warning("ignored a button press with an unexpected payload shape")
            return
        if not self.actions.alert_exists(alert_id):
            log.warning("ignored a button press for an unknown alert %r", alert_id[:80])
            return
        kind = "acknowledged" if action.get("action_id") == ACK_ACTION else "snoozed"
        done = self.actions.record(alert_id, kind, user_id=user_id,
                                   user_name=str(user.get("username") or user.get("name") or ""),
                                   channel_id=channel_id, message_ts=message_ts, action_ts=action_ts,
                                   snooze=timedelta(hours=SNOOZE_HOURS) if kind == "snoozed" else None)
        line = status_line(kind, user_id, done.acted_at, done.snoozed_until)
        blocks = acted_blocks(list(message.get("blocks") or []), alert_id, line,
                              keep_buttons=action.get("action_id") == SNOOZE_ACTION)
        text = str(message.get("text") or "Finance alert")
        self.client.chat_update(channel=channel_id, ts=message_ts, text=f"{text}\n{line}", blocks=blocks,
                                metadata={"event_type": EVENT_TYPE, "event_payload": {"alert_id": alert_id}})
        log.info("alert %s %s by %s", alert_id, kind, user_id)

    def _command(self, payload: dict[str, Any]) -> Response:
        if payload.get("command") != self.command:
            return Response.json({"response_type": "ephemeral", "text": f"Unknown command; try `{self.command} help`."})
        trigger = str(payload.get("trigger_id") or "")
        if trigger and not self._first_time(f"command:{trigger}"):
            return Response(200)
        words = str(payload.get("text") or "").split()
        verb = words[0].lower() if words else "help"
        if verb == "status":
            return self._status(payload)
        if verb == "replay":
            return self._replay(payload, words[1:])
        return _ephemeral(f"`{self.command} status`: each Workday entity's freshness and the alerts waiting.\n"
                          f"`{self.command} replay YYYY-MM-DD`: re-poll that day through Dagster and deliver what "
                          "was missed (configured users only).")

    def _status(self, payload: dict[str, Any]) -> Response:
        """Inline when the warehouse answers within `inline_seconds`; else acknowledged, answer to follow."""
        future = self._submit(self.actions.status_text)
        try:
            return _ephemeral(future.result(timeout=self.inline_seconds))
        except TimeoutError:
            pass
        except Exception as exc:
            return _ephemeral(f"Status is unavailable: {type(exc).__name__}: {_first_line(exc)}")
        url = str(payload.get("response_url") or "")

        def follow_up(done: Future[str]) -> None:
            error = done.exception()
            text = done.result() if error is None else f"Status is unavailable: {type(error).__name__}"
            self._respond(url, text)
        future.add_done_callback(follow_up)
        return _ephemeral("Reading the warehouse (a poll holds it right now); the status follows in a moment.")

    def _replay(self, payload: dict[str, Any], args: list[str]) -> Response:
        user_id = str(payload.get("user_id") or "")
        if user_id not in self.replay_users:
            log.warning("refused /mlc replay from %s: not in MLC_SLACK_REPLAY_USERS", user_id[:32])
            return _ephemeral("You are not allowed to start a replay: ask an operator to add your Slack user ID "
                              "to MLC_SLACK_REPLAY_USERS.")
        if self.replay is None:
            return _ephemeral("Replays are not enabled on this app.")
        try:
            day = date.fromisoformat(args[0]) if len(args) == 1 and len(args[0]) == 10 else None
        except ValueError:
            day = None
        if day is None:
            return _ephemeral(f"Usage: `{self.command} replay YYYY-MM-DD`")
        url = str(payload.get("response_url") or "")

        def on_done(ok: bool, summary: str) -> None:
            self._respond(url, f"Replay of {day} {'finished' if ok else 'failed'}: {summary}", in_channel=True)
        try:
            started = self.replay.launch(day, user_id, on_done)
        except Exception as exc:
            return _ephemeral(f"The replay of {day} did not start: {_first_line(exc)}")
        log.info("replay of %s started by %s", day, user_id)
        return Response.json({"response_type": "in_channel",
                              "text": f"Replay of {day} started by <@{user_id}>: {started}"})

    def _respond(self, response_url: str, text: str, in_channel: bool = False) -> None:
        """A delayed answer through the command's response_url (Slack's hooks.slack.com)."""
        if not response_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            log.warning("no usable response_url for a delayed answer")
            return
        try:
            self.http.post(response_url, json={"response_type": "in_channel" if in_channel else "ephemeral",
                                               "text": text}, timeout=10)
        except requests.RequestException as exc:
            log.warning("could not answer through response_url: %s", type(exc).__name__)


def _ephemeral(text: str) -> Response:
    return Response.json({"response_type": "ephemeral", "text": text})


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _parse(body: bytes, content_type: str) -> tuple[str, dict[str, Any]]:
    """(kind, payload): events come as JSON, interactivity as a form with `payload`, commands as a form."""
    text = body.decode("utf-8")
    if content_type.startswith("application/json"):
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError("JSON body is not an object")
        return "event", payload
    form = {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}
    if "payload" in form:
        payload = json.loads(form["payload"])
        if not isinstance(payload, dict):
            raise ValueError("payload is not an object")
        return "interactive", payload
    if "command" in form:
        return "command", form
    raise ValueError("neither an event, an interaction nor a command")
