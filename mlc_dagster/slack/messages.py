"""Block Kit messages for alerts, apart from sending them.

Every string that came from Workday is escaped (`&`, `<`, `>`), so a supplier named `<!channel>` or a
memo holding `<https://evil|Invoice>` shows as text and pings or links nobody. Limits (50 blocks,
3,000 characters a text, 10 fields of 2,000, 150 in a header) hold by construction; long lists end
in "and N more".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_FIELDS = 10
EVENT_TYPE = "mlc_alert"  # message metadata: the alert id only, never finance data
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND", "UGX", "XAF", "XOF"}


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
    places = 0 if str(currency) in ZERO_DECIMAL_CURRENCIES else 2
    if value == value.quantize(Decimal(1).scaleb(-places)):
        value = value.quantize(Decimal(1).scaleb(-places))
    return f"{escape(currency)} {value:,}"


@dataclass(frozen=True)
class Message:
    text: str  # the plain-text fallback (notifications, screen readers, invalid_blocks)
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any]


@dataclass
class _Parts:
    title: str  # plain text: goes into a plain_text header, never parsed
    summary: str  # mrkdwn, escaped
    fields: list[tuple[str, str]]  # (label, escaped mrkdwn value)
    extra: list[str] | None = None  # an escaped list shown under the fields


def _value(details: dict[str, Any], key: str, default: str = "—") -> str:
    value = details.get(key)
    return escape(value) if value not in (None, "") else default


def _invoice_fields(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("Invoice", f"{_value(d, 'invoice_number')} ({_value(d, 'invoice_id')})"),
        ("Amount", format_amount(d.get("amount"), d.get("currency"))),
        ("Supplier", _value(d, "supplier_name", _value(d, "supplier_id"))),
        ("GL account / spend category", _value(d, "gl_accounts", "not on the invoice lines")),
        ("Approval status", _value(d, "approval_status", "unknown")),
        ("Due date", _value(d, "due_date", "none")),
        ("Company", _value(d, "company_id")),
        ("Payment status", _value(d, "payment_status", "unknown")),
    ]


def _invoice_summary(prefix: str, d: dict[str, Any]) -> str:
    return (f"{prefix}: invoice {_value(d, 'invoice_number')} from {_value(d, 'supplier_name')} for "
            f"{format_amount(d.get('amount'), d.get('currency'))}, {_value(d, 'approval_status', 'status unknown')}, "
            f"due {_value(d, 'due_date', '-')}")


def _high_value(d: dict[str, Any]) -> _Parts:
    fields = _invoice_fields(d)
    if d.get("on_hold"):
        fields.append(("On hold", "yes"))
    return _Parts(f"High-value invoice: {d.get('currency', '')} {d.get('amount', '')}",
                  _invoice_summary("High-value invoice", d), fields)


def _overdue(d: dict[str, Any]) -> _Parts:
    fields = _invoice_fields(d)
    fields[1] = ("Outstanding", f"{format_amount(d.get('outstanding'), d.get('currency'))} of "
                                f"{format_amount(d.get('amount'), d.get('currency'))}")
    fields.insert(2, ("Days overdue", _value(d, "days_overdue")))
    return _Parts(f"Overdue {d.get('days_overdue', '?')} days: invoice {d.get('invoice_number', '')}",
                  _invoice_summary(f"Overdue by {_value(d, 'days_overdue')} days", d), fields[:MAX_FIELDS])


def _duplicate(d: dict[str, Any]) -> _Parts:
    fields = _invoice_fields(d)
    reason = "same invoice number" if d.get("reason") == "same_number" else "same amount and invoice date"
    fields.insert(1, ("Possible duplicate of", f"{_value(d, 'duplicate_number')} ({_value(d, 'duplicate_of')})"))
    fields.insert(2, ("Why", reason))
    return _Parts(f"Possible duplicate invoice: {d.get('invoice_number', '')}",
                  _invoice_summary(f"Possible duplicate ({reason}) of {_value(d, 'duplicate_of')}", d),
                  fields[:MAX_FIELDS])


def _status_change(d: dict[str, Any]) -> _Parts:
    fields = _invoice_fields(d)
    fields.insert(0, ("Change", f"{_value(d, 'field')}: {_value(d, 'before')} → {_value(d, 'after')}"))
    return _Parts(f"Invoice {d.get('change', 'changed')}: {d.get('invoice_number', '')}",
                  _invoice_summary(f"Invoice {_value(d, 'change')}", d), fields[:MAX_FIELDS])


def _payment_run(d: dict[str, Any]) -> _Parts:
    totals = d.get("totals") or []
    fields = [("Payments", _value(d, "payments")), ("Payment date", _value(d, "payment_date"))]
    room = MAX_FIELDS - len(fields)
    shown = totals if len(totals) <= room else totals[: room - 1]
    for total in shown:
        fields.append((f"{escape(total.get('company_id'))} · {escape(total.get('currency'))}",
                       f"{format_amount(total.get('total'), total.get('currency'))} ({escape(total.get('payments'))})"))
    if len(shown) < len(totals):
        fields.append(("…", f"and {len(totals) - len(shown)} more company/currency totals"))
    payees = [f"{escape(p.get('supplier_name') or p.get('supplier_id'))}: "
              f"{format_amount(p.get('amount'), p.get('currency'))}" for p in d.get("largest_payees") or []]
    return _Parts(f"Payment run {d.get('settlement_run_id', '')} complete: {d.get('payments', '?')} payments",
                  f"Payment run {_value(d, 'settlement_run_id')} complete: {_value(d, 'payments')} payments",
                  fields, ["*Largest payees*", *payees] if payees else None)


def _gl(d: dict[str, Any]) -> _Parts:
    checks = {"unbalanced": "Unbalanced journal", "header_mismatch": "Journal header ≠ lines",
              "retired_account": "Posting to a retired or unknown account",
              "intercompany": "Intercompany lines do not net to zero"}
    what = checks.get(str(d.get("check")), "GL discrepancy")
    fields = [
        ("Journal", _value(d, "journal_id")), ("Finding", _value(d, "finding")),
        ("Company", _value(d, "company_id")), ("Currency", _value(d, "currency")),
        ("Accounting date", _value(d, "accounting_date")), ("Source", _value(d, "journal_source")),
        ("Status", _value(d, "status")),
        ("Header totals", f"{_value(d, 'total_debits')} / {_value(d, 'total_credits')}"),
    ]
    return _Parts(f"{what}: {d.get('journal_id', '')}", f"{what}: journal {_value(d, 'journal_id')}, "
                  f"{_value(d, 'finding')}", fields)


def _generic(d: dict[str, Any]) -> _Parts:
    fields = [(escape(k), escape(v)) for k, v in d.items() if isinstance(v, str | int | float)]
    return _Parts("Finance alert", "Finance alert", fields[:MAX_FIELDS])


BUILDERS: dict[str, Callable[[dict[str, Any]], _Parts]] = {
    "high_value_invoice": _high_value,
    "overdue_payment": _overdue,
    "duplicate_invoice": _duplicate,
    "invoice_status_change": _status_change,
    "payment_run": _payment_run,
    "gl_discrepancy": _gl,
}


def alert_message(alert_id: str, rule: str, details: dict[str, Any], *, window: str = "",
                  run_url: str | None = None, mention: str | None = None) -> Message:
    parts = BUILDERS.get(rule, _generic)(details)
    blocks: list[dict[str, Any]] = [
        # plain_text header: no mrkdwn parsing at all for Workday-derived text
        {"type": "header", "text": {"type": "plain_text", "text": _clip(parts.title, MAX_HEADER), "emoji": False}},
    ]
    if mention:  # validated when the subscriptions file was loaded
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mention}})
    blocks.append({"type": "section", "fields": [
        {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", MAX_FIELD)}
        for label, value in parts.fields[:MAX_FIELDS]
    ]})
    if parts.extra:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(parts.extra), MAX_TEXT)}})
    context_bits = [f"rule `{rule}`", f"alert `{escape(alert_id)}`"]
    if window:
        context_bits.insert(0, f"window {escape(window)}")
    if run_url:
        context_bits.append(f"<{run_url}|Dagster run>")
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _clip(" · ".join(context_bits), MAX_TEXT)}]})
    text = f"{mention} {parts.summary}" if mention else parts.summary
    return Message(text=_clip(text, MAX_TEXT), blocks=blocks,
                   metadata={"event_type": EVENT_TYPE, "event_payload": {"alert_id": alert_id}})
