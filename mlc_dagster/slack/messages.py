"""Block Kit messages for alerts, apart from sending them.

Every string that came from Workday is escaped (`&`, `<`, `>`), so a supplier named `<!channel>` or a
memo holding `<https://evil|Invoice>` shows as text and pings or links nobody. Limits (50 blocks,
3,000 characters a text, 10 fields of 2,000, 150 in a header) hold by construction; long lists end
in "and N more".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from ..slack_app.blocks import alert_actions_block

MAX_TEXT = 3000
MAX_FIELD = 2000
MAX_HEADER = 150
MAX_FIELDS = 10
EVENT_TYPE = "mlc_alert"  # message metadata: the alert id only, never finance data
DIGEST_EVENT_TYPE = "mlc_digest"  # a digest's parent message: its digest id and how many alerts
BATCH_EVENT_TYPE = "mlc_alert_batch"  # a digest's thread reply: the digest id and the alert ids it holds
MAX_BLOCKS = 50
MAX_BUTTON_URL = 3000
MAX_FALLBACK_TEXT = 39_000  # Slack truncates `text` above 40,000 characters
ZERO_DECIMAL_CURRENCIES = {"JPY", "KRW", "CLP", "ISK", "VND", "UGX", "XAF", "XOF"}


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when cut; never cuts an escape (`&amp;`) in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def alerts_carried(message: Mapping[str, Any]) -> list[tuple[str, int]]:
    """The (alert id, generation) pairs a posted message stands for, read back from its metadata: one for
    an alert's own message, several for a digest's thread reply, none for anything else."""
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    kind = metadata.get("event_type")
    if kind == EVENT_TYPE and payload.get("alert_id"):
        return [(str(payload["alert_id"]), int(payload.get("n") or 0))]
    if kind == BATCH_EVENT_TYPE:
        carried = []
        for token in str(payload.get("alert_ids") or "").split():
            alert, _, generation = token.partition("#")
            carried.append((alert, int(generation or 0)))
        return carried
    return []


def workday_url(base: str | None, wid: object) -> str | None:
    """The record in the Workday UI: `base` with `{wid}` replaced, or `base/` + the WID; None when either
    is missing. The WID is percent-encoded, so no Workday value can change where the button points."""
    if not base or wid in (None, ""):
        return None
    encoded = quote(str(wid), safe="")
    url = base.replace("{wid}", encoded) if "{wid}" in base else f"{base.rstrip('/')}/{encoded}"
    return url if len(url) <= MAX_BUTTON_URL else None


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


def _polling_behind(d: dict[str, Any]) -> _Parts:
    entity = _value(d, "entity")
    if d.get("state") == "recovered":
        return _Parts(f"Polling recovered: {d.get('entity', '')}",
                      f"Polling of {entity} caught up: newest window {_value(d, 'newest_window')}, behind "
                      f"since {_value(d, 'since')} ({_value(d, 'duration')})",
                      [("Entity", entity), ("Newest window", _value(d, "newest_window")),
                       ("Behind since", _value(d, "since")), ("Incident lasted", _value(d, "duration"))])
    return _Parts(f"Polling behind: {d.get('entity', '')}",
                  f"Polling of {entity} is behind: newest window {_value(d, 'newest_window')}, expected by "
                  f"{_value(d, 'expected_by')}",
                  [("Entity", entity), ("Newest window", _value(d, "newest_window")),
                   ("Expected by", _value(d, "expected_by")), ("Behind by", _value(d, "behind_by")),
                   ("Cadence + grace", _value(d, "allowance"))])


def _delivery_failed(d: dict[str, Any]) -> _Parts:
    channel = _value(d, "channel")
    return _Parts(f"Slack delivery failed: {d.get('channel', '')}",
                  f"Alerts for {channel} could not be posted: {_value(d, 'reason')} "
                  f"({_value(d, 'alerts')} alerts)",
                  [("Channel", channel), ("Reason", _value(d, "reason")), ("Alerts not delivered", _value(d, "alerts")),
                   ("What to do", _value(d, "hint"))])


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
    "polling_behind": _polling_behind,
    "delivery_failed": _delivery_failed,
}


def summary_line(rule: str, details: dict[str, Any]) -> str:
    """The one-line mrkdwn summary of an alert (escaped), as used in digests and their threads."""
    return BUILDERS.get(rule, _generic)(details).summary


def _actions(workday_link: str | None) -> list[dict[str, Any]]:
    if not workday_link:
        return []
    return [{"type": "actions", "elements": [{
        "type": "button", "action_id": "open_in_workday", "url": workday_link,
        "text": {"type": "plain_text", "text": "Open in Workday", "emoji": False}}]}]


def alert_message(alert_id: str, rule: str, details: dict[str, Any], *, window: str = "",
                  run_url: str | None = None, mention: str | None = None, workday_link: str | None = None,
                  note: str | None = None, generation: int = 0) -> Message:
    """One alert. `note` (already escaped mrkdwn) is an update line shown under the fields, e.g. after the
    record was approved; `generation` > 0 marks a forced re-send in the metadata."""
    parts = BUILDERS.get(rule, _generic)(details)
    blocks: list[dict[str, Any]] = [
        # plain_text header: no mrkdwn parsing; escaped all the same, as Slack decodes &amp; &lt; &gt; there too
        {"type": "header", "text": {"type": "plain_text", "text": _clip(escape(parts.title), MAX_HEADER),
                                    "emoji": False}},
    ]
    if mention:  # validated when the subscriptions file was loaded
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mention}})
    blocks.append({"type": "section", "fields": [
        {"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", MAX_FIELD)}
        for label, value in parts.fields[:MAX_FIELDS]
    ]})
    if parts.extra:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(parts.extra), MAX_TEXT)}})
    if note:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(note, MAX_TEXT)}})
    blocks.append(_context(rule, alert_id, window, run_url))
    blocks.extend(_actions(workday_link))
    # Acknowledge / Snooze, answered by the signed endpoint (mlc_dagster.slack_app); Workday is untouched.
    blocks.append(alert_actions_block(alert_id))
    text = f"{mention} {parts.summary}" if mention else parts.summary
    if note:
        text = f"{text} ({note})"
    return Message(text=_clip(text, MAX_TEXT), blocks=blocks, metadata=alert_metadata(alert_id, generation))


def alert_metadata(alert_id: str, generation: int = 0) -> dict[str, Any]:
    payload: dict[str, Any] = {"alert_id": alert_id}
    if generation:
        payload["n"] = generation
    return {"event_type": EVENT_TYPE, "event_payload": payload}


def _context(rule: str, alert_id: str, window: str, run_url: str | None) -> dict[str, Any]:
    bits = [f"rule `{escape(rule)}`", f"alert `{escape(alert_id)}`"]
    if window:
        bits.insert(0, f"window {escape(window)}")
    if run_url:
        bits.append(f"<{run_url}|Dagster run>")
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(" · ".join(bits), MAX_TEXT)}]}


@dataclass(frozen=True)
class DigestItem:
    alert_id: str
    rule: str
    details: dict[str, Any]
    window: str = ""
    workday_link: str | None = None
    generation: int = 0

    @property
    def token(self) -> str:
        return f"{self.alert_id}#{self.generation}" if self.generation else self.alert_id


def _amount_key(item: DigestItem) -> Decimal:
    for key in ("outstanding", "amount"):
        try:
            return abs(Decimal(str(item.details.get(key))))
        except (InvalidOperation, ValueError):
            continue
    return Decimal(-1)


RULE_LABELS = {
    "high_value_invoice": "high-value invoices", "overdue_payment": "overdue invoices",
    "duplicate_invoice": "possible duplicates", "invoice_status_change": "invoice status changes",
    "payment_run": "payment runs", "gl_discrepancy": "GL discrepancies", "polling_behind": "polling incidents",
    "delivery_failed": "delivery failures",
}


def _item_line(item: DigestItem) -> str:
    line = f"• {summary_line(item.rule, item.details)}"
    if item.workday_link:
        line += f" · <{item.workday_link}|Workday>"
    return line


def digest_message(digest_id: str, items: Sequence[DigestItem], *, top: int = 10, run_url: str | None = None,
                   mention: str | None = None) -> Message:
    """One message standing for a burst: counts per rule, the largest items, the details in its thread."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item.rule] = counts.get(item.rule, 0) + 1
    breakdown = ", ".join(f"{n:,} {RULE_LABELS.get(rule, escape(rule))}" for rule, n in
                          sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    largest = sorted(items, key=lambda i: (-_amount_key(i), i.alert_id))[:top]
    windows = sorted({i.window for i in items if i.window})
    title = f"{len(items):,} finance alerts"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(title, MAX_HEADER), "emoji": False}}]
    if mention:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": mention}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(
        f"*{len(items):,} alerts* arrived at once: {breakdown}. Each one is in this message's thread.", MAX_TEXT)}})
    top_text = f"*Largest {len(largest)}*\n" + _fit_lines([_item_line(i) for i in largest], MAX_TEXT - 100)
    if len(items) > len(largest):
        top_text += f"\nand {len(items) - len(largest):,} more in the thread"
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": top_text}})
    bits = [f"digest `{escape(digest_id)}`"]
    if windows:
        bits.insert(0, f"windows {escape(windows[0])}" + (f" … {escape(windows[-1])}" if len(windows) > 1 else ""))
    if run_url:
        bits.append(f"<{run_url}|Dagster run>")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(" · ".join(bits), MAX_TEXT)}]})
    text = f"{len(items):,} finance alerts: {breakdown} (details in the thread)"
    if mention:
        text = f"{mention} {text}"
    return Message(text=_clip(text, MAX_TEXT), blocks=blocks,
                   metadata={"event_type": DIGEST_EVENT_TYPE,
                             "event_payload": {"digest_id": digest_id, "alerts": len(items)}})


