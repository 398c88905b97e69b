"""Workday REST: OAuth2 refresh-token grant, a shared access-token cache, limit/offset paging.

Access tokens live about an hour. One is fetched at start-up, reused until shortly before it
expires, and fetched again once on a 401 (the request is then retried once). Concurrent callers
share a single refresh. When Workday answers with a new refresh token, `on_refresh_token` gets it
so the credential store can replace the old one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import requests

from .entities import Entity
from .errors import (
    WorkdayAuthenticationError,
    WorkdayConfigError,
    WorkdayDataError,
    WorkdayError,
    WorkdayPermissionError,
    WorkdayTransientError,
)
from .parse import new_buffers
from .soap import TRANSIENT_STATUS, CollectingSink, PageSink, PollStats, RetryPolicy, WindowResult

MAX_LIMIT = 100


class TokenCache:
    def __init__(self, token_url: str, client_id: str, client_secret: str, refresh_token: str, *,
                 session: requests.Session | None = None, leeway_seconds: float = 120.0,
                 on_refresh_token: Callable[[str], None] | None = None, timeout: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        missing = [name for name, value in (("WORKDAY_TOKEN_URL", token_url), ("WORKDAY_CLIENT_ID", client_id),
                                            ("WORKDAY_CLIENT_SECRET", client_secret),
                                            ("WORKDAY_REFRESH_TOKEN", refresh_token)) if not value]
        if missing:
            raise WorkdayConfigError(f"REST reads need {', '.join(missing)} (OAuth2 refresh-token flow)")
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.session = session or requests.Session()
        self.leeway = leeway_seconds
        self.on_refresh_token = on_refresh_token
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._access_token: str | None = None
        self._expires_at = 0.0
        self.refreshes = 0

    def __repr__(self) -> str:  # never show a secret
        return f"TokenCache({self.token_url!r}, client_id={self.client_id!r})"

    def token(self) -> str:
        with self._lock:
            if self._access_token is None or self.clock() >= self._expires_at - self.leeway:
                self._refresh()
            assert self._access_token is not None
            return self._access_token

    def invalidate(self, token: str) -> None:
        """Forget `token` after a 401; a caller holding an already-newer token changes nothing."""
        with self._lock:
            if self._access_token == token:
                self._access_token = None

    def _refresh(self) -> None:
        request = f"token endpoint {self.token_url}, client {self.client_id}"
        try:
            response = self.session.post(
                self.token_url,
                data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
                auth=(self.client_id, self._client_secret),
                timeout=self.timeout,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise WorkdayTransientError(f"token request failed: {type(exc).__name__}", request=request) from None
        if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
            raise WorkdayTransientError(f"HTTP {response.status_code} from the token endpoint", request=request,
                                        retry_after=_retry_after(response))
        body = _json(response)
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        if response.status_code == 401 or error == "invalid_client":
            raise WorkdayAuthenticationError(
                "Workday refused the API client (invalid_client): check WORKDAY_CLIENT_ID and "
                "WORKDAY_CLIENT_SECRET against 'Register API Client for Integrations'", request=request)
        if error == "invalid_grant":
            raise WorkdayAuthenticationError(
                "Workday refused the refresh token (invalid_grant): it was revoked or has expired. Regenerate "
                "it for the Integration System User with 'Manage Refresh Tokens for Integrations' and update "
                "WORKDAY_REFRESH_TOKEN (or `mlc-dagster credentials set WORKDAY_REFRESH_TOKEN`)", request=request)
        if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
            raise WorkdayError(f"unexpected answer from the token endpoint: HTTP {response.status_code} "
                               f"{error or '(no error field)'}", request=request)
        self._access_token = str(body["access_token"])
        self._expires_at = self.clock() + float(body.get("expires_in", 3600))
        self.refreshes += 1
        new_refresh = body.get("refresh_token")
        if new_refresh and new_refresh != self._refresh_token:
            self._refresh_token = str(new_refresh)
            if self.on_refresh_token:
                self.on_refresh_token(self._refresh_token)


def _json(response: requests.Response) -> Any:
    try:
        return response.json(parse_float=Decimal)  # money stays exact
    except ValueError:
        return None


def _retry_after(response: requests.Response) -> float | None:
    try:
        value = response.headers.get("Retry-After")
        return float(value) if value else None
    except ValueError:
        return None


def _path(item: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(part)
    return item


class WorkdayRestClient:
    def __init__(self, rest_url: str, tenant: str, tokens: TokenCache, *, page_size: int = MAX_LIMIT,
                 retry: RetryPolicy | None = None, session: requests.Session | None = None,
                 timeout: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> None:
        if not rest_url:
            raise WorkdayConfigError("WORKDAY_REST_URL is not set: REST reads are off (e.g. https://{host}/ccx/api)")
        if not 1 <= page_size <= MAX_LIMIT:
            raise WorkdayConfigError(f"REST page size {page_size} is outside 1..{MAX_LIMIT}")
        self.rest_url = rest_url.rstrip("/")
        self.tenant = tenant
        self.tokens = tokens
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self.timeout = timeout
        self._sleep = sleep

    def fetch_window(self, entity: Entity, start: datetime, end: datetime,
                     sink: PageSink | None = None) -> WindowResult:
        """The whole REST collection (Workday's REST resources offer no updated-since filter)."""
        if entity.rest is None:
            raise WorkdayConfigError(
                f"{entity.name} cannot be read over REST: Workday's REST items ({{id, descriptor, href}}) lack "
                f"what its columns need; remove it from MLC_REST_ENTITIES (it is read over SOAP)")
        started = time.monotonic()
        spec = entity.rest
        sink = sink if sink is not None else CollectingSink(entity)
        stats = PollStats()
        records = 0
        url = f"{self.rest_url}/{spec.path.format(tenant=self.tenant)}"
        offset = 0
        while True:
            body = self._get(url, {**spec.query, "limit": str(self.page_size), "offset": str(offset)}, stats)
            items = body.get("data") or []
            rows, _ = new_buffers(entity)
            for number, item in enumerate(items, start=offset + 1):
                row: dict[str, Any] = {}
                for column, dotted in spec.fields.items():
                    value = _path(item, dotted)
                    # Text, like the SOAP parser's: the warehouse types and validates every value.
                    if isinstance(value, bool):
                        value = "true" if value else "false"
                    row[column] = None if value is None else str(value)
                if not row.get("wid"):
                    raise WorkdayDataError(f"{entity.name} item {number} ({url}) has no id")
                rows.append(row)
            sink.add_page(rows, None)
            records += len(rows)
            stats.pages += 1
            offset += len(items)
            total = int(body.get("total") or 0)
            if not items or offset >= total:
                break
        stats.seconds = time.monotonic() - started
        return WindowResult(records=records, stats=stats, as_of=min(end, datetime.now(UTC)), sink=sink)

    def _get(self, url: str, params: dict[str, str], stats: PollStats) -> dict[str, Any]:
        described = f"GET {url} offset {params.get('offset')}"
        deadline = time.monotonic() + self.retry.total_seconds
        attempt = 0
        refreshed_after_401 = False
        while True:
            attempt += 1
            try:
                token = self.tokens.token()
                stats.api_calls += 1
                try:
                    response = self.session.get(url, params=params, timeout=self.timeout,
                                                headers={"Authorization": f"Bearer {token}"})
                except requests.RequestException as exc:  # reset, timeout, a body cut short
                    raise WorkdayTransientError(f"connection failed: {type(exc).__name__}",
                                                request=described) from None
                if response.status_code == 401 and not refreshed_after_401:
                    # The access token expired or was revoked: one refresh, one retry.
                    refreshed_after_401 = True
                    self.tokens.invalidate(token)
                    attempt -= 1
                    continue
                body = _json(response)
                stats.bytes += len(response.content)
                if response.status_code == 401:
                    raise WorkdayAuthenticationError(
                        "Workday refused a freshly issued access token: check the API client's scopes and "
                        "the ISU", request=described)
                if response.status_code == 403:
                    raise WorkdayPermissionError(
                        f"Workday says the ISU has insufficient permissions for {url}", request=described)
                if response.status_code in TRANSIENT_STATUS or response.status_code >= 500:
                    raise WorkdayTransientError(f"HTTP {response.status_code} from Workday REST",
                                                request=described, retry_after=_retry_after(response))
                if response.status_code != 200 or not isinstance(body, dict):
                    detail = body.get("error") if isinstance(body, dict) else "not JSON"
                    if response.status_code == 200:
                        raise WorkdayTransientError("malformed JSON from Workday REST", request=described)
                    raise WorkdayError(f"HTTP {response.status_code} from Workday REST: {detail}",
                                       request=described)
                return body
            except WorkdayTransientError as exc:
                self._sleep(self.retry.after_failure(exc, attempt, deadline, stats, described, "Workday REST"))
