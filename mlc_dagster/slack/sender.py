"""Delivering the outbox: claim pending deliveries, post them paced per channel, record the outcome.

Exactly once despite crashes and concurrent runs:
- a claim moves rows pending -> sending in one warehouse transaction, so two runs never hold the same
  row; the claim also fixes how each row is posted (its own message, a reply in an earlier message's
  thread, or part of a digest), so a later run can tell where to look for it;
- every message carries metadata (an event type and alert or digest ids, never finance data);
- a run holds a lease (alerts.delivery_runs, a heartbeat); rows left in `sending` by a run whose lease
  lapsed, that finished, or that Dagster knows is dead are reconciled against the channel's history
  (and the threads they were meant for) before anything is posted again;
- slack_sdk's connection-retry handler is off: a retry after "sent but no answer" would double-post;
  an unanswered post (timeout, dropped connection, 5xx) is looked up in Slack before it is retried.

Pacing (pacing.Pacer): one message per second per channel, channels in parallel, Retry-After honoured
on 429, a workspace-wide pause when several channels are limited at once.

Floods and repeats: past `digest_threshold` top-level messages for one channel in a claim, the channel
gets one digest message (counts, the largest items) and the alerts go into its thread in batches; an
alert about a record that already has a message in the channel goes into that message's thread (the
same rule within `repeat_interval`: a repeat; another rule within `thread_window`: a follow-up), and a
record's later change (approved, paid, on hold) updates the original message.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import duckdb
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..alerts import alert_id as make_alert_id
from ..warehouse import Warehouse, utcnow
from ..workday.entities import ENTITIES
from .messages import (
    DIGEST_EVENT_TYPE,
    DigestItem,
    Message,
    alert_message,
    alerts_carried,
    batch_message,
    digest_message,
    escape,
    workday_url,
)
from .outbox import NewAlert, enqueue
from .pacing import Pacer

log = logging.getLogger(__name__)
_T = TypeVar("_T")

FATAL_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
DEAD_CHANNEL_ERRORS = {"channel_not_found", "is_archived", "restricted_action",
                       "restricted_action_read_only_channel", "team_access_not_granted"}
INVALID_BLOCK_ERRORS = {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long"}
SERVER_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
RATE_LIMIT_ERRORS = {"ratelimited", "rate_limited"}
TRACKED_STATE = ("approval_status", "payment_status", "on_hold")  # what a later change updates in place
HINTS = {
    "channel_not_found": "the channel does not exist or the bot cannot see it: fix the subscription's channel "
                         "or invite the bot",
    "is_archived": "the channel is archived: unarchive it or point the subscription at another channel",
    "not_in_channel": "the bot is not in this private channel: invite it (/invite @bot)",
}


class SlackAuthError(RuntimeError):
    """The bot token was refused: nothing more can be posted until it is fixed."""


def make_client(token: str, api_url: str, timeout: int = 30) -> WebClient:
    if not token:
        raise ValueError("SLACK_BOT_TOKEN is not set: give the bot token (xoxb-...) of the Slack app")
    # retry_handlers=[]: connection errors are resolved by reconciliation, never a blind re-post.
    return WebClient(token=token, base_url=api_url, timeout=timeout, retry_handlers=[])


def _env_number(name: str, default: float, kind: type = float) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a {'whole ' if kind is int else ''}number") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r}: expected a number of at least 0")
    return value


@dataclass(frozen=True)
class DeliverySettings:
    seconds_per_message: float = 1.0  # per channel (Slack: 1 message/s per channel)
    max_channels_in_parallel: int = 8
    digest_threshold: int = 20  # more top-level messages than this for a channel in one claim: a digest
    digest_batch: int = 25  # alerts per thread reply of a digest (Block Kit: at most 49)
    digest_top: int = 10  # items listed in the digest message itself
    repeat_interval: timedelta = timedelta(hours=24)  # the same rule about the same record: a thread reply
    thread_window: timedelta = timedelta(days=30)  # another rule about the record: a reply, and updates
    stale_after: timedelta = timedelta(minutes=2)  # a run's lease lapses this long after its last heartbeat
    heartbeat_seconds: float = 10.0
    dagster_ui_url: str | None = None  # links to the run that raised an alert
    workday_ui_url: str | None = None  # "Open in Workday" buttons: base + the record's WID
    ops_channel: str | None = None  # told about channels that cannot receive alerts
    max_attempts: int = 4  # per message, for 5xx and unanswered posts (429 waits do not count)
    backoff_seconds: float = 0.5  # first backoff after a 5xx or a timeout; doubles, capped at 30 s
    refresh_updates: bool = True  # chat.update earlier messages when their record changed

    @classmethod
    def from_env(cls, **overrides: Any) -> DeliverySettings:
        """MLC_DAGSTER_UI_URL, MLC_WORKDAY_UI_URL, MLC_OPS_CHANNEL, MLC_DIGEST_THRESHOLD,
        MLC_REPEAT_INTERVAL_HOURS, MLC_THREAD_DAYS; keyword overrides win."""
        values: dict[str, Any] = {
            "dagster_ui_url": os.environ.get("MLC_DAGSTER_UI_URL") or None,
            "workday_ui_url": os.environ.get("MLC_WORKDAY_UI_URL") or None,
            "ops_channel": os.environ.get("MLC_OPS_CHANNEL") or None,
            "digest_threshold": _env_number("MLC_DIGEST_THRESHOLD", 20, int),
            "repeat_interval": timedelta(hours=_env_number("MLC_REPEAT_INTERVAL_HOURS", 24.0)),
            "thread_window": timedelta(days=_env_number("MLC_THREAD_DAYS", 30.0)),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass
class Posted:
    alert_id: str
    channel: str
    channel_id: str
    ts: str
    posted_as: str = "message"
    thread_ts: str | None = None


@dataclass
class DeliveryReport:
    claimed: int = 0
    posted: list[Posted] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # "alert -> channel": reason
    released: int = 0
    rate_limited: int = 0
    reconciled: int = 0
    plain_text_fallbacks: int = 0
    api_calls: int = 0
    messages: int = 0  # Slack messages posted (a digest batch carries many alerts)
    digests: int = 0
    thread_replies: int = 0
    updated: int = 0  # earlier messages updated in place (chat.update)
    dead_channels: dict[str, str] = field(default_factory=dict)
    ops_notices: int = 0
    workspace_pauses: int = 0

    def by_channel(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for post in self.posted:
            counts[post.channel] += 1
        return dict(counts)


@dataclass
class _Claim:
    alert_id: str
    channel: str
    rule: str
    entity: str
    entity_wid: str | None
    details: dict[str, Any]
    window: str
    mention: str | None
    run_id: str | None
    generation: int = 0
    forced: bool = False
    posted_as: str | None = None
    thread_ts: str | None = None
    reply_to: str | None = None
    digest_id: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.alert_id, self.channel


@dataclass
class _Digest:
    digest_id: str
    channel: str
    alert_count: int
    slack_ts: str | None = None
    slack_channel_id: str | None = None
    already_sent: int = 0
    claims: list[_Claim] = field(default_factory=list)


@dataclass
class _Update:
    alert_id: str
    channel: str
    channel_id: str
    ts: str
    claim: _Claim
    state: dict[str, Any]
    changes: list[str]


@dataclass
class _Lane:
    channel: str
    singles: list[_Claim] = field(default_factory=list)
    digests: list[_Digest] = field(default_factory=list)
    updates: list[_Update] = field(default_factory=list)


@dataclass
class _Sent:
    channel_id: str
    ts: str
    fallback: str | None = None
    reconciled: bool = False


class _ChannelDead(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _AuthStop(Exception):
    pass


class _GiveUp(Exception):
    """This message cannot be posted now: `outcome` is failed (permanent), pending (retry in a later run)
    or sending (outcome unknown: the next run reconciles it)."""

    def __init__(self, reason: str, outcome: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.outcome = outcome


def _norm(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).lower() if str(value).lower() in ("true", "false") else str(value)


class SlackDelivery:
    def __init__(self, warehouse: Warehouse, client: WebClient, run_id: str,
                 settings: DeliverySettings | None = None, *, ui_url: str | None = None,
                 sleep: Callable[[float], None] | None = None, **overrides: Any) -> None:
        base = settings or DeliverySettings()
        if ui_url:
            overrides["dagster_ui_url"] = ui_url
        known = {f.name for f in fields(DeliverySettings)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown delivery settings: {', '.join(sorted(unknown))}")
        self.settings = replace(base, **overrides)
        self.warehouse = warehouse
        self.client = client
        self.run_id = run_id
        self.pacer = Pacer(self.settings.seconds_per_message)
        self._sleep = sleep
        self._channel_ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._auth_failure: str | None = None
        self._beat_stop = threading.Event()
        self._report = DeliveryReport()

    # -- warehouse helpers --------------------------------------------------------------------------

    def _transact(self, work: Callable[[duckdb.DuckDBPyConnection], _T]) -> _T:
        """`work` in one write transaction, retried when it conflicts with a concurrent transaction."""
        for attempt in range(10):
            with self.warehouse.connect() as con:
                con.execute("BEGIN TRANSACTION")
                try:
                    result = work(con)
                    con.execute("COMMIT")
                    return result
                except duckdb.TransactionException:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    if attempt == 9:
                        raise
                except BaseException:
                    with contextlib.suppress(duckdb.Error):
                        con.execute("ROLLBACK")
                    raise
            time.sleep(0.01 * (attempt + 1) * (1 + random.random()))
        raise AssertionError("unreachable")

    def _write(self, sql: str, params: list[Any]) -> None:
        for attempt in range(8):
            try:
                with self.warehouse.connect() as con:
                    con.execute(sql, params).fetchall()
                return
            except duckdb.TransactionException:
                if attempt == 7:
                    raise
                time.sleep(0.01 * (attempt + 1) * (1 + random.random()))

    # -- leases -------------------------------------------------------------------------------------

    def _start_lease(self) -> threading.Thread:
        now = utcnow()
        self._write("INSERT OR REPLACE INTO alerts.delivery_runs VALUES (?, ?, ?, NULL)", [self.run_id, now, now])
        self._beat_stop.clear()

        def beat() -> None:
            while not self._beat_stop.wait(self.settings.heartbeat_seconds):
                try:
                    self._write("UPDATE alerts.delivery_runs SET heartbeat_at = ? WHERE run_id = ?",
                                [utcnow(), self.run_id])
                except Exception as exc:  # a missed beat only risks an early reconciliation, which is safe
                    log.warning("delivery heartbeat failed: %s", exc)

        thread = threading.Thread(target=beat, name="slack-delivery-heartbeat", daemon=True)
        thread.start()
        return thread

    def _end_lease(self, thread: threading.Thread) -> None:
        self._beat_stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._write("UPDATE alerts.delivery_runs SET heartbeat_at = ?, finished_at = ? WHERE run_id = ?",
                        [utcnow(), utcnow(), self.run_id])

    # -- claiming and planning ----------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> list[_Claim]:
        """Move pending deliveries to `sending` for this run and decide how each is posted, atomically."""
        def work(con: duckdb.DuckDBPyConnection) -> list[_Claim]:
            rows = con.execute(
                "UPDATE alerts.deliveries SET status = 'sending', claimed_by = ?, claimed_at = ?, "
                "attempts = attempts + 1 WHERE (alert_id, channel) IN ("
                "  SELECT alert_id, channel FROM alerts.deliveries WHERE status = 'pending' "
                "  ORDER BY created_at, alert_id, channel" + (f" LIMIT {int(limit)}" if limit else "") +
                ") RETURNING alert_id, channel, mention, coalesce(generation, 0), coalesce(forced, false), "
                "posted_as, thread_ts, reply_to, digest_id",
                [self.run_id, utcnow()],
            ).fetchall()
            if not rows:
                return []
            ids = sorted({r[0] for r in rows})
            info = {
                r[0]: r[1:]
                for r in con.execute(
                    "SELECT alert_id, rule, entity, entity_wid, details, window_start, window_end, run_id "
                    "FROM alerts.alerts WHERE list_contains(?, alert_id)", [ids]
                ).fetchall()
            }
            claims = []
            for alert, channel, mention, generation, forced, posted_as, thread_ts, reply_to, digest_id in rows:
                rule, entity, wid, details, start, end, run_id = info[alert]
                window = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC" if start and end else ""
                claims.append(_Claim(alert, channel, rule, entity, wid, json.loads(details or "{}"), window,
                                     mention, run_id, int(generation), bool(forced), posted_as, thread_ts,
                                     reply_to, digest_id))
            self._plan(con, claims)
            return claims

        claims = self._transact(work)
        claims.sort(key=lambda c: (c.channel, c.alert_id))
        return claims

    def _plan(self, con: duckdb.DuckDBPyConnection, claims: list[_Claim]) -> None:
        """Threads for repeats and follow-ups, digests for bursts; persisted with the claim."""
        keep = [c for c in claims if c.digest_id or (c.thread_ts and c.posted_as in ("repeat", "follow_up"))]
        fresh = [c for c in claims if c not in keep]
        for claim in fresh:
            claim.posted_as, claim.thread_ts, claim.reply_to, claim.digest_id = None, None, None, None
        threadable = [c for c in fresh if not c.forced]
        if threadable:
            now = utcnow()
            parents = con.execute(
                "SELECT c.alert_id, c.channel, pa.alert_id, pd.slack_ts, pa.rule = ca.rule "
                "FROM (SELECT unnest(?) AS alert_id, unnest(?) AS channel) c "
                "JOIN alerts.alerts ca ON ca.alert_id = c.alert_id "
                "JOIN alerts.alerts pa ON pa.entity = ca.entity "
                "  AND coalesce(pa.entity_wid, pa.entity_id) = coalesce(ca.entity_wid, ca.entity_id) "
                "  AND pa.alert_id <> ca.alert_id "
                "JOIN alerts.deliveries pd ON pd.alert_id = pa.alert_id AND pd.channel = c.channel "
                "WHERE pd.status = 'sent' AND pd.slack_ts IS NOT NULL AND pd.thread_ts IS NULL "
                "  AND pd.digest_id IS NULL AND pd.sent_at >= CASE WHEN pa.rule = ca.rule THEN ? ELSE ? END "
                "QUALIFY row_number() OVER (PARTITION BY c.alert_id, c.channel ORDER BY pd.sent_at DESC) = 1",
                [[c.alert_id for c in threadable], [c.channel for c in threadable],
                 now - self.settings.repeat_interval, now - self.settings.thread_window],
            ).fetchall()
            found = {(a, ch): (parent, ts, same) for a, ch, parent, ts, same in parents}
            for claim in threadable:
                hit = found.get(claim.key)
                if hit:
                    claim.reply_to, claim.thread_ts = hit[0], hit[1]
                    claim.posted_as = "repeat" if hit[2] else "follow_up"
        top_level: dict[str, list[_Claim]] = defaultdict(list)
        for claim in fresh:
            if claim.posted_as is None:
                top_level[claim.channel].append(claim)
        now = utcnow()
        for channel, items in top_level.items():
            if len(items) > self.settings.digest_threshold:
                digest_id = "digest:" + hashlib.sha256(
                    f"{self.run_id}\x1f{channel}\x1f{items[0].alert_id}".encode()).hexdigest()[:20]
                con.execute("INSERT INTO alerts.digests (digest_id, channel, alert_count, status, claimed_by, "
                            "created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
                            [digest_id, channel, len(items), self.run_id, now]).fetchall()
                for claim in items:
                    claim.posted_as, claim.digest_id = "digest", digest_id
            else:
                for claim in items:
                    claim.posted_as = "message"
        if fresh:
            con.executemany("UPDATE alerts.deliveries SET posted_as = ?, thread_ts = ?, reply_to = ?, digest_id = ? "
                            "WHERE alert_id = ? AND channel = ?",
                            [[c.posted_as, c.thread_ts, c.reply_to, c.digest_id, c.alert_id, c.channel] for c in fresh])

    def _digests_for(self, claims: list[_Claim]) -> dict[str, _Digest]:
        ids = sorted({c.digest_id for c in claims if c.digest_id})
        if not ids:
            return {}
        rows = self.warehouse.query(
            "SELECT g.digest_id, g.channel, g.alert_count, g.slack_ts, g.slack_channel_id, "
            "(SELECT count(*) FROM alerts.deliveries d WHERE d.digest_id = g.digest_id AND d.status = 'sent') "
            "FROM alerts.digests g WHERE list_contains(?, g.digest_id)", [ids])
        digests = {r[0]: _Digest(r[0], r[1], int(r[2]), r[3], r[4], int(r[5])) for r in rows}
        for claim in claims:
            if claim.digest_id:
                digests[claim.digest_id].claims.append(claim)
        return digests

    # -- recording ----------------------------------------------------------------------------------

    def _record_sent(self, claims: Sequence[_Claim], sent: _Sent, thread_ts: str | None) -> None:
        note = f"{sent.fallback}: sent as plain text" if sent.fallback else None
        now = utcnow()
        # No registered Arrow tables here: lanes write from several threads, and DuckDB creates its Arrow
        # scan function inside the first registering transaction, invisible to the others until it commits.
        self._transact(lambda con: con.executemany(
                "UPDATE alerts.deliveries SET status = 'sent', slack_channel_id = ?, slack_ts = ?, thread_ts = ?, "
                "sent_at = ?, last_error = ?, shown_state = ?, posted_as = ? "
                "WHERE alert_id = ? AND channel = ? AND claimed_by = ? AND status = 'sending'",
                [[sent.channel_id, sent.ts, thread_ts, now, note,
                  json.dumps({k: c.details[k] for k in TRACKED_STATE if k in c.details}), c.posted_as or "message",
                  c.alert_id, c.channel, self.run_id] for c in claims]))
        with self._lock:
            report = self._report
            for claim in claims:
                report.posted.append(Posted(claim.alert_id, claim.channel, sent.channel_id, sent.ts,
                                            claim.posted_as or "message", thread_ts))
            if sent.reconciled:
                report.reconciled += len(claims)
            else:
                report.messages += 1
                if thread_ts and claims[0].posted_as in ("repeat", "follow_up"):
                    report.thread_replies += 1

    def _record_status(self, claims: Sequence[_Claim], status: str, reason: str, *, unplan: bool = False) -> None:
        if not claims:
            return
        plan = ", posted_as = NULL, thread_ts = NULL, reply_to = NULL, digest_id = NULL" if unplan else ""
        for claim in claims:
            self._write(
                f"UPDATE alerts.deliveries SET status = ?, last_error = ?{plan} "
                "WHERE alert_id = ? AND channel = ? AND claimed_by = ? AND status = 'sending'",
                [status, reason, claim.alert_id, claim.channel, self.run_id])
        with self._lock:
            for claim in claims:
                if status == "failed":
                    self._report.failed[f"{claim.alert_id} -> {claim.channel}"] = reason
                elif status == "pending":
                    self._report.released += 1

    def pending_count(self) -> int:
        row = self.warehouse.query("SELECT count(*) FROM alerts.deliveries WHERE status = 'pending'")
        return int(row[0][0]) if row else 0

    # -- Slack calls besides posting ----------------------------------------------------------------

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        """A read or housekeeping call (history, replies, list, join, update), waiting out 429s."""
        for _ in range(10):
            with self._lock:
                self._report.api_calls += 1
            try:
                return method(**kwargs)
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                if error in FATAL_AUTH_ERRORS:
                    self._stop(error)
                    raise _AuthStop() from None
                if exc.response is None or (exc.response.status_code != 429 and error not in RATE_LIMIT_ERRORS):
                    raise
                with self._lock:
                    self._report.rate_limited += 1
                if not self.pacer.pause(_retry_after(exc.response.headers)):
                    raise _AuthStop() from None
        raise RuntimeError("Slack kept answering 429 (rate limited)")

    def channel_id(self, channel: str) -> str | None:
        """A channel name (#x or x) or ID -> ID, from conversations.list (cached)."""
        if channel[:1] in "CGD" and channel[1:].isalnum() and channel.upper() == channel:
            return channel
        name = channel.lstrip("#")
        with self._lock:
            if name in self._channel_ids:
                return self._channel_ids[name]
        cursor = None
        while True:
            response = self._call(self.client.conversations_list, types="public_channel,private_channel",
                                  limit=200, cursor=cursor)
            channels: list[dict[str, Any]] = response.get("channels", [])
            with self._lock:
                for item in channels:
                    self._channel_ids[item["name"]] = item["id"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        with self._lock:
            return self._channel_ids.get(name)

    def _scan(self, channel_id: str, *, thread_ts: str | None = None,
              oldest: datetime | None = None) -> tuple[dict[tuple[str, int], tuple[str, str | None]], dict[str, str]]:
        """Our messages in a channel's history since `oldest` (or in one thread): alert (id, generation) ->
        (ts, thread_ts), and digest id -> ts."""
        alerts: dict[tuple[str, int], tuple[str, str | None]] = {}
        digests: dict[str, str] = {}
        cursor = None
        while True:
            if thread_ts:
                response = self._call(self.client.conversations_replies, channel=channel_id, ts=thread_ts,
                                      limit=200, include_all_metadata=True, cursor=cursor)
            else:
                since = f"{(oldest - timedelta(minutes=2)).timestamp() if oldest else 0:.6f}"
                response = self._call(self.client.conversations_history, channel=channel_id, oldest=since,
                                      limit=200, include_all_metadata=True, cursor=cursor)
            for message in response.get("messages", []):
                parent = message.get("thread_ts") if message.get("thread_ts") != message.get("ts") else None
                for carried in alerts_carried(message):
                    alerts[carried] = (message["ts"], parent)
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == DIGEST_EVENT_TYPE and payload.get("digest_id"):
                    digests[str(payload["digest_id"])] = message["ts"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return alerts, digests

    def find_posted(self, channel: str, alert_id: str, since: datetime | None,
                    thread_ts: str | None = None, generation: int = 0) -> tuple[str, str] | None:
        """Look for our own message for `alert_id` in the channel's recent history (or a thread)."""
        channel_id = self.channel_id(channel)
        if channel_id is None:
            return None
        alerts, _ = self._scan(channel_id, thread_ts=thread_ts, oldest=since)
        hit = alerts.get((alert_id, generation))
        return (channel_id, hit[0]) if hit else None

    # -- reconciliation -----------------------------------------------------------------------------

    def reconcile_stale(self, report: DeliveryReport | None = None, dead_runs: set[str] | None = None) -> int:
        """Rows left in `sending` by a run that is gone: sent if Slack has them, else pending again."""
        report = report or self._report
        cutoff = utcnow() - self.settings.stale_after
        rows = self.warehouse.query(
            "SELECT d.alert_id, d.channel, d.claimed_by, d.claimed_at, d.thread_ts, d.digest_id, "
            "coalesce(d.generation, 0), g.slack_ts "
            "FROM alerts.deliveries d LEFT JOIN alerts.delivery_runs r ON r.run_id = d.claimed_by "
            "LEFT JOIN alerts.digests g ON g.digest_id = d.digest_id "
            "WHERE d.status = 'sending' AND d.claimed_by IS DISTINCT FROM ? AND (list_contains(?, d.claimed_by) "
            "OR r.finished_at IS NOT NULL OR coalesce(r.heartbeat_at, d.claimed_at) < ?)",
            [self.run_id, sorted(dead_runs or set()), cutoff],
        )
        by_channel: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for row in rows:
            by_channel[row[1]].append(row)
        for channel, items in by_channel.items():
            self._reconcile_channel(channel, items)
        report.reconciled += len(rows)
        return len(rows)

    def _reconcile_channel(self, channel: str, rows: list[tuple[Any, ...]]) -> None:
        channel_id = self.channel_id(channel)
        found: dict[tuple[str, int], tuple[str, str | None]] = {}
        digest_ts: dict[str, str] = {}
        if channel_id is not None:
            oldest = min(r[3] for r in rows if r[3] is not None) if any(r[3] for r in rows) else None
            top, digest_ts = self._scan(channel_id, oldest=oldest)
            found.update(top)
            for row in rows:  # recorded digest ts wins over the scan
                if row[5] and row[7]:
                    digest_ts[row[5]] = row[7]
            threads = {r[4] for r in rows if r[4] and not r[5]}
            threads |= {digest_ts[r[5]] for r in rows if r[5] and r[5] in digest_ts}
            for thread in sorted(threads):
                try:
                    replies, _ = self._scan(channel_id, thread_ts=thread)
                except SlackApiError as exc:
                    if exc.response is None or exc.response.get("error") != "thread_not_found":
                        raise
                    continue
                found.update(replies)
        def work(con: duckdb.DuckDBPyConnection) -> None:
            for digest_id, ts in digest_ts.items():
                con.execute("UPDATE alerts.digests SET status = 'posted', slack_ts = ?, slack_channel_id = ?, "
                            "posted_at = coalesce(posted_at, ?) WHERE digest_id = ? AND slack_ts IS NULL",
                            [ts, channel_id, utcnow(), digest_id]).fetchall()
            for alert, chan, claimed_by, _, _, digest_id, generation, _ in rows:
                hit = found.get((alert, int(generation)))
                where = "WHERE alert_id = ? AND channel = ? AND claimed_by = ? AND status = 'sending'"
                if hit:
                    con.execute("UPDATE alerts.deliveries SET status = 'sent', slack_channel_id = ?, slack_ts = ?, "
                                f"thread_ts = ?, sent_at = ?, last_error = NULL {where}",
                                [channel_id, hit[0], hit[1], utcnow(), alert, chan, claimed_by]).fetchall()
                elif digest_id and digest_id not in digest_ts:  # the digest never reached Slack
                    con.execute("UPDATE alerts.digests SET status = 'abandoned' WHERE digest_id = ?",
                                [digest_id]).fetchall()
                    con.execute("UPDATE alerts.deliveries SET status = 'pending', posted_as = NULL, digest_id = NULL "
                                + where, [alert, chan, claimed_by]).fetchall()
                else:  # a digest's remaining items stay in it and continue in its thread
                    con.execute(f"UPDATE alerts.deliveries SET status = 'pending' {where}",
                                [alert, chan, claimed_by]).fetchall()

        self._transact(work)

    # -- the run ------------------------------------------------------------------------------------

    def deliver_pending(self, limit: int | None = None, dead_runs: set[str] | None = None) -> DeliveryReport:
        self._report = report = DeliveryReport()
        beat = self._start_lease()
        try:
            self.reconcile_stale(report, dead_runs)
            self._cycle(limit, refresh=self.settings.refresh_updates)
            if report.dead_channels and not self._auth_failure and self._notify_ops(report.dead_channels):
                self._cycle(None, refresh=False)
        except _AuthStop:
            pass
        finally:
            self._end_lease(beat)
            report.workspace_pauses = self.pacer.workspace_pauses
        if self._auth_failure:
            raise SlackAuthError(
                f"Slack refused the bot token ({self._auth_failure}); every undelivered alert is kept pending. "
                "Check SLACK_BOT_TOKEN (reinstall the app or rotate the token), then run `mlc-dagster deliver`."
            )
        return report

    def _cycle(self, limit: int | None, refresh: bool) -> None:
        claims = self.claim(limit)
        self._report.claimed += len(claims)
        lanes: dict[str, _Lane] = {}
        digests = self._digests_for(claims)
        for claim in claims:
            lane = lanes.setdefault(claim.channel, _Lane(claim.channel))
            if not claim.digest_id:
                lane.singles.append(claim)
        for digest in digests.values():
            lanes.setdefault(digest.channel, _Lane(digest.channel)).digests.append(digest)
        self._report.digests += sum(1 for d in digests.values() if d.slack_ts is None)
        if refresh:
            for update in self._changed_records():
                lanes.setdefault(update.channel, _Lane(update.channel)).updates.append(update)
        if not lanes:
            return
        workers = max(1, min(self.settings.max_channels_in_parallel, len(lanes)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-channel") as pool:
            for future in [pool.submit(self._run_lane, lane) for lane in lanes.values()]:
                future.result()

    def _run_lane(self, lane: _Lane) -> None:
        remaining: list[_Claim] = [*lane.singles, *(c for d in lane.digests for c in d.claims)]
        done: set[tuple[str, str]] = set()

        def finish(claims: Sequence[_Claim]) -> None:
            done.update(c.key for c in claims)

        try:
            for digest in lane.digests:
                if digest.slack_ts is None:
                    self._post_digest_parent(digest, finish)
            for claim in lane.singles:
                self._post_single(claim)
                finish([claim])
            for digest in lane.digests:
                if digest.slack_ts is not None:
                    self._post_digest_batches(digest, finish)
            for update in lane.updates:
                self._update_message(update)
        except _ChannelDead as dead:
            left = [c for c in remaining if c.key not in done]
            self._record_status(left, "failed", dead.reason)
            for digest in lane.digests:
                self._write("UPDATE alerts.digests SET status = 'failed' WHERE digest_id = ? AND slack_ts IS NULL",
                            [digest.digest_id])
            with self._lock:
                self._report.dead_channels[lane.channel] = dead.reason
        except _AuthStop:
            left = [c for c in remaining if c.key not in done]
            self._record_status(left, "pending", f"not posted: {self._auth_failure}")

    # -- posting ------------------------------------------------------------------------------------

    def _link(self, claim: _Claim) -> str | None:
        if claim.entity not in ENTITIES:
            return None
        return workday_url(self.settings.workday_ui_url, claim.entity_wid)

    def _run_url(self, run_id: str | None) -> str | None:
        base = self.settings.dagster_ui_url
        return f"{base.rstrip('/')}/runs/{run_id}" if base and run_id else None

    def _message_for(self, claim: _Claim, note: str | None = None,
                     details: dict[str, Any] | None = None) -> Message:
        return alert_message(claim.alert_id, claim.rule, details or claim.details, window=claim.window,
                             run_url=self._run_url(claim.run_id), mention=claim.mention,
                             workday_link=self._link(claim), note=note, generation=claim.generation)

    def _post_single(self, claim: _Claim) -> None:
        message = self._message_for(claim)
        thread_ts = claim.thread_ts if claim.posted_as in ("repeat", "follow_up") else None
        kwargs: dict[str, Any] = {}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
            if claim.details.get("broadcast"):
                kwargs["reply_broadcast"] = True
        started = utcnow()

        def locate() -> _Sent | None:
            found = self.find_posted(claim.channel, claim.alert_id, started, thread_ts, claim.generation)
            return _Sent(found[0], found[1], reconciled=True) if found else None

        try:
            try:
                sent = self._post(claim.channel, message, kwargs, locate)
            except _GiveUp as give_up:
                if not thread_ts or give_up.reason not in ("thread_not_found", "cannot_reply_to_message"):
                    raise
                # The earlier message is gone: this one stands on its own.
                log.warning("thread %s in %s is gone; posting %s on its own", thread_ts, claim.channel,
                            claim.alert_id)
                thread_ts, claim.posted_as = None, "message"
                kwargs = {}
                sent = self._post(claim.channel, message, kwargs, locate)
        except _GiveUp as give_up:
            if give_up.outcome == "sending":
                log.warning("alert %s to %s: %s", claim.alert_id, claim.channel, give_up.reason)
                return
            self._record_status([claim], give_up.outcome, give_up.reason)
            return
        self._record_sent([claim], sent, thread_ts)

    def _items(self, claims: Sequence[_Claim]) -> list[DigestItem]:
        return [DigestItem(c.alert_id, c.rule, c.details, c.window, self._link(c), c.generation) for c in claims]

    def _post_digest_parent(self, digest: _Digest, finish: Callable[[Sequence[_Claim]], None]) -> None:
        first = digest.claims[0]
        message = digest_message(digest.digest_id, self._items(digest.claims), top=self.settings.digest_top,
                                 run_url=self._run_url(first.run_id), mention=first.mention)
        started = utcnow()

        def locate() -> _Sent | None:
            channel_id = self.channel_id(digest.channel)
            if channel_id is None:
                return None
            _, found = self._scan(channel_id, oldest=started)
            return _Sent(channel_id, found[digest.digest_id], reconciled=True) if digest.digest_id in found else None

        try:
            sent = self._post(digest.channel, message, {}, locate)
        except _GiveUp as give_up:
            if give_up.outcome == "sending":
                finish(digest.claims)  # the next run finds the digest (or not) and carries on
                return
            status = "abandoned" if give_up.outcome == "pending" else "failed"
            self._write("UPDATE alerts.digests SET status = ? WHERE digest_id = ?", [status, digest.digest_id])
            self._record_status(digest.claims, give_up.outcome, give_up.reason, unplan=give_up.outcome == "pending")
            finish(digest.claims)
            return
        self._write("UPDATE alerts.digests SET status = 'posted', slack_ts = ?, slack_channel_id = ?, posted_at = ? "
                    "WHERE digest_id = ?", [sent.ts, sent.channel_id, utcnow(), digest.digest_id])
        digest.slack_ts, digest.slack_channel_id = sent.ts, sent.channel_id
        with self._lock:
            self._report.messages += 0 if sent.reconciled else 1

    def _post_digest_batches(self, digest: _Digest, finish: Callable[[Sequence[_Claim]], None]) -> None:
        claims = sorted(digest.claims, key=lambda c: c.alert_id)
        size = max(1, min(self.settings.digest_batch, 49))
        position = digest.already_sent + 1
        for start in range(0, len(claims), size):
            batch = claims[start:start + size]
            message = batch_message(digest.digest_id, self._items(batch), first=position,
                                    total=digest.alert_count)
            position += len(batch)
            started = utcnow()
            ids = {(c.alert_id, c.generation) for c in batch}

            def locate(ids: set[tuple[str, int]] = ids, started: datetime = started) -> _Sent | None:
                channel_id = digest.slack_channel_id or self.channel_id(digest.channel)
                if channel_id is None or digest.slack_ts is None:
                    return None
                found, _ = self._scan(channel_id, thread_ts=digest.slack_ts, oldest=started)
                hits = {found[key][0] for key in ids if key in found}
                return _Sent(channel_id, hits.pop(), reconciled=True) if len(hits) == 1 else None

            try:
                sent = self._post(digest.channel, message, {"thread_ts": digest.slack_ts}, locate)
            except _GiveUp as give_up:
                if give_up.outcome != "sending":
                    self._record_status(batch, give_up.outcome, give_up.reason)
                finish(batch)
                continue
            self._record_sent(batch, sent, digest.slack_ts)
            finish(batch)

    def _post(self, channel: str, message: Message, extra: dict[str, Any],
              locate: Callable[[], _Sent | None]) -> _Sent:
        """chat.postMessage, paced; raises _ChannelDead, _AuthStop or _GiveUp."""
        use_blocks = True
        joined = False
        fallback: str | None = None
        attempt = 0
        while True:
            if not self.pacer.wait_turn(channel):
                raise _AuthStop()
            attempt += 1
            kwargs: dict[str, Any] = {"channel": channel, "text": message.text, "metadata": message.metadata,
                                      "unfurl_links": False, "unfurl_media": False, **extra}
            if use_blocks:
                kwargs["blocks"] = message.blocks
            with self._lock:
                self._report.api_calls += 1
            try:
                response = self.client.chat_postMessage(**kwargs)
                return _Sent(str(response["channel"]), str(response["ts"]), fallback)
            except SlackApiError as exc:
                response = exc.response
                error = str(response.get("error", "")) if response is not None else ""
                status = response.status_code if response is not None else 0
                if " " in error:  # slack_sdk's note on a non-JSON body (a proxy's 502 page), not a Slack code
                    error = ""
                if status == 429 or error in RATE_LIMIT_ERRORS:
                    with self._lock:
                        self._report.rate_limited += 1
                    self.pacer.rate_limited(channel, _retry_after(response.headers if response is not None else {}))
                    attempt -= 1  # waiting out a rate limit is not a failed attempt
                    continue
                if error in FATAL_AUTH_ERRORS:
                    self._stop(error)
                    raise _AuthStop() from None
                if error == "not_in_channel":
                    if not joined:
                        joined = True
                        if self._join(channel):
                            continue
                    raise _ChannelDead(f"not_in_channel: {HINTS['not_in_channel']}") from None
                if error in DEAD_CHANNEL_ERRORS:
                    raise _ChannelDead(f"{error}: {HINTS.get(error, 'the channel cannot receive messages')}") from None
                if error in INVALID_BLOCK_ERRORS and use_blocks:
                    use_blocks = False
                    details = "; ".join((response.get("response_metadata") or {}).get("messages", [])[:3]) \
                        if response is not None else ""
                    fallback = f"{error} ({details})" if details else error
                    log.warning("Slack refused the blocks for %s (%s); posting the plain-text form", channel, fallback)
                    with self._lock:
                        self._report.plain_text_fallbacks += 1
                    attempt -= 1
                    continue
                reason = error or f"HTTP {status}"
                if status >= 500 or error in SERVER_ERRORS:
                    # An answer, but not a clear "not posted": look before posting again.
                    found = self._locate(locate)
                    if found:
                        return found
                    if attempt < self.settings.max_attempts and self._backoff(attempt):
                        continue
                    raise _GiveUp(f"Slack unavailable: {reason}", "pending") from None
                raise _GiveUp(reason, "failed") from None
            except (_AuthStop, _ChannelDead, _GiveUp):
                raise
            except Exception as exc:  # timeout, reset, no answer: the post may or may not have landed
                reason = type(exc).__name__
                log.warning("Slack post to %s ended without an answer (%s); looking for it", channel, reason)
                found = self._locate(locate)
                if found:
                    return found
                if attempt < self.settings.max_attempts and self._backoff(attempt):
                    continue
                raise _GiveUp(f"no answer from Slack: {reason}", "pending") from None

    def _locate(self, locate: Callable[[], _Sent | None]) -> _Sent | None:
        try:
            return locate()
        except _AuthStop:
            raise
        except Exception as exc:  # cannot tell: leave it in `sending` for the next run to reconcile
            raise _GiveUp(f"could not confirm whether the message landed ({exc}); the next run reconciles it",
                          "sending") from None

    def _backoff(self, attempt: int) -> bool:
        delay = min(30.0, self.settings.backoff_seconds * 2 ** (attempt - 1)) * (0.8 + 0.4 * random.random())
        if self._sleep is not None:
            self._sleep(delay)
            return not self.pacer.stopped
        return self.pacer.pause(delay)

    def _stop(self, error: str) -> None:
        with self._lock:
            self._auth_failure = self._auth_failure or error
        self.pacer.stop()

    def _join(self, channel: str) -> bool:
        """conversations.join for a public channel; False when that is not possible (private, no scope)."""
        try:
            channel_id = self.channel_id(channel)
            if channel_id is None:
                return False
            self._call(self.client.conversations_join, channel=channel_id)
            return True
        except SlackApiError as exc:
            log.warning("could not join %s: %s", channel, exc.response.get("error") if exc.response else exc)
            return False

    # -- ops notices --------------------------------------------------------------------------------

    def _notify_ops(self, dead: dict[str, str]) -> int:
        ops = self.settings.ops_channel
        if not ops:
            log.warning("channels cannot receive alerts (%s) and no ops channel is configured", dead)
            return 0
        counts = dict(self.warehouse.query(
            "SELECT channel, count(*) FROM alerts.deliveries WHERE status = 'failed' AND claimed_by = ? "
            "GROUP BY channel", [self.run_id]))
        notices = []
        for channel, reason in sorted(dead.items()):
            if channel == ops or self.channel_id(channel) == self.channel_id(ops):
                continue  # the ops channel itself is unreachable: nobody to tell but the run's log
            error = reason.split(":", 1)[0]
            notices.append(NewAlert(
                alert_id=make_alert_id("delivery_failed", f"{channel}|{error}|{self.run_id}"),
                rule="delivery_failed", entity="slack_channels", entity_wid=channel, entity_id=channel,
                details={"channel": channel, "reason": error, "alerts": int(counts.get(channel, 0)),
                         "hint": HINTS.get(error, reason)},
                channels=[ops], subscription="ops", run_id=self.run_id))
        added = enqueue(self.warehouse, notices)
        with self._lock:
            self._report.ops_notices += added
        return added

    # -- updates of earlier messages ----------------------------------------------------------------

    def _changed_records(self) -> list[_Update]:
        """Top-level invoice messages whose record's status changed since they were posted."""
        since = utcnow() - self.settings.thread_window
        rows = self.warehouse.query(
            "WITH sent AS (SELECT d.alert_id, d.channel, d.slack_channel_id, d.slack_ts, d.shown_state, d.mention, "
            "  coalesce(d.generation, 0) AS generation, a.rule, a.entity, a.entity_wid, a.details, a.window_start, "
            "  a.window_end, a.run_id FROM alerts.deliveries d JOIN alerts.alerts a USING (alert_id) "
            "  WHERE d.status = 'sent' AND d.thread_ts IS NULL AND d.digest_id IS NULL AND d.slack_ts IS NOT NULL "
            "  AND d.slack_channel_id IS NOT NULL AND a.entity = 'supplier_invoices' AND d.sent_at >= ?), "
            "cur AS (SELECT wid, approval_status, payment_status, on_hold FROM raw.supplier_invoices "
            "  WHERE wid IN (SELECT entity_wid FROM sent) "
            "  QUALIFY row_number() OVER (PARTITION BY wid ORDER BY window_start DESC, updated_at DESC) = 1) "
            "SELECT s.*, c.approval_status, c.payment_status, c.on_hold FROM sent s JOIN cur c ON c.wid = s.entity_wid",
            [since],
        )
        updates = []
        for row in rows:
            (alert, channel, channel_id, ts, shown_raw, mention, generation, rule, entity, wid, details_raw,
             start, end, run_id, approval, payment, on_hold) = row
            details = json.loads(details_raw or "{}")
            shown = json.loads(shown_raw) if shown_raw else {k: details[k] for k in TRACKED_STATE if k in details}
            current = {"approval_status": approval, "payment_status": payment, "on_hold": on_hold}
            changes = [f"{k.replace('_', ' ')} {escape(shown[k] if shown[k] is not None else '—')} → "
                       f"*{escape(current[k] if current[k] is not None else '—')}*"
                       for k in shown if _norm(shown[k]) != _norm(current[k])]
            if not changes:
                continue
            window = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC" if start and end else ""
            claim = _Claim(alert, channel, rule, entity, wid, details, window, mention, run_id, int(generation))
            state = {k: current[k] for k in shown}
            updates.append(_Update(alert, channel, channel_id, ts, claim, state, changes))
        return updates

    def _update_message(self, update: _Update) -> None:
        note = f"*Updated {utcnow():%Y-%m-%d %H:%M} UTC:* " + "; ".join(update.changes)
        details = {**update.claim.details, **{k: v for k, v in update.state.items()}}
        message = self._message_for(update.claim, note=note, details=details)
        if not self.pacer.wait_turn(update.channel):
            raise _AuthStop()
        try:
            self._call(self.client.chat_update, channel=update.channel_id, ts=update.ts, text=message.text,
                       blocks=message.blocks)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response is not None else ""
            if error in FATAL_AUTH_ERRORS:
                self._stop(error)
                raise _AuthStop() from None
            log.warning("could not update %s in %s: %s", update.alert_id, update.channel, error)
            if error not in ("message_not_found", "cant_update_message", "channel_not_found", "is_archived",
                             "edit_window_closed"):
                return  # try again next run
        else:
            with self._lock:
                self._report.updated += 1
        self._write("UPDATE alerts.deliveries SET shown_state = ?, updated_at = ? WHERE alert_id = ? AND channel = ?",
                    [json.dumps(update.state, default=str), utcnow(), update.alert_id, update.channel])


def _retry_after(headers: Any) -> float:
    for key in ("Retry-After", "retry-after"):
        value = headers.get(key) if hasattr(headers, "get") else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(1.0, float(value))
            except ValueError:
                break
    return 1.0