def batch_message(digest_id: str, items: Sequence[DigestItem], *, first: int, total: int) -> Message:
    """A digest's thread reply: one section per alert (summary, window, id, Workday link)."""
    if len(items) > MAX_BLOCKS - 1:
        raise ValueError(f"a digest batch holds at most {MAX_BLOCKS - 1} alerts")
    blocks: list[dict[str, Any]] = []
    for item in items:
        where = f"rule `{escape(item.rule)}` · alert `{escape(item.alert_id)}`"
        if item.window:
            where = f"window {escape(item.window)} · {where}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": _clip(f"{_item_line(item)}\n{where}", MAX_TEXT)}})
    last = first + len(items) - 1
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                   f"alerts {first:,}–{last:,} of {total:,} · digest `{escape(digest_id)}`"}]})
    text = "\n".join(f"{_item_line(i)}" for i in items)
    return Message(text=_clip(text, MAX_FALLBACK_TEXT), blocks=blocks,
                   metadata={"event_type": BATCH_EVENT_TYPE,
                             "event_payload": {"digest_id": digest_id,
                                               "alert_ids": " ".join(i.token for i in items)}})


def _fit_lines(lines: list[str], limit: int) -> str:
    """Join lines within `limit` characters; whatever does not fit becomes "and N more"."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        line = _clip(line, limit // 4)
        tail = f"\nand {len(lines) - index} more"
        if size + len(line) + 1 + len(tail) > limit:
            kept.append(tail.strip())
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)
