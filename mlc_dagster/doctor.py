"""`mlc-dagster doctor`: check the configuration, then ping Workday and Slack, naming each fix.

"Add your credentials, ping your real systems, and see if we fit": one row per check, each failure
with what to do. Read-only on both sides: one tiny Get_ page per Workday operation, auth.test and
conversations.list on Slack.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk.errors import SlackApiError

from .alerts.subscriptions import SubscriptionError, load_subscriptions
from .slack.sender import make_client
from .workday.entities import ENTITIES
from .workday.errors import (
    WorkdayAuthenticationError,
    WorkdayConfigError,
    WorkdayError,
    WorkdayPermissionError,
    WorkdayTransientError,
)
from .workday.rest import TokenCache
from .workday.routes import RoutedReader, route_book_from
from .workday.soap import RetryPolicy, WorkdaySoapClient

Lookup = Callable[[str], str | None]


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _setting(lookup: Lookup, name: str, default: str | None = None) -> str | None:
    value = lookup(name)
    return value if value else default


def check_configuration(lookup: Lookup) -> list[Check]:
    checks = []
    for name, what in (("WORKDAY_SOAP_URL", "the SOAP base up to the tenant"),
                       ("WORKDAY_USERNAME", "the Integration System User"),
                       ("WORKDAY_PASSWORD", "the ISU's password"),
                       ("SLACK_BOT_TOKEN", "the Slack bot token (xoxb-...)")):
        present = bool(_setting(lookup, name))
        checks.append(Check(f"config {name}", present, "set" if present else "missing",
                            "" if present else f"set {name} ({what}) or store it with "
                                               f"`mlc-dagster credentials set {name}`"))
    subscriptions = _setting(lookup, "MLC_SUBSCRIPTIONS", "subscriptions.yaml") or "subscriptions.yaml"
    try:
        subs = load_subscriptions(subscriptions)
        checks.append(Check("config subscriptions", True, f"{len(subs.items)} subscriptions in {subscriptions}"))
    except SubscriptionError as exc:
        checks.append(Check("config subscriptions", False, str(exc),
                            "fix the file (format in CONTRACT.md; subscriptions.example.yaml is a start)"))
    database = Path(_setting(lookup, "MLC_DUCKDB_PATH", "data/mlc.duckdb") or "data/mlc.duckdb")
    folder = database.parent if database.parent != Path("") else Path(".")
    writable = os.access(folder if folder.exists() else folder.parent, os.W_OK)
    checks.append(Check("config MLC_DUCKDB_PATH", writable, str(database),
                        "" if writable else f"make {folder} writable or point MLC_DUCKDB_PATH elsewhere"))
    return checks


def check_workday(lookup: Lookup) -> list[Check]:
    try:
        client = WorkdaySoapClient(
            _setting(lookup, "WORKDAY_SOAP_URL", "") or "", _setting(lookup, "WORKDAY_USERNAME", "") or "",
            _setting(lookup, "WORKDAY_PASSWORD", "") or "", tenant=_setting(lookup, "WORKDAY_TENANT"),
            api_version=_setting(lookup, "WORKDAY_API_VERSION", "v46.1") or "v46.1", page_size=1,
            timeout=(5.0, 30.0), retry=RetryPolicy(attempts=1))
    except WorkdayConfigError as exc:
        return [Check("workday soap", False, str(exc), "set the Workday settings above")]
    try:
        book = route_book_from(lookup)
    except WorkdayConfigError as exc:
        return [Check("workday routes", False, str(exc), "fix MLC_WORKDAY_ROUTES (entity=route, comma-separated)")]
    reader = RoutedReader(client, book)
    checks = []
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(minutes=1)  # a one-minute window: the cheapest authorized call
    for entity in ENTITIES.values():
        name = f"workday {entity.service}/{entity.operation}"
        try:
            reader.fetch_window(entity, start, end)
            choice = book.choice(client.tenant, entity)
            refused = sorted(book.entry(client.tenant, entity).get("refused") or {})
            checks.append(Check(name, True, f"authorized, answered; window route {choice.route.kind} ({choice.source}"
                                + (f"; refused: {', '.join(refused)}" if refused else "") + ")"))
        except WorkdayAuthenticationError:
            checks.append(Check(name, False, "authentication failed",
                                f"check WORKDAY_USERNAME ({client.username}) and WORKDAY_PASSWORD; is the ISU's "
                                "password expired, or the account locked out?"))
            break  # every other operation would fail the same way
        except WorkdayPermissionError:
            checks.append(Check(name, False, "the task is not authorized",
                                f"grant the ISU's security group Get access to the domain behind {entity.operation} "
                                "(Maintain Permissions for Security Group), then activate pending security policy "
                                "changes"))
        except WorkdayTransientError as exc:
            reachable = "connection" not in str(exc).lower()
            checks.append(Check(name, False, str(exc).split(" [")[0],
                                "Workday is busy or in maintenance; try again" if reachable else
                                f"cannot reach {client.soap_url}: check WORKDAY_SOAP_URL (host and tenant) and the "
                                "network path"))
            if not reachable:
                break
        except WorkdayError as exc:
            checks.append(Check(name, False, str(exc).split(" [")[0],
                                "check WORKDAY_SOAP_URL, WORKDAY_TENANT and WORKDAY_API_VERSION"))
    if _setting(lookup, "WORKDAY_REST_URL"):
        try:
            TokenCache(_setting(lookup, "WORKDAY_TOKEN_URL", "") or "", _setting(lookup, "WORKDAY_CLIENT_ID", "") or "",
                       _setting(lookup, "WORKDAY_CLIENT_SECRET", "") or "",
                       _setting(lookup, "WORKDAY_REFRESH_TOKEN", "") or "", timeout=10).token()
            checks.append(Check("workday rest token", True, "access token issued"))
        except WorkdayError as exc:
            checks.append(Check("workday rest token", False, str(exc).split(" [")[0],
                                "regenerate the refresh token or fix the API client settings"))
    return checks


def check_slack(lookup: Lookup) -> list[Check]:
    token = _setting(lookup, "SLACK_BOT_TOKEN", "") or ""
    api_url = _setting(lookup, "SLACK_API_URL", "https://slack.com/api/") or "https://slack.com/api/"
    if not token:
        return [Check("slack auth.test", False, "SLACK_BOT_TOKEN missing", "set SLACK_BOT_TOKEN")]
    client = make_client(token, api_url, timeout=10)
    try:
        who = client.auth_test()
        checks = [Check("slack auth.test", True, f"bot {who.get('user')} in {who.get('team')}")]
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else "unknown"
        return [Check("slack auth.test", False, f"Slack says {error}",
                      "the bot token is wrong, revoked or the app was uninstalled: reinstall the app and copy "
                      "its Bot User OAuth Token into SLACK_BOT_TOKEN")]
    except Exception as exc:  # connection refused, DNS, TLS
        return [Check("slack auth.test", False, f"cannot reach {api_url}: {type(exc).__name__}",
                      "check SLACK_API_URL and the network path to Slack")]
    try:
        subs = load_subscriptions(_setting(lookup, "MLC_SUBSCRIPTIONS", "subscriptions.yaml") or "subscriptions.yaml")
    except SubscriptionError:
        return checks
    channels: dict[str, dict[str, object]] = {}
    cursor = None
    while True:
        page = client.conversations_list(types="public_channel,private_channel", limit=200, cursor=cursor)
        listed: list[dict[str, object]] = page.get("channels", [])
        for channel in listed:
            channels[str(channel["name"])] = channel
            channels[str(channel["id"])] = channel
        cursor = (page.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            break
    for wanted in sorted({s.channel for s in subs.items}):
        found = channels.get(wanted.lstrip("#"))
        name = f"slack channel {wanted}"
        if found is None:
            checks.append(Check(name, False, "not found (or private and the bot is not in it)",
                                "create it or fix the subscription; if it is private, /invite the app in it"))
        elif found.get("is_archived"):
            checks.append(Check(name, False, "archived", "unarchive it or point the subscription elsewhere"))
        elif not found.get("is_member"):
            private = bool(found.get("is_private"))
            checks.append(Check(name, not private, "bot is not a member" + (
                "" if private else " (it will join by itself when it first posts, given channels:join)"),
                f"/invite the app in {wanted}" if private else ""))
        else:
            checks.append(Check(name, True, "bot is a member"))
    return checks


def run_doctor(lookup: Lookup = os.environ.get) -> list[Check]:
    return [*check_configuration(lookup), *check_workday(lookup), *check_slack(lookup)]


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for check in checks:
        status = "ok  " if check.ok else "FAIL"
        line = f"{status}  {check.name.ljust(width)}  {check.detail}"
        if check.fix:
            line += f"\n      {' ' * width}  fix: {check.fix}"
        lines.append(line)
    failed = sum(1 for c in checks if not c.ok)
    lines.append(f"\n{len(checks)} checks: {len(checks) - failed} ok, {failed} to fix")
    return "\n".join(lines)
