"""Block Kit messages for alerts, apart from sending them.

Every string that came from Workday is escaped (`&`, `<`, `>`), so a supplier named `<!channel>` or a
memo holding `<https://evil|Invoice>` shows as text and pings or links nobody. Limits (50 blocks,
3,000 characters a text, 10 fields, 150 in a header) hold by construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_FIELDS = 10
EVENT_TYPE = "mlc_alert"  # message metadata: the alert id only, never finance data

RULE_TITLES = {
    "high_value_invoice": "High-value invoice",
}


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def format_amount(amount: object, currency: object) -> str:
    """`1234567.8` + `USD` -> `USD 1,234,567.80`; exact, from the decimal text, never via float."""
    try:
        value = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        return escape(f"{amount} {currency}")
    places = 0 if str(currency) in {"JPY", "KRW", "CLP", "ISK", "VND"} else 2
    if value == value.quantize(Decimal(1).scaleb(-places)):
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{escape(currency)} {value:,}"


@dataclass(frozen=True)
class Message:
    text: str  # the plain-text fallback (notifications, screen readers, invalid_blocks)
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any]


def alert_message(alert_id: str, rule: str, details: dict[str, Any], *, window: str = "",
                  run_url: str | None = None, mention: str | None = None) -> Message:
    title = RULE_TITLES.get(rule, rule.replace("_", " ").capitalize())
    amount = format_amount(details.get("amount"), details.get("currency"))
    supplier = escape(details.get("supplier_name") or details.get("supplier_id") or "unknown supplier")
    number = escape(details.get("invoice_number") or details.get("invoice_id") or "")
    header = _clip(f"{title}: {details.get('currency', '')} {details.get('amount', '')}".strip(), MAX_HEADER)

    pairs = [
        ("Invoice", f"{number} ({escape(details.get('invoice_id', ''))})"),
        ("Amount", amount),
        ("Supplier", supplier),
        ("GL account / spend category", escape(details.get("gl_accounts") or "not on the invoice lines")),
        ("Approval status", escape(details.get("approval_status") or "unknown")),
        ("Due date", escape(details.get("due_date") or "none")),
        ("Company", escape(details.get("company_id") or "")),
        ("Payment status", escape(details.get("payment_status") or "unknown")),
    ]
    if details.get("on_hold"):
        pairs.append(("On hold", "yes"))
    fields = [{"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", MAX_FIELD)}
              for label, value in pairs[:MAX_FIELDS]]

    context_bits = [f"rule `{rule}`", f"alert `{escape(alert_id)}`"]
    if window:
        context_bits.insert(0, f"window {escape(window)}")
    if run_url:
        context_bits.append(f"<{run_url}|Dagster run>")
    blocks: list[dict[str, Any]] = [
        # plain_text header: no mrkdwn parsing at all for the Workday-derived amount
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
    ]
    if mention:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mention}})
    blocks.append({"type": "section", "fields": fields})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _clip(" · ".join(context_bits), MAX_TEXT)}]})

    status = escape(details.get("approval_status") or "status unknown")
    due = escape(details.get("due_date") or "-")
    text = f"{title}: invoice {number} from {supplier} for {amount}, {status}, due {due}"
    if mention:
        text = f"{mention} {text}"
    return Message(text=_clip(text, MAX_TEXT), blocks=blocks,
                   metadata={"event_type": EVENT_TYPE, "event_payload": {"alert_id": alert_id}})
