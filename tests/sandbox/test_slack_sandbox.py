"""The Slack sandbox, driven by the real slack_sdk WebClient over a real loopback socket."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from mlc_dagster.sandbox.slack import SlackSandbox


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # WebClient picks up HTTP(S)_PROXY from the environment, which would route loopback calls away.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sandbox() -> Iterator[SlackSandbox]:
    with SlackSandbox() as running:
        yield running


def client_for(sandbox: SlackSandbox, **kwargs: Any) -> WebClient:
    # No retry handlers unless a test asks: we want to see exactly what the server answered.
    kwargs.setdefault("retry_handlers", [])
    return WebClient(token=sandbox.bot_token, base_url=sandbox.api_url, **kwargs)


@pytest.fixture
def client(sandbox: SlackSandbox) -> WebClient:
    return client_for(sandbox)


def api_error(exc_info: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc_info.value.response["error"])


def http_get_json(url: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=5) as response:
        return json.loads(response.read())


# ------------------------------------------------------------------------------------------- auth
def test_auth_test_ok_and_token_errors(sandbox: SlackSandbox, client: WebClient) -> None:
    identity = client.auth_test()
    assert identity["ok"] is True
    assert {"url", "team", "user", "team_id", "user_id", "bot_id"} <= set(identity.data)  # type: ignore[arg-type]

    with pytest.raises(SlackApiError) as bad:
        WebClient(token="xoxb-wrong", base_url=sandbox.api_url).auth_test()
    assert api_error(bad) == "invalid_auth"

    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=sandbox.api_url).auth_test()
    assert api_error(missing) == "not_authed"

    sandbox.revoke_token()
    with pytest.raises(SlackApiError) as revoked:
        client.chat_postMessage(channel="finance-alerts", text="after revocation")
    assert api_error(revoked) == "token_revoked"
    assert sandbox.messages() == []


def test_token_accepted_as_form_param(sandbox: SlackSandbox) -> None:
    response = WebClient(base_url=sandbox.api_url).api_call("auth.test", params={"token": sandbox.bot_token})
    assert response["user_id"]


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.api_call("chat.postInvoice", json={"channel": "finance-alerts"})
    assert exc_info.value.response.status_code == 200
    assert api_error(exc_info) == "unknown_method"


# ------------------------------------------------------------------------------------- posting
def test_post_by_name_returns_id_and_is_readable(sandbox: SlackSandbox, client: WebClient) -> None:
    response = client.chat_postMessage(channel="#finance-alerts", text="Invoice INV-1 is overdue")
    channel_id = sandbox.channel_id("finance-alerts")
    assert response["channel"] == channel_id == "C0FINALRT1"
    ts = response["ts"]
    assert isinstance(ts, str)
    assert len(ts.split(".")[1]) == 6

    [stored] = sandbox.messages("#finance-alerts")
    assert stored["channel"] == channel_id
    assert stored["channel_name"] == "finance-alerts"
    assert stored["ts"] == ts
    assert stored["text"] == "Invoice INV-1 is overdue"
    assert isinstance(stored["received_at"], float)
    assert stored["edits"] == []

    history = client.conversations_history(channel=channel_id)
    assert [m["ts"] for m in history["messages"]] == [ts]
    assert history["messages"][0]["text"] == "Invoice INV-1 is overdue"

    # Like real Slack, the read methods want the ID, not the name.
    with pytest.raises(SlackApiError) as by_name:
        client.conversations_history(channel="finance-alerts")
    assert api_error(by_name) == "channel_not_found"


def test_form_encoded_post_with_json_string_blocks(sandbox: SlackSandbox, client: WebClient) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Overdue*"}}]
    client.api_call(
        "chat.postMessage",
        params={
            "channel": "ap-overdue",
            "text": "Overdue",
            "blocks": json.dumps(blocks),
            "unfurl_links": False,
        },
    )
    [stored] = sandbox.messages("ap-overdue")
    assert stored["blocks"] == blocks
    assert stored["unfurl_links"] is False


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_unknown_channel_and_no_text(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.chat_postMessage(channel="#no-such-channel", text="hello")
    assert api_error(unknown) == "channel_not_found"
    with pytest.raises(SlackApiError) as empty:
        client.chat_postMessage(channel="finance-alerts", text="")
    assert api_error(empty) == "no_text"


def test_second_immediate_post_is_rate_limited_at_default_interval(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    assert sandbox.seconds_per_message_per_channel == 1.0
    client.chat_postMessage(channel="finance-alerts", text="first")
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="second")

    response = exc_info.value.response
    assert response.status_code == 429
    assert response["error"] == "ratelimited"
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert [m["text"] for m in sandbox.messages("finance-alerts")] == ["first"]
    assert sandbox.stats["ratelimited"] == 1


def test_rate_limit_is_per_channel(sandbox: SlackSandbox, client: WebClient) -> None:
    results: dict[str, str] = {}

    def post(channel: str) -> None:
        results[channel] = client.chat_postMessage(channel=channel, text=f"to {channel}")["channel"]

    threads = [threading.Thread(target=post, args=(name,)) for name in ("approvals", "reconciliation")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert set(results) == {"approvals", "reconciliation"}
    assert len(sandbox.messages()) == 2
    assert sandbox.stats["ratelimited"] == 0


def test_a_post_slightly_early_passes_but_the_channel_average_holds(sandbox: SlackSandbox, client: WebClient) -> None:
    # Slack allows short bursts: jitter of a fraction of an interval is not a 429, a steady excess is.
    sandbox.seconds_per_message_per_channel = 0.4
    client.chat_postMessage(channel="approvals", text="0")
    time.sleep(0.4 * (1 - sandbox.burst_tolerance / 2))  # early by half the tolerance
    client.chat_postMessage(channel="approvals", text="1")
    early_again = 0
    for i in range(2, 6):  # the same early spacing keeps eating the tolerance until Slack says no
        time.sleep(0.4 * (1 - sandbox.burst_tolerance / 2))
        try:
            client.chat_postMessage(channel="approvals", text=str(i))
        except SlackApiError as exc:
            assert exc.response.status_code == 429
            early_again += 1
            break
    assert early_again == 1
    assert [m["text"] for m in sandbox.messages("approvals")][:2] == ["0", "1"]


def test_retry_handler_waits_out_rate_limit_and_posts_once(sandbox: SlackSandbox) -> None:
    sandbox.seconds_per_message_per_channel = 0.3
    client = client_for(sandbox, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    client.chat_postMessage(channel="finance-ops", text="first")
    started = time.monotonic()
    client.chat_postMessage(channel="finance-ops", text="second")
    # slack_sdk sleeps int(Retry-After) + random(), and Retry-After is rounded up to 1 s.
    assert time.monotonic() - started >= 1.0
    assert [m["text"] for m in sandbox.messages("finance-ops")] == ["first", "second"]
    assert sandbox.stats["ratelimited"] == 1


def test_ts_is_unique_and_increasing_per_channel(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.seconds_per_message_per_channel = 0
    stamps = [client.chat_postMessage(channel="approvals", text=str(i))["ts"] for i in range(5)]
    assert len(set(stamps)) == 5
    assert stamps == sorted(stamps, key=lambda ts: tuple(int(p) for p in ts.split(".")))


# ------------------------------------------------------------------------------------ Block Kit
def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_invalid_blocks_too_many(sandbox: SlackSandbox, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="x", blocks=[section("row")] * 51)
    assert api_error(exc_info) == "invalid_blocks"
    assert any(
        "[json-pointer:/blocks]" in m for m in exc_info.value.response["response_metadata"]["messages"]
    )
    assert sandbox.messages() == []


def test_invalid_blocks_section_text_too_long(sandbox: SlackSandbox, client: WebClient) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "AP"}},
        {"type": "divider"},
    ]
    blocks.append(section("x" * 3001))
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="x", blocks=blocks)
    assert api_error(exc_info) == "invalid_blocks"
    assert (
        "[ERROR] must be less than 3001 characters [json-pointer:/blocks/2/text/text]"
        in exc_info.value.response["response_metadata"]["messages"]
    )
    # Exactly at the limit is fine.
    blocks[2] = section("x" * 3000)
    client.chat_postMessage(channel="finance-alerts", text="x", blocks=blocks)


@pytest.mark.parametrize(
    ("block", "pointer"),
    [
        ({"type": "carousel"}, "/blocks/0/type"),
        ({"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}, "/blocks/0/text/text"),
        ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}, "/blocks/0/fields"),
        ({"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}, "/blocks/0/fields/0/text"),
        ({"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}, "/blocks/0/elements"),
        (
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "b" * 76}}],
            },
            "/blocks/0/elements/0/text/text",
        ),
        ({"type": "divider", "block_id": "b" * 256}, "/blocks/0/block_id"),
    ],
)
def test_invalid_blocks_limits(client: WebClient, block: dict[str, Any], pointer: str) -> None:
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="x", blocks=[block])
    assert api_error(exc_info) == "invalid_blocks"
    messages = exc_info.value.response["response_metadata"]["messages"]
    assert any(m.endswith(f"[json-pointer:{pointer}]") for m in messages), messages


def test_duplicate_block_id_rejected(client: WebClient) -> None:
    blocks = [{"type": "divider", "block_id": "same"}, {"type": "divider", "block_id": "same"}]
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="x", blocks=blocks)
    assert "[json-pointer:/blocks/1/block_id]" in exc_info.value.response["response_metadata"]["messages"][0]


# -------------------------------------------------------------------------------- channel state
def test_not_in_channel_then_join_then_post(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = sandbox.add_channel("treasury", is_member=False)
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="treasury", text="cash position")
    assert api_error(exc_info) == "not_in_channel"

    joined = client.conversations_join(channel=channel_id)
    assert joined["channel"]["is_member"] is True
    assert client.chat_postMessage(channel="treasury", text="cash position")["channel"] == channel_id


def test_private_channel_rules(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = sandbox.add_channel("controllers", is_private=True, is_member=False)
    with pytest.raises(SlackApiError) as join:
        client.conversations_join(channel=channel_id)
    assert api_error(join) == "method_not_supported_for_channel_type"
    with pytest.raises(SlackApiError) as history:
        client.conversations_history(channel=channel_id)
    assert api_error(history) == "not_in_channel"


def test_archived_channel(sandbox: SlackSandbox, client: WebClient) -> None:
    channel_id = sandbox.add_channel("fy2023-close", is_archived=True)
    with pytest.raises(SlackApiError) as post:
        client.chat_postMessage(channel=channel_id, text="late")
    assert api_error(post) == "is_archived"
    with pytest.raises(SlackApiError) as join:
        client.conversations_join(channel=channel_id)
    assert api_error(join) == "is_archived"


def test_conversations_list_paging_and_archived_filter(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.add_channel("fy2023-close", is_archived=True)
    names: list[str] = []
    cursor = None
    while True:
        page = client.conversations_list(limit=2, cursor=cursor, exclude_archived=True)
        assert len(page["channels"]) <= 2
        names += [c["name"] for c in page["channels"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == ["finance-alerts", "ap-overdue", "approvals", "reconciliation", "finance-ops"]
    all_names = [c["name"] for c in client.conversations_list(limit=100)["channels"]]
    assert "fy2023-close" in all_names


# --------------------------------------------------------------------------- history and threads
def test_metadata_only_with_include_all_metadata(sandbox: SlackSandbox, client: WebClient) -> None:
    metadata = {"event_type": "finance_alert", "event_payload": {"alert_key": "ap-overdue:INV-7"}}
    posted = client.chat_postMessage(channel="ap-overdue", text="INV-7 overdue", metadata=metadata)
    plain = client.conversations_history(channel=posted["channel"])
    assert "metadata" not in plain["messages"][0]
    rich = client.conversations_history(channel=posted["channel"], include_all_metadata=True)
    assert rich["messages"][0]["metadata"] == metadata
    assert sandbox.messages("ap-overdue")[0]["metadata"] == metadata

    with pytest.raises(SlackApiError) as bad:
        client.chat_postMessage(channel="ap-overdue", text="x", metadata={"event_type": "finance_alert"})
    assert api_error(bad) == "invalid_metadata_format"


def test_history_newest_first_with_cursor_and_window(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.seconds_per_message_per_channel = 0
    stamps = [client.chat_postMessage(channel="approvals", text=f"m{i}")["ts"] for i in range(5)]
    channel_id = sandbox.channel_id("approvals")

    seen: list[str] = []
    cursor = None
    while True:
        page = client.conversations_history(channel=channel_id, limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == list(reversed(stamps))

    window = client.conversations_history(channel=channel_id, oldest=stamps[1], latest=stamps[4])
    assert [m["ts"] for m in window["messages"]] == [stamps[3], stamps[2]]


def test_thread_replies(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.seconds_per_message_per_channel = 0
    parent = client.chat_postMessage(channel="reconciliation", text="Recon break on account 1100")
    channel_id, parent_ts = parent["channel"], parent["ts"]
    reply = client.chat_postMessage(channel=channel_id, text="detail", thread_ts=parent_ts)
    client.chat_postMessage(channel=channel_id, text="resolved", thread_ts=parent_ts, reply_broadcast=True)

    thread = client.conversations_replies(channel=channel_id, ts=parent_ts)
    assert [m["text"] for m in thread["messages"]] == ["Recon break on account 1100", "detail", "resolved"]
    assert thread["messages"][0]["reply_count"] == 2

    # The channel view shows the parent and the broadcast reply only.
    history = client.conversations_history(channel=channel_id)
    assert [m["text"] for m in history["messages"]] == ["resolved", "Recon break on account 1100"]
    assert sandbox.messages("reconciliation")[1]["thread_ts"] == parent_ts
    assert reply["message"]["thread_ts"] == parent_ts

    with pytest.raises(SlackApiError) as missing:
        client.chat_postMessage(channel=channel_id, text="orphan", thread_ts="1000000000.000001")
    assert api_error(missing) == "thread_not_found"


def test_chat_update_keeps_edit_history(sandbox: SlackSandbox, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="approvals", text="PO-9 awaiting approval")
    updated = client.chat_update(channel=posted["channel"], ts=posted["ts"], text="PO-9 approved by Ana")
    assert updated["ts"] == posted["ts"]
    [stored] = sandbox.messages("approvals")
    assert stored["text"] == "PO-9 approved by Ana"
    assert [e["text"] for e in stored["edits"]] == ["PO-9 awaiting approval"]
    history = client.conversations_history(channel=posted["channel"])
    assert "edited" in history["messages"][0]

    with pytest.raises(SlackApiError) as exc_info:
        client.chat_update(channel=posted["channel"], ts="1000000000.000001", text="nope")
    assert api_error(exc_info) == "message_not_found"


# ----------------------------------------------------------------------------------- faults
def test_injected_error_then_recovery(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.inject("chat.postMessage", error="account_inactive")
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="x")
    assert exc_info.value.response.status_code == 200
    assert api_error(exc_info) == "account_inactive"
    client.chat_postMessage(channel="finance-alerts", text="x")
    assert len(sandbox.messages()) == 1


def test_injected_503_is_not_stored(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.inject("chat.postMessage", status=503, times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as exc_info:
            client.chat_postMessage(channel="finance-alerts", text="x")
        assert exc_info.value.response.status_code == 503
    assert sandbox.messages() == []
    assert client.chat_postMessage(channel="finance-alerts", text="x")["ok"] is True


def test_injected_429_uses_given_retry_after(sandbox: SlackSandbox, client: WebClient) -> None:
    sandbox.inject("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as exc_info:
        client.chat_postMessage(channel="finance-alerts", text="x")
    assert exc_info.value.response.status_code == 429
    assert exc_info.value.response.headers["Retry-After"] == "7"
    assert api_error(exc_info) == "ratelimited"
    assert sandbox.messages() == []


def test_post_then_drop_stores_but_client_sees_connection_error(
    sandbox: SlackSandbox, client: WebClient
) -> None:
    sandbox.inject("chat.postMessage", post_then_drop=True)
    metadata = {"event_type": "finance_alert", "event_payload": {"alert_key": "k1"}}
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        client.chat_postMessage(channel="finance-alerts", text="lost reply", metadata=metadata)
    [stored] = sandbox.messages("finance-alerts")
    assert stored["text"] == "lost reply"
    # The product reconciles through history + metadata instead of re-posting.
    history = client.conversations_history(channel=stored["channel"], include_all_metadata=True)
    assert history["messages"][0]["metadata"]["event_payload"]["alert_key"] == "k1"


def test_default_connection_retry_double_posts_after_dropped_reply(sandbox: SlackSandbox) -> None:
    # Documents the hazard the product must guard against: slack_sdk's default retry re-sends the post.
    sandbox.seconds_per_message_per_channel = 0
    sandbox.inject("chat.postMessage", post_then_drop=True)
    WebClient(token=sandbox.bot_token, base_url=sandbox.api_url).chat_postMessage(
        channel="finance-alerts", text="dup"
    )
    assert [m["text"] for m in sandbox.messages()] == ["dup", "dup"]


def test_injected_delay_times_out_client_but_post_lands(sandbox: SlackSandbox) -> None:
    sandbox.inject("chat.postMessage", delay=1.5)
    slow_client = client_for(sandbox, timeout=1)
    with pytest.raises(TimeoutError):
        slow_client.chat_postMessage(channel="finance-alerts", text="slow")
    assert [m["text"] for m in sandbox.messages()] == ["slow"]


# ----------------------------------------------------------------------------- HTTP read-back
def test_http_readback_and_health(sandbox: SlackSandbox, client: WebClient) -> None:
    client.chat_postMessage(channel="finance-alerts", text="one")
    client.chat_postMessage(channel="approvals", text="two")
    base = sandbox.api_url.removesuffix("/api/")
    assert [m["text"] for m in http_get_json(f"{base}/_sandbox/messages")] == ["one", "two"]
    only = http_get_json(f"{base}/_sandbox/messages?channel=approvals")
    assert [(m["channel_name"], m["text"]) for m in only] == [("approvals", "two")]
    health = http_get_json(f"{base}/_sandbox/health")
    assert health["ok"] is True
    assert health["stats"]["posted"] == 2

    sandbox.reset_messages()
    assert sandbox.messages() == []


# ------------------------------------------------------------------------------------- signing
def test_sign_verifies_with_slack_sdk(sandbox: SlackSandbox) -> None:
    body = b'{"type":"block_actions","actions":[{"action_id":"ack_alert"}]}'
    headers = sandbox.sign(body)
    verifier = SignatureVerifier(sandbox.signing_secret)
    assert verifier.is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + b" ", headers)
    stale = sandbox.sign(body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)
