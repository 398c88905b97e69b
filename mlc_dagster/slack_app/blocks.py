"""Block Kit for alert actions: the Acknowledge / Snooze buttons, and the message once someone acted."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

ACTIONS_BLOCK_ID = "mlc_alert_actions"
STATUS_BLOCK_ID = "mlc_alert_status"
ACK_ACTION = "mlc_alert_ack"
SNOOZE_ACTION = "mlc_alert_snooze_1h"
ACTION_IDS = (ACK_ACTION, SNOOZE_ACTION)
SNOOZE_HOURS = 1


def alert_actions_block(alert_id: str) -> dict[str, Any]:
    """The `actions` block to append to an alert message: Acknowledge and Snooze 1h, valued the alert id."""
    return {
        "type": "actions",
        "block_id": ACTIONS_BLOCK_ID,
        "elements": [
            {"type": "button", "action_id": ACK_ACTION, "style": "primary", "value": alert_id,
             "text": {"type": "plain_text", "text": "Acknowledge", "emoji": False}},
            {"type": "button", "action_id": SNOOZE_ACTION, "value": alert_id,
             "text": {"type": "plain_text", "text": f"Snooze {SNOOZE_HOURS}h", "emoji": False}},
        ],
    }


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def status_line(action: str, user_id: str, acted_at: datetime, snoozed_until: datetime | None = None) -> str:
    """mrkdwn: `user_id` comes from Slack's own payload (U/W + alphanumerics), checked by the caller."""
    if action == "acknowledged":
        return f":white_check_mark: Acknowledged by <@{user_id}> at {_when(acted_at)}"
    until = _when(snoozed_until) if snoozed_until else "later"
    return f":zzz: Snoozed by <@{user_id}> until {until}"


def acted_blocks(blocks: list[dict[str, Any]], alert_id: str, line: str, *, keep_buttons: bool) -> list[dict[str, Any]]:
    """The message's blocks after an action: the old status line replaced, the buttons kept only while
    the alert is not acknowledged (a snoozed alert can still be acknowledged)."""
    kept = [copy.deepcopy(b) for b in blocks
            if b.get("block_id") not in (ACTIONS_BLOCK_ID, STATUS_BLOCK_ID)]
    kept.append({"type": "context", "block_id": STATUS_BLOCK_ID,
                 "elements": [{"type": "mrkdwn", "text": line}]})
    if keep_buttons:
        kept.append(alert_actions_block(alert_id))
    return kept
