"""A small, faithful local Slack Web API server for tests and the demo.

The product talks to it with the real ``slack_sdk.WebClient(base_url=sandbox.api_url)``, so everything the
product depends on is reproduced on the wire: HTTP 200 + ``{"ok": false, "error": ...}`` for API errors,
HTTP 429 + an *integer* ``Retry-After`` for the per-channel 1 msg/s limit of ``chat.postMessage``,
``invalid_blocks`` with JSON pointers, message metadata, cursor paging, and a response that is "lost" after
the message was stored (the case the product must reconcile via ``conversations.history``).

Only the stdlib is used so the sandbox can also run as a separate process for the demo::

    python -m mlc_dagster.sandbox.slack --port 8765
"""

from __future__ import annotations

import argparse
import base64
import binascii
import copy
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger(__name__)

# Fake credentials that only this sandbox accepts; never valid against slack.com.
DEFAULT_BOT_TOKEN = "xoxb-sandbox-0000-mlc"  # noqa: S105
DEFAULT_SIGNING_SECRET = "sandbox-signing-secret"  # noqa: S105
DEFAULT_CHANNELS: tuple[str, ...] = (
    "finance-alerts",
    "ap-overdue",
    "approvals",
    "reconciliation",
    "finance-ops",
)

# Fixed identities so that IDs in test assertions and demo screenshots never change between runs.
TEAM_ID = "T0MLCSBX01"
TEAM_NAME = "MLC Finance (sandbox)"
TEAM_URL = "https://mlc-finance-sandbox.slack.com/"
BOT_USER_ID = "U0MLCBOT01"
BOT_USER_NAME = "mlc-finance-alerts"
BOT_ID = "B0MLCBOT01"
APP_ID = "A0MLCAPP01"
CHANNEL_CREATOR_ID = "U0MLCADM01"

# Slack truncates longer `text` but still posts it (changelog 2018-04-truncating-really-long-messages).
MAX_TEXT_CHARS = 40_000
# Block Kit limits; see docs.slack.dev/reference/block-kit and slack_sdk.models.blocks validators.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_SECTION_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_URL = 3000
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_IMAGE_ALT_TEXT = 2000
KNOWN_BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "context_actions",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)

_T = TypeVar("_T")


