"""Requests from Slack: Acknowledge / Snooze buttons on alerts, `/mlc status` and `/mlc replay`.

Dagster-free: `app` (verification, ack-first dispatch), `actions` (the warehouse side), `blocks`
(Block Kit), `tokens` (bot token and its rotation), `server` (HTTP endpoint, Socket Mode).
Hook the buttons into an alert message with `blocks.append(alert_actions_block(alert_id))`.
"""

from .blocks import ACK_ACTION, SNOOZE_ACTION, alert_actions_block

__all__ = ["ACK_ACTION", "SNOOZE_ACTION", "alert_actions_block"]
