"""Delivering the outbox: claim pending deliveries, post them paced per channel, record the outcome.

Exactly once despite crashes and concurrent runs:
- a claim moves rows pending -> sending in one warehouse transaction, so two runs never hold the same row;
- every message carries metadata (event type + alert id only), and a row left in `sending` by a run
  that died is reconciled against the channel's recent history before anything is posted again;
- slack_sdk's connection-retry handler is off: a retry after "sent but no answer" would double-post.
Pacing: one message per second per channel, channels in parallel, `Retry-After` honoured on 429.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..warehouse import Warehouse, utcnow
from .messages import EVENT_TYPE, alert_message

log = logging.getLogger(__name__)

FATAL_AUTH_ERRORS = {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
DEAD_CHANNEL_ERRORS = {"channel_not_found", "is_archived", "restricted_action",
                       "restricted_action_read_only_channel", "team_access_not_granted"}
SERVER_ERRORS = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackAuthError(RuntimeError):
    """The bot token was refused: nothing more can be posted until it is fixed."""


def make_client(token: str, api_url: str, timeout: int = 30) -> WebClient:
    if not token:
        raise ValueError("SLACK_BOT_TOKEN is not set: give the bot token (xoxb-...) of the Slack app")
    # retry_handlers=[]: connection errors are resolved by reconciliation, never a blind re-post.
    return WebClient(token=token, base_url=api_url, timeout=timeout, retry_handlers=[])


@dataclass
class Posted:
    alert_id: str
    channel: str
    channel_id: str
    ts: str


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
    details: dict[str, Any]
    window: str
    mention: str | None
    run_id: str | None


class SlackDelivery:
    def __init__(self, warehouse: Warehouse, client: WebClient, run_id: str, *,
                 seconds_per_message: float = 1.0, max_channels_in_parallel: int = 8,
                 stale_after: timedelta = timedelta(minutes=10), ui_url: str | None = None,
                 sleep: Callable[[float], None] = time.sleep, max_attempts: int = 4) -> None:
        self.warehouse = warehouse
        self.client = client
        self.run_id = run_id
        self.seconds_per_message = seconds_per_message
        self.max_channels_in_parallel = max_channels_in_parallel
        self.stale_after = stale_after
        self.ui_url = ui_url.rstrip("/") if ui_url else None
        self.sleep = sleep
        self.max_attempts = max_attempts
        self._channel_ids: dict[str, str] = {}
        self._lock = threading.Lock()
        self._auth_failure: str | None = None

    # -- outbox state -------------------------------------------------------------------------------

    def claim(self, limit: int | None = None) -> list[_Claim]:
        with self.warehouse.connect() as con:
            con.execute("BEGIN TRANSACTION")
            rows = con.execute(
                "UPDATE alerts.deliveries SET status = 'sending', claimed_by = ?, claimed_at = ?, "
                "attempts = attempts + 1 WHERE (alert_id, channel) IN ("
                "  SELECT alert_id, channel FROM alerts.deliveries WHERE status = 'pending' "
                "  ORDER BY created_at, alert_id, channel" + (f" LIMIT {int(limit)}" if limit else "") +
                ") RETURNING alert_id, channel, mention",
                [self.run_id, utcnow()],
            ).fetchall()
            con.execute("COMMIT")
            if not rows:
                return []
            ids = sorted({r[0] for r in rows})
            info = {
                r[0]: r[1:]
                for r in con.execute(
                    "SELECT alert_id, rule, details, window_start, window_end, run_id FROM alerts.alerts "
                    "WHERE list_contains(?, alert_id)", [ids]
                ).fetchall()
            }
        claims = []
        for alert, channel, mention in rows:
            rule, details, start, end, run_id = info[alert]
            window = f"{start:%Y-%m-%d %H:%M}–{end:%H:%M} UTC" if start and end else ""
            claims.append(_Claim(alert, channel, rule, json.loads(details or "{}"), window, mention, run_id))
        claims.sort(key=lambda c: (c.channel, c.alert_id))
        return claims

    def _record(self, claim: _Claim, status: str, *, channel_id: str | None = None, ts: str | None = None,
                error: str | None = None) -> None:
        with self.warehouse.connect() as con:
            con.execute(
                "UPDATE alerts.deliveries SET status = ?, slack_channel_id = coalesce(?, slack_channel_id), "
                "slack_ts = coalesce(?, slack_ts), last_error = ?, sent_at = CASE WHEN ? = 'sent' THEN ? END "
                "WHERE alert_id = ? AND channel = ? AND claimed_by = ?",
                [status, channel_id, ts, error, status, utcnow(), claim.alert_id, claim.channel, self.run_id],
            )

    def pending_count(self) -> int:
        row = self.warehouse.query("SELECT count(*) FROM alerts.deliveries WHERE status = 'pending'")
        return int(row[0][0]) if row else 0

    # -- reconciliation -----------------------------------------------------------------------------

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
            response = self.client.conversations_list(types="public_channel,private_channel",
                                                      limit=200, cursor=cursor)
            channels: list[dict[str, Any]] = response.get("channels", [])
            for item in channels:
                with self._lock:
                    self._channel_ids[item["name"]] = item["id"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        with self._lock:
            return self._channel_ids.get(name)

    def find_posted(self, channel: str, alert_id: str, since: datetime | None) -> tuple[str, str] | None:
        """Look for our own message for `alert_id` in the channel's recent history."""
        channel_id = self.channel_id(channel)
        if channel_id is None:
            return None
        oldest = f"{(since - timedelta(minutes=2)).timestamp() if since else 0:.6f}"
        cursor = None
        while True:
            response = self.client.conversations_history(channel=channel_id, oldest=oldest, limit=200,
                                                         include_all_metadata=True, cursor=cursor)
            messages: list[dict[str, Any]] = response.get("messages", [])
            for message in messages:
                metadata = message.get("metadata") or {}
                if metadata.get("event_type") == EVENT_TYPE and \
                        (metadata.get("event_payload") or {}).get("alert_id") == alert_id:
                    return channel_id, message["ts"]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    def reconcile_stale(self, report: DeliveryReport, dead_runs: set[str] | None = None) -> None:
        """Rows left in `sending` by a run that died: sent if Slack has them, else pending again."""
        cutoff = utcnow() - self.stale_after
        rows = self.warehouse.query(
            "SELECT alert_id, channel, claimed_by, claimed_at FROM alerts.deliveries WHERE status = 'sending' "
            "AND claimed_by IS DISTINCT FROM ? AND (claimed_at < ? OR list_contains(?, claimed_by))",
            [self.run_id, cutoff, sorted(dead_runs or set())],
        )
        for alert, channel, claimed_by, claimed_at in rows:
            found = self.find_posted(channel, alert, claimed_at)
            with self.warehouse.connect() as con:
                if found:
                    con.execute(
                        "UPDATE alerts.deliveries SET status = 'sent', slack_channel_id = ?, slack_ts = ?, "
                        "sent_at = ?, last_error = NULL WHERE alert_id = ? AND channel = ? AND claimed_by = ?",
                        [found[0], found[1], utcnow(), alert, channel, claimed_by],
                    )
                else:
                    con.execute(
                        "UPDATE alerts.deliveries SET status = 'pending' "
                        "WHERE alert_id = ? AND channel = ? AND claimed_by = ? AND status = 'sending'",
                        [alert, channel, claimed_by],
                    )
            report.reconciled += 1

    # -- posting ------------------------------------------------------------------------------------

    def deliver_pending(self, limit: int | None = None, dead_runs: set[str] | None = None) -> DeliveryReport:
        report = DeliveryReport()
        self.reconcile_stale(report, dead_runs)
        claims = self.claim(limit)
        report.claimed = len(claims)
        by_channel: dict[str, list[_Claim]] = defaultdict(list)
        for claim in claims:
            by_channel[claim.channel].append(claim)
        if by_channel:
            workers = max(1, min(self.max_channels_in_parallel, len(by_channel)))
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack-channel") as pool:
                for future in [pool.submit(self._deliver_channel, items, report) for items in by_channel.values()]:
                    future.result()
        if self._auth_failure:
            raise SlackAuthError(
                f"Slack refused the bot token ({self._auth_failure}); every undelivered alert is kept pending. "
                "Check SLACK_BOT_TOKEN (reinstall the app or rotate the token), then run `mlc-dagster deliver`."
            )
        return report

    def _deliver_channel(self, claims: list[_Claim], report: DeliveryReport) -> None:
        next_slot = 0.0
        for index, claim in enumerate(claims):
            if self._auth_failure:
                self._release(claims[index:], report, f"not posted: {self._auth_failure}")
                return
            wait = next_slot - time.monotonic()
            if wait > 0:
                self.sleep(wait)
            self._post_one(claim, report)
            next_slot = time.monotonic() + self.seconds_per_message

    def _release(self, claims: list[_Claim], report: DeliveryReport, reason: str) -> None:
        for claim in claims:
            self._record(claim, "pending", error=reason)
            with self._lock:
                report.released += 1

    def _post_one(self, claim: _Claim, report: DeliveryReport) -> None:
        run_url = f"{self.ui_url}/runs/{claim.run_id}" if self.ui_url and claim.run_id else None
        message = alert_message(claim.alert_id, claim.rule, claim.details, window=claim.window,
                                run_url=run_url, mention=claim.mention)
        use_blocks = True
        joined = False
        attempt = 0
        while True:
            attempt += 1
            try:
                with self._lock:
                    report.api_calls += 1
                kwargs: dict[str, Any] = {"channel": claim.channel, "text": message.text,
                                          "metadata": message.metadata, "unfurl_links": False,
                                          "unfurl_media": False}
                if use_blocks:
                    kwargs["blocks"] = message.blocks
                response = self.client.chat_postMessage(**kwargs)
                channel_id, ts = str(response["channel"]), str(response["ts"])
                self._record(claim, "sent", channel_id=channel_id, ts=ts,
                             error=None if use_blocks else "invalid_blocks: sent as plain text")
                with self._lock:
                    report.posted.append(Posted(claim.alert_id, claim.channel, channel_id, ts))
                return
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                status = exc.response.status_code if exc.response is not None else 0
                if status == 429 or error in ("ratelimited", "rate_limited"):
                    retry_after = _retry_after(exc.response.headers if exc.response is not None else {})
                    with self._lock:
                        report.rate_limited += 1
                    self.sleep(retry_after)
                    attempt -= 1  # waiting out a rate limit is not a failed attempt
                    continue
                if error in FATAL_AUTH_ERRORS:
                    self._auth_failure = error
                    self._release([claim], report, f"not posted: {error}")
                    return
                if error == "not_in_channel" and not joined:
                    joined = True
                    if self._join(claim.channel):
                        continue
                if error in ("invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long") and use_blocks:
                    use_blocks = False
                    with self._lock:
                        report.plain_text_fallbacks += 1
                    continue
                if (status >= 500 or error in SERVER_ERRORS) and attempt < self.max_attempts:
                    self.sleep(min(30.0, 0.5 * 2 ** attempt))
                    continue
                reason = error or f"HTTP {status}"
                if status >= 500 or error in SERVER_ERRORS:
                    self._release([claim], report, f"Slack unavailable: {reason}")
                    return
                self._record(claim, "failed", error=reason)
                with self._lock:
                    report.failed[f"{claim.alert_id} -> {claim.channel}"] = reason
                return
            except Exception as exc:  # connection reset, timeout: the post may or may not have landed
                reason = type(exc).__name__
                log.warning("Slack post for %s to %s ended without an answer (%s); reconciling",
                            claim.alert_id, claim.channel, reason)
                found = self._find_after_unknown_outcome(claim)
                if found:
                    self._record(claim, "sent", channel_id=found[0], ts=found[1])
                    with self._lock:
                        report.reconciled += 1
                        report.posted.append(Posted(claim.alert_id, claim.channel, found[0], found[1]))
                    return
                if attempt < self.max_attempts:
                    self.sleep(min(30.0, 0.5 * 2 ** attempt))
                    continue
                self._release([claim], report, f"no answer from Slack: {reason}")
                return

    def _find_after_unknown_outcome(self, claim: _Claim) -> tuple[str, str] | None:
        try:
            return self.find_posted(claim.channel, claim.alert_id, utcnow() - timedelta(minutes=5))
        except Exception as exc:  # cannot tell: keep it in `sending` for the next run to reconcile
            raise RuntimeError(
                f"could not confirm whether alert {claim.alert_id} reached {claim.channel}: {exc}; "
                "it stays 'sending' and the next delivery run reconciles it"
            ) from None

    def _join(self, channel: str) -> bool:
        channel_id = self.channel_id(channel)
        if channel_id is None:
            return False
        try:
            self.client.conversations_join(channel=channel_id)
            return True
        except SlackApiError:
            return False


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