class SlackApiFailure(Exception):
    """An API-level failure: rendered as ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, error: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra or {}


@dataclass
class _Channel:
    id: str
    name: str
    is_member: bool
    is_archived: bool
    is_private: bool
    created: int

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.is_member,
            "created": self.created,
            "creator": CHANNEL_CREATOR_ID,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }


@dataclass
class _StoredMessage:
    channel_id: str
    channel_name: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    metadata: dict[str, Any] | None
    thread_ts: str | None
    reply_broadcast: bool
    unfurl_links: bool | None
    unfurl_media: bool | None
    mrkdwn: bool | None
    received_at: float
    edits: list[dict[str, Any]] = field(default_factory=list)
    edited_ts: str | None = None
    reply_ts: list[str] = field(default_factory=list)

    def to_record(self) -> dict[str, Any]:
        """The test-facing view returned by ``SlackSandbox.messages()``."""
        return {
            "channel": self.channel_id,
            "channel_name": self.channel_name,
            "ts": self.ts,
            "text": self.text,
            "blocks": copy.deepcopy(self.blocks),
            "metadata": copy.deepcopy(self.metadata),
            "thread_ts": self.thread_ts,
            "reply_broadcast": self.reply_broadcast,
            "unfurl_links": self.unfurl_links,
            "unfurl_media": self.unfurl_media,
            "mrkdwn": self.mrkdwn,
            "received_at": self.received_at,
            "edits": copy.deepcopy(self.edits),
        }

    def to_api(self, *, include_metadata: bool) -> dict[str, Any]:
        """The message object as Slack returns it in API responses (bot-token post, no legacy subtype)."""
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "text": self.text,
            "ts": self.ts,
        }
        if self.blocks is not None:
            message["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts is not None:
            message["thread_ts"] = self.thread_ts
            message["parent_user_id"] = BOT_USER_ID
            if self.reply_broadcast:
                message["subtype"] = "thread_broadcast"
        elif self.reply_ts:
            message["thread_ts"] = self.ts
            message["reply_count"] = len(self.reply_ts)
            message["reply_users"] = [BOT_USER_ID]
            message["reply_users_count"] = 1
            message["latest_reply"] = self.reply_ts[-1]
        if self.edited_ts is not None:
            message["edited"] = {"user": BOT_USER_ID, "ts": self.edited_ts}
        if include_metadata and self.metadata is not None:
            message["metadata"] = copy.deepcopy(self.metadata)
        return message


@dataclass
class _Fault:
    method: str
    error: str | None
    status: int
    remaining: int
    delay: float
    retry_after: int | None
    post_then_drop: bool


@dataclass
class _Reply:
    """What the HTTP handler writes back; built under the lock, written outside it."""

    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
        return cls(status=status, body=json.dumps(payload).encode("utf-8"), headers=headers or {})


def _channel_stem(name: str) -> str:
    """Readable ID stem: 'finance-alerts' -> 'FINALRT' (first word's first 3 letters, then consonants)."""
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    if not words:
        return "CHAN"
    if len(words) == 1:
        word = words[0]
        stem = word[0] + re.sub(r"[aeiou]", "", word[1:])
    else:
        stem = words[0][:3] + "".join(w[0] + re.sub(r"[aeiou]", "", w[1:]) for w in words[1:])
    return stem.upper()[:7]


def _encode_cursor(kind: str, key: str) -> str:
    return base64.b64encode(f"{kind}:{key}".encode()).decode("ascii")


def _decode_cursor(kind: str, cursor: str) -> str:
    try:
        decoded = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise SlackApiFailure("invalid_cursor") from exc
    prefix, _, key = decoded.partition(":")
    if prefix != kind or not key:
        raise SlackApiFailure("invalid_cursor")
    return key


def _paginate(
    items: Sequence[_T], *, key: Any, kind: str, limit: int, cursor: str | None
) -> tuple[list[_T], str]:
    """Cursor = key of the first item of the next page, so pages stay stable while new items arrive."""
    start = 0
    if cursor:
        wanted = _decode_cursor(kind, cursor)
        keys = [key(item) for item in items]
        if wanted not in keys:
            raise SlackApiFailure("invalid_cursor")
        start = keys.index(wanted)
    page = list(items[start : start + limit])
    following = items[start + limit] if start + limit < len(items) else None
    next_cursor = _encode_cursor(kind, key(following)) if following is not None else ""
    return page, next_cursor


def _param_str(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def _param_bool(params: dict[str, Any], name: str, default: bool | None = False) -> bool | None:
    # slack_sdk turns True/False into "1"/"0" in form bodies but sends real booleans in JSON bodies.
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes"}


def _param_int(params: dict[str, Any], name: str, default: int, maximum: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(str(value))
    except ValueError as exc:
        raise SlackApiFailure("invalid_arguments") from exc
    if number <= 0:
        return default
    return min(number, maximum)


def _param_ts(params: dict[str, Any], name: str, error: str) -> Decimal | None:
    value = _param_str(params, name)
    if value in (None, ""):
        return None
    try:
        return Decimal(cast(str, value))
    except InvalidOperation as exc:
        raise SlackApiFailure(error) from exc


def _param_json(params: dict[str, Any], name: str, error: str) -> Any:
    """Form bodies carry structured args as JSON strings; JSON bodies carry them as real objects."""
    value = params.get(name)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise SlackApiFailure(error) from exc
    return value


def _blocks_from(params: dict[str, Any]) -> list[dict[str, Any]] | None:
    blocks = _param_json(params, "blocks", "invalid_blocks_format")
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        raise SlackApiFailure("invalid_blocks_format")
    errors = validate_blocks(blocks)
    if errors:
        raise SlackApiFailure("invalid_blocks", extra={"response_metadata": {"messages": errors}})
    return blocks or None


def _metadata_from(params: dict[str, Any]) -> dict[str, Any] | None:
    metadata = _param_json(params, "metadata", "invalid_metadata_format")
    if metadata is None:
        return None
    if (
        not isinstance(metadata, dict)
        or not isinstance(metadata.get("event_type"), str)
        or not metadata["event_type"]
        or not isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackApiFailure("invalid_metadata_format")
    return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}


def _check_text_object(
    obj: Any, pointer: str, max_chars: int, errors: list[str], *, plain_text_only: bool = False
) -> None:
    allowed = ("plain_text",) if plain_text_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed or not isinstance(obj.get("text"), str):
        errors.append(f"[ERROR] failed to match all allowed schemas [json-pointer:{pointer}]")
        return
    text = obj["text"]
    problem = None
    if len(text) > max_chars:
        problem = f"[ERROR] must be less than {max_chars + 1} characters [json-pointer:{pointer}/text]"
    elif not text:
        problem = f"[ERROR] must be more than 0 characters [json-pointer:{pointer}/text]"
    if problem:
        # Where both plain_text and mrkdwn are allowed Slack reports the schema mismatch first
        # (observed response in elastic/kibana#73061).
        if not plain_text_only:
            errors.append(f"[ERROR] failed to match all allowed schemas [json-pointer:{pointer}]")
        errors.append(problem)


def _check_max_len(value: Any, pointer: str, max_chars: int, errors: list[str]) -> None:
    if isinstance(value, str) and len(value) > max_chars:
        errors.append(f"[ERROR] must be less than {max_chars + 1} characters [json-pointer:{pointer}]")


def _check_element(element: Any, pointer: str, errors: list[str]) -> None:
    if not isinstance(element, dict):
        errors.append(f"[ERROR] must be an object [json-pointer:{pointer}]")
        return
    if element.get("type") == "button":
        _check_text_object(
            element.get("text"), f"{pointer}/text", MAX_BUTTON_TEXT, errors, plain_text_only=True
        )
        _check_max_len(element.get("url"), f"{pointer}/url", MAX_URL, errors)
        _check_max_len(element.get("value"), f"{pointer}/value", MAX_BUTTON_VALUE, errors)
    _check_max_len(element.get("action_id"), f"{pointer}/action_id", MAX_ACTION_ID, errors)


def validate_blocks(blocks: list[Any]) -> list[str]:
    """Block Kit checks for messages; returns Slack-style ``[ERROR] ... [json-pointer:...]`` lines."""
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    seen_block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        pointer = f"/blocks/{index}"
        if not isinstance(block, dict):
            errors.append(f"[ERROR] must be an object [json-pointer:{pointer}]")
            continue
        block_type = block.get("type")
        if block_type not in KNOWN_BLOCK_TYPES:
            errors.append(f"[ERROR] unsupported block type: {block_type} [json-pointer:{pointer}/type]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            _check_max_len(block_id, f"{pointer}/block_id", MAX_BLOCK_ID, errors)
            if block_id in seen_block_ids:
                errors.append(f"[ERROR] duplicate block_id {block_id!r} [json-pointer:{pointer}/block_id]")
            seen_block_ids.add(str(block_id))
        if block_type == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and not fields:
                errors.append(f"[ERROR] must provide either text or fields [json-pointer:{pointer}]")
            if text is not None:
                _check_text_object(text, f"{pointer}/text", MAX_SECTION_TEXT, errors)
            if fields is not None:
                if not isinstance(fields, list):
                    errors.append(f"[ERROR] must be an array [json-pointer:{pointer}/fields]")
                else:
                    if len(fields) > MAX_SECTION_FIELDS:
                        errors.append(
                            f"[ERROR] no more than {MAX_SECTION_FIELDS} items allowed "
                            f"[json-pointer:{pointer}/fields]"
                        )
                    for f_index, field_obj in enumerate(fields):
                        _check_text_object(
                            field_obj, f"{pointer}/fields/{f_index}", MAX_SECTION_FIELD_TEXT, errors
                        )
            if block.get("accessory") is not None:
                _check_element(block["accessory"], f"{pointer}/accessory", errors)
        elif block_type == "header":
            _check_text_object(
                block.get("text"), f"{pointer}/text", MAX_HEADER_TEXT, errors, plain_text_only=True
            )
        elif block_type in ("context", "actions"):
            limit = MAX_CONTEXT_ELEMENTS if block_type == "context" else MAX_ACTIONS_ELEMENTS
            elements = block.get("elements")
            if not isinstance(elements, list) or not elements:
                errors.append(f"[ERROR] must provide at least 1 item [json-pointer:{pointer}/elements]")
                continue
            if len(elements) > limit:
                errors.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}/elements]")
            for e_index, element in enumerate(elements):
                e_pointer = f"{pointer}/elements/{e_index}"
                if block_type == "context":
                    if isinstance(element, dict) and element.get("type") == "image":
                        _check_max_len(element.get("image_url"), f"{e_pointer}/image_url", MAX_URL, errors)
                    else:
                        _check_text_object(element, e_pointer, MAX_SECTION_TEXT, errors)
                else:
                    _check_element(element, e_pointer, errors)
        elif block_type == "image":
            _check_max_len(block.get("image_url"), f"{pointer}/image_url", MAX_URL, errors)
            _check_max_len(block.get("alt_text"), f"{pointer}/alt_text", MAX_IMAGE_ALT_TEXT, errors)
    return errors


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Don't make stop() wait for a handler that is sleeping through an injected delay.
    block_on_close = False

    def __init__(self, address: tuple[str, int], sandbox: SlackSandbox) -> None:
        self.sandbox = sandbox
        super().__init__(address, _SandboxRequestHandler)


class _SandboxRequestHandler(BaseHTTPRequestHandler):
    server_version = "SlackSandbox/1.0"

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("slack sandbox: " + format, *args)

    def _serve(self) -> None:
        sandbox = cast(_SandboxHTTPServer, self.server).sandbox
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length > 0 else b""
        if url.path.startswith("/api/"):
            api_method = url.path[len("/api/") :]
            reply = sandbox._handle_api(
                api_method,
                query=url.query,
                body=raw_body,
                content_type=self.headers.get("Content-Type", ""),
                authorization=self.headers.get("Authorization"),
            )
        elif url.path == "/_sandbox/messages":
            channel_values = parse_qs(url.query).get("channel")
            channel = channel_values[-1] if channel_values else None
            try:
                reply = _Reply.json(sandbox.messages(channel))
            except KeyError:
                reply = _Reply.json({"ok": False, "error": "channel_not_found"}, status=404)
        elif url.path == "/_sandbox/health":
            reply = _Reply.json({"ok": True, "api_url": sandbox.api_url, "stats": sandbox.stats})
        else:
            reply = _Reply.json({"ok": False, "error": "not_found"}, status=404)
        self._write(reply)

    def _write(self, reply: _Reply) -> None:
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.drop:
            # Close without a status line: the client sees RemoteDisconnected / connection reset.
            self.close_connection = True
            return
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client already gave up (e.g. its timeout fired during an injected delay).
            logger.debug("slack sandbox: client went away before the response was written")


def _parse_params(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    media_type = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if media_type == "application/json":
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SlackApiFailure("invalid_json") from exc
        if not isinstance(payload, dict):
            raise SlackApiFailure("invalid_json")
        params.update(payload)
    elif media_type == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode("latin-1") + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if isinstance(name, str) and not part.get_filename():
                payload_bytes = part.get_payload(decode=True)
                if isinstance(payload_bytes, bytes):
                    params[name] = payload_bytes.decode("utf-8")
    else:
        # Slack treats an unlabelled body as form data, as does slack_sdk's auth_test/conversations_*.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SlackApiFailure("invalid_form_data") from exc
        params.update({k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()})
    return params


class SlackSandbox:
    """Local Slack Web API server (``/api/<method>``) plus test read-back (``/_sandbox/...``).

    Only ``chat.postMessage`` accepts a channel name (``finance-alerts`` / ``#finance-alerts``), as real
    Slack does; the other methods want the channel ID, so name-vs-ID bugs surface here, not in production.
    """

    def __init__(
        self,
        bot_token: str = DEFAULT_BOT_TOKEN,
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        channels: Iterable[str] = DEFAULT_CHANNELS,
        seconds_per_message_per_channel: float = 1.0,
        host: str = "127.0.0.1",
        port: int = 0,
        workspace_messages_per_minute: int | None = None,
        workspace_window_seconds: float = 60.0,
        burst_tolerance: float = 0.25,
    ) -> None:
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        # Read under the lock on every post, so tests may change it while the server runs; 0 disables.
        self.seconds_per_message_per_channel = seconds_per_message_per_channel
        # Slack allows "short bursts >1": a post may arrive this fraction of an interval early, as long as
        # the channel's average stays one per interval (GCRA). Network jitter is not a burst; a sender that
        # does not pace still meets 429 on its second message.
        self.burst_tolerance = burst_tolerance
        # Slack's workspace-wide ceiling on chat.postMessage across all channels (None: none); a sliding minute.
        self.workspace_messages_per_minute = workspace_messages_per_minute
        self.workspace_window_seconds = workspace_window_seconds  # the "minute"; shorter in fast tests
        self._workspace_posts: deque[float] = deque()
        self.host = host
        self._requested_port = port
        self._lock = threading.RLock()
        self._server: _SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._token_revoked: str | None = None
        self._channels: dict[str, _Channel] = {}
        self._messages: list[_StoredMessage] = []
        self._by_key: dict[tuple[str, str], _StoredMessage] = {}
        self._next_due: dict[str, float] = {}  # channel -> theoretical arrival time of its next post
        self._faults: list[_Fault] = []
        self._calls: list[dict[str, Any]] = []
        self._stats = self._empty_stats()
        self._ts_second = 0
        self._ts_seq = 0
        for name in channels:
            self.add_channel(name)

    # ----------------------------------------------------------------------------------- lifecycle
    def start(self) -> SlackSandbox:
        if self._server is not None:
            raise RuntimeError("SlackSandbox is already running")
        self._server = _SandboxHTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="slack-sandbox",
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self._thread.start()
        logger.info("Slack sandbox listening on %s", self.api_url)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("SlackSandbox is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``slack_sdk.WebClient(base_url=...)`` takes."""
        return f"{self.base_url}/api/"

    def settings(self) -> dict[str, str]:
        """The environment variables (CONTRACT names) that point mlc-dagster at this sandbox."""
        return {"SLACK_API_URL": self.api_url, "SLACK_BOT_TOKEN": self.bot_token,
                "SLACK_SIGNING_SECRET": self.signing_secret}

    # ------------------------------------------------------------------------------ workspace setup
    def add_channel(
        self, name: str, *, is_member: bool = True, is_archived: bool = False, is_private: bool = False
    ) -> str:
        name = name.lstrip("#")
        with self._lock:
            if any(c.name == name for c in self._channels.values()):
                raise ValueError(f"channel {name!r} already exists")
            stem = _channel_stem(name)
            suffix = 1
            while f"C0{stem}{suffix}" in self._channels:
                suffix += 1
            channel_id = f"C0{stem}{suffix}"
            self._channels[channel_id] = _Channel(
                id=channel_id,
                name=name,
                is_member=is_member,
                is_archived=is_archived,
                is_private=is_private,
                created=int(time.time()),
            )
            return channel_id

    def update_channel(
        self, channel: str, *, is_member: bool | None = None, is_archived: bool | None = None
    ) -> None:
        """Change a channel mid-test (e.g. someone removed the bot, or archived the channel)."""
        with self._lock:
            found = self._channels[self.channel_id(channel)]
            if is_member is not None:
                found.is_member = is_member
            if is_archived is not None:
                found.is_archived = is_archived

    def channel_id(self, channel: str) -> str:
        """ID for a name, ``#name`` or ID; KeyError if unknown."""
        with self._lock:
            try:
                return self._find_channel(channel, allow_name=True).id
            except SlackApiFailure as exc:
                raise KeyError(channel) from exc

    def revoke_token(self, error: str = "token_revoked") -> None:
        """Refuse the bot token from now on: `token_revoked` (app uninstalled), or e.g. `account_inactive`
        (the bot user or workspace deactivated)."""
        with self._lock:
            self._token_revoked = error

    def restore_token(self) -> None:
        with self._lock:
            self._token_revoked = None

    # ----------------------------------------------------------------------------- fault injection
    def inject(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        times: int = 1,
        delay: float = 0.0,
        retry_after: int | None = None,
        post_then_drop: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (``"*"`` = any method) misbehave.

        - ``error``: ``{"ok": false, "error": error}`` with HTTP ``status`` (200 unless given).
        - ``status`` 5xx without ``error``: a short plain-text body, like a load balancer would send.
        - ``status=429``: a forced rate limit with ``Retry-After: retry_after`` (default 1); nothing stored.
        - ``delay`` alone: the call is processed normally (a post IS stored) but the answer is held back
          ``delay`` seconds, which is what a client timeout against a slow Slack looks like.
        - ``post_then_drop``: processed normally, then the connection is closed with no HTTP response.
        Faults queue up in injection order; the first unexpired one matching the method is used.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults.append(
                _Fault(
                    method=method,
                    error=error,
                    status=status,
                    remaining=times,
                    delay=delay,
                    retry_after=retry_after,
                    post_then_drop=post_then_drop,
                )
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ----------------------------------------------------------------------------------- read-back
    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Stored messages (thread replies included) in arrival order; KeyError for an unknown channel."""
        with self._lock:
            channel_id = self.channel_id(channel) if channel is not None else None
            return [m.to_record() for m in self._messages if channel_id is None or m.channel_id == channel_id]

    def calls(self, method: str | None = None) -> list[dict[str, Any]]:
        """Every API call received (method, status, ok, error, params without token, at)."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c["method"] == method]

    @property
    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self._stats)

    def reset_messages(self) -> None:
        """Forget messages and each channel's rate-limit clock (so the next test starts un-throttled)."""
        with self._lock:
            self._messages.clear()
            self._by_key.clear()
            self._next_due.clear()
            self._workspace_posts.clear()

    def reset(self) -> None:
        """reset_messages() plus faults, call log, stats and token revocation."""
        with self._lock:
            self.reset_messages()
            self._faults.clear()
            self._calls.clear()
            self._stats = self._empty_stats()
            self._token_revoked = None

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Headers Slack would put on a request it sends us (Events API, interactivity, slash commands)."""
        ts = int(time.time()) if timestamp is None else int(timestamp)
        basestring = f"v0:{ts}:".encode() + body
        digest = hmac.new(self.signing_secret.encode("utf-8"), basestring, hashlib.sha256).hexdigest()
        return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}

    # ------------------------------------------------------------------------------ request handling
    @staticmethod
    def _empty_stats() -> dict[str, int]:
        return {
            "requests": 0,
            "posted": 0,
            "updated": 0,
            "ratelimited": 0,
            "workspace_ratelimited": 0,
            "faults_injected": 0,
            "dropped_responses": 0,
        }

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method in (method, "*"):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                self._stats["faults_injected"] += 1
                return fault
        return None

    def _handle_api(
        self, method: str, *, query: str, body: bytes, content_type: str, authorization: str | None
    ) -> _Reply:
        with self._lock:
            self._stats["requests"] += 1
            fault = self._take_fault(method)
            params: dict[str, Any] = {}
            if fault is not None and (fault.error is not None or fault.status != 200):
                reply = self._fault_reply(fault)
            else:
                try:
                    params = _parse_params(query, body, content_type)
                    reply = self._dispatch(method, params, authorization)
                except SlackApiFailure as failure:
                    reply = _Reply.json({"ok": False, "error": failure.error, **failure.extra})
                if fault is not None:
                    reply.delay = fault.delay
                    reply.drop = fault.post_then_drop
                    if fault.post_then_drop:
                        self._stats["dropped_responses"] += 1
            self._log_call(method, params, reply)
            return reply

    def _fault_reply(self, fault: _Fault) -> _Reply:
        if fault.status == 429:
            self._stats["ratelimited"] += 1
            reply = _Reply.json(
                {"ok": False, "error": fault.error or "ratelimited"},
                status=429,
                headers={"Retry-After": str(fault.retry_after or 1)},
            )
        elif fault.error is not None:
            reply = _Reply.json({"ok": False, "error": fault.error}, status=fault.status)
        else:
            reason = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
            text = f"{fault.status} {reason.get(fault.status, 'Error')}"
            reply = _Reply(status=fault.status, body=text.encode(), content_type="text/plain; charset=utf-8")
        reply.delay = fault.delay
        reply.drop = fault.post_then_drop
        return reply

    def _log_call(self, method: str, params: dict[str, Any], reply: _Reply) -> None:
        ok, error = False, None
        if reply.content_type.startswith("application/json"):
            payload = json.loads(reply.body)
            if isinstance(payload, dict):
                ok, error = bool(payload.get("ok")), payload.get("error")
        self._calls.append(
            {
                "method": method,
                "status": None if reply.drop else reply.status,
                "ok": ok,
                "error": error,
                "params": {k: copy.deepcopy(v) for k, v in params.items() if k != "token"},
                "at": time.time(),
            }
        )

    def _dispatch(self, method: str, params: dict[str, Any], authorization: str | None) -> _Reply:
        handlers = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "conversations.join": self._conversations_join,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }
        handler = handlers.get(method)
        if handler is None:
            return _Reply.json({"ok": False, "error": "unknown_method"})
        self._authenticate(params, authorization)
        result = handler(params)
        if isinstance(result, _Reply):
            return result
        return _Reply.json({"ok": True, **result})

    def _authenticate(self, params: dict[str, Any], authorization: str | None) -> None:
        token = None
        if authorization and authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        token = token or _param_str(params, "token")
        if not token:
            raise SlackApiFailure("not_authed")
        if not hmac.compare_digest(token.encode(), self.bot_token.encode()):
            raise SlackApiFailure("invalid_auth")
        if self._token_revoked:
            raise SlackApiFailure(self._token_revoked)

    def _find_channel(self, ref: str | None, *, allow_name: bool) -> _Channel:
        if not ref:
            raise SlackApiFailure("channel_not_found")
        ref = ref.strip()
        if ref in self._channels:
            return self._channels[ref]
        if allow_name:
            name = ref.lstrip("#")
            for channel in self._channels.values():
                if channel.name == name:
                    return channel
        raise SlackApiFailure("channel_not_found")

    def _next_ts(self) -> str:
        # Workspace-wide monotonic "<epoch seconds>.<6-digit sequence>": unique and increasing per channel.
        now = int(time.time())
        if now > self._ts_second:
            self._ts_second, self._ts_seq = now, 1
        else:
            self._ts_seq += 1
            if self._ts_seq > 999_999:
                self._ts_second, self._ts_seq = self._ts_second + 1, 1
        return f"{self._ts_second}.{self._ts_seq:06d}"

    # ------------------------------------------------------------------------------- API methods
    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": TEAM_URL,
            "team": TEAM_NAME,
            "user": BOT_USER_NAME,
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any] | _Reply:
        channel = self._find_channel(_param_str(params, "channel"), allow_name=True)
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        if not channel.is_member:
            raise SlackApiFailure("not_in_channel")
        text = _param_str(params, "text") or ""
        blocks = _blocks_from(params)
        if not text and blocks is None:
            raise SlackApiFailure("no_text")
        metadata = _metadata_from(params)
        thread_ts = _param_str(params, "thread_ts") or None
        parent = None
        if thread_ts is not None:
            parent = self._by_key.get((channel.id, thread_ts))
            if parent is None:
                raise SlackApiFailure("thread_not_found")
            # A reply's ts names the same thread in the Slack client; store replies under the real parent.
            if parent.thread_ts is not None:
                parent = self._by_key[(channel.id, parent.thread_ts)]
        # Throttle last, so the 429 means "valid, just too soon" and a rejected post never consumes a slot.
        # Slack counts a post when it arrives: the throttle's clock reading is the one the next post is measured from.
        arrived = time.monotonic()
        retry_after = self._rate_limit_wait(channel.id, arrived)
        if retry_after is not None:
            self._stats["ratelimited"] += 1
            return _Reply.json(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
            )
        warnings = []
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
            warnings.append("message_truncated")
        message = _StoredMessage(
            channel_id=channel.id,
            channel_name=channel.name,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            metadata=metadata,
            thread_ts=parent.ts if parent is not None else None,
            reply_broadcast=bool(parent is not None and _param_bool(params, "reply_broadcast")),
            unfurl_links=_param_bool(params, "unfurl_links", None),
            unfurl_media=_param_bool(params, "unfurl_media", None),
            mrkdwn=_param_bool(params, "mrkdwn", None),
            received_at=time.time(),
        )
        self._messages.append(message)
        self._by_key[(channel.id, message.ts)] = message
        if parent is not None:
            parent.reply_ts.append(message.ts)
        interval = max(0.0, self.seconds_per_message_per_channel)
        self._next_due[channel.id] = max(self._next_due.get(channel.id, arrived), arrived) + interval
        self._workspace_posts.append(arrived)
        self._stats["posted"] += 1
        result: dict[str, Any] = {
            "channel": channel.id,
            "ts": message.ts,
            "message": message.to_api(include_metadata=True),
        }
        if warnings:
            result["response_metadata"] = {
                "warnings": warnings,
                "messages": [
                    "[WARN] Your message was truncated but still posted. "
                    "The `text` field accepts up to 40,000 characters."
                ],
            }
        return result

    def _rate_limit_wait(self, channel_id: str, now: float) -> int | None:
        cap = self.workspace_messages_per_minute
        if cap:
            window = self.workspace_window_seconds
            while self._workspace_posts and now - self._workspace_posts[0] >= window:
                self._workspace_posts.popleft()
            if len(self._workspace_posts) >= cap:
                self._stats["workspace_ratelimited"] += 1
                return max(1, math.ceil(window - (now - self._workspace_posts[0])))
        interval = self.seconds_per_message_per_channel
        due = self._next_due.get(channel_id)
        if interval <= 0 or due is None:
            return None
        remaining = due - interval * self.burst_tolerance - now
        if remaining <= 0:
            return None
        # slack_sdk parses Retry-After with int(), so it must be a whole number; never tell "retry in 0 s".
        return max(1, math.ceil(remaining))

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(_param_str(params, "channel"), allow_name=False)
        ts = _param_str(params, "ts")
        message = self._by_key.get((channel.id, ts or ""))
        if message is None:
            raise SlackApiFailure("message_not_found")
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        text = _param_str(params, "text")
        blocks = _blocks_from(params)
        has_blocks_param = params.get("blocks") is not None
        if not text and not has_blocks_param:
            raise SlackApiFailure("no_text")
        metadata = _metadata_from(params)
        message.edits.append(
            {
                "text": message.text,
                "blocks": copy.deepcopy(message.blocks),
                "metadata": copy.deepcopy(message.metadata),
                "replaced_at": time.time(),
            }
        )
        # Omitted fields keep their old value; an empty blocks array removes the blocks (Slack semantics).
        if text is not None:
            message.text = text[:MAX_TEXT_CHARS]
        if has_blocks_param:
            message.blocks = blocks
        if metadata is not None:
            message.metadata = metadata
        message.edited_ts = self._next_ts()
        self._stats["updated"] += 1
        return {
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": message.to_api(include_metadata=True),
        }

    def _conversations_join(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(_param_str(params, "channel"), allow_name=False)
        if channel.is_private:
            raise SlackApiFailure("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise SlackApiFailure("is_archived")
        result: dict[str, Any] = {}
        if channel.is_member:
            result = {
                "warning": "already_in_channel",
                "response_metadata": {"warnings": ["already_in_channel"]},
            }
        channel.is_member = True
        return {"channel": channel.to_api(), **result}

    def _conversations_list(self, params: dict[str, Any]) -> dict[str, Any]:
        types = {t.strip() for t in (_param_str(params, "types") or "public_channel").split(",") if t.strip()}
        exclude_archived = bool(_param_bool(params, "exclude_archived"))
        visible = [
            c
            for c in self._channels.values()
            if not (exclude_archived and c.is_archived)
            and (
                ("private_channel" in types and c.is_private and c.is_member)
                or ("public_channel" in types and not c.is_private)
            )
        ]
        page, next_cursor = _paginate(
            visible,
            key=lambda c: c.id,
            kind="next_id",
            limit=_param_int(params, "limit", 100, 1000),
            cursor=_param_str(params, "cursor"),
        )
        return {"channels": [c.to_api() for c in page], "response_metadata": {"next_cursor": next_cursor}}

    def _readable_channel(self, params: dict[str, Any]) -> _Channel:
        channel = self._find_channel(_param_str(params, "channel"), allow_name=False)
        if channel.is_private and not channel.is_member:
            raise SlackApiFailure("not_in_channel")
        return channel

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params)
        oldest = _param_ts(params, "oldest", "invalid_ts_oldest")
        latest = _param_ts(params, "latest", "invalid_ts_latest")
        inclusive = bool(_param_bool(params, "inclusive"))
        include_metadata = bool(_param_bool(params, "include_all_metadata"))

        def in_window(ts: Decimal) -> bool:
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                return False
            return latest is None or ts < latest or (ts == latest and inclusive)

        # The channel view: top-level messages plus replies that were also sent to the channel.
        visible = [
            m
            for m in self._messages
            if m.channel_id == channel.id
            and (m.thread_ts is None or m.reply_broadcast)
            and in_window(Decimal(m.ts))
        ]
        visible.sort(key=lambda m: Decimal(m.ts), reverse=True)
        page, next_cursor = _paginate(
            visible,
            key=lambda m: m.ts,
            kind="next_ts",
            limit=_param_int(params, "limit", 100, 999),
            cursor=_param_str(params, "cursor"),
        )
        return {
            "messages": [m.to_api(include_metadata=include_metadata) for m in page],
            "has_more": bool(next_cursor),
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(params)
        include_metadata = bool(_param_bool(params, "include_all_metadata"))
        message = self._by_key.get((channel.id, _param_str(params, "ts") or ""))
        if message is None:
            raise SlackApiFailure("thread_not_found")
        parent = self._by_key[(channel.id, message.thread_ts)] if message.thread_ts else message
        thread = [parent, *(self._by_key[(channel.id, ts)] for ts in parent.reply_ts)]
        page, next_cursor = _paginate(
            thread,
            key=lambda m: m.ts,
            kind="next_ts",
            limit=_param_int(params, "limit", 1000, 1000),
            cursor=_param_str(params, "cursor"),
        )
        return {
            "messages": [m.to_api(include_metadata=include_metadata) for m in page],
            "has_more": bool(next_cursor),
            "response_metadata": {"next_cursor": next_cursor},
        }


def main(argv: Sequence[str] | None = None) -> None:
    """Run the sandbox as its own process (for the demo and for tests in other processes)."""
    parser = argparse.ArgumentParser(description="Local Slack Web API sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--bot-token", default=DEFAULT_BOT_TOKEN)
    parser.add_argument("--signing-secret", default=DEFAULT_SIGNING_SECRET)
    parser.add_argument("--seconds-per-message-per-channel", type=float, default=1.0)
    parser.add_argument("--workspace-messages-per-minute", type=int, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    sandbox = SlackSandbox(
        bot_token=args.bot_token,
        signing_secret=args.signing_secret,
        seconds_per_message_per_channel=args.seconds_per_message_per_channel,
        workspace_messages_per_minute=args.workspace_messages_per_minute,
        host=args.host,
        port=args.port,
    )
    with sandbox:
        print(f"Slack sandbox: api_url={sandbox.api_url} bot_token={sandbox.bot_token}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
