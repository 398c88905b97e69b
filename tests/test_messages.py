"""Block Kit messages: escaped, within limits, exact money."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import Block

from mlc_dagster.sandbox.slack import validate_blocks
from mlc_dagster.slack.messages import alert_message, format_amount

HOSTILE = "<!channel> Evil & Co <https://evil.example|Pay here>"


def details(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
            "invoice_id": "SI-000001", "invoice_number": "INV-1", "amount": "1234567.8900", "currency": "USD",
            "supplier_name": "Müller GmbH", "supplier_id": "SUP-1", "company_id": "ACME_US",
            "due_date": "2026-12-29", "approval_status": "APPROVED", "gl_accounts": "IT Services"}
    base.update(overrides)
    return base


def test_hostile_workday_strings_cannot_ping_or_link() -> None:
    message = alert_message("high_value_invoice:abc", "high_value_invoice",
                            details(supplier_name=HOSTILE, invoice_number="<@U123>"))
    payload = json.dumps(message.blocks) + message.text
    assert "<!channel>" not in payload and "<https://evil" not in payload and "<@U123>" not in payload
    assert "&lt;!channel&gt; Evil &amp; Co" in payload


def test_fields_a_finance_reader_needs_are_present_and_valid() -> None:
    message = alert_message("high_value_invoice:abc", "high_value_invoice", details(), window="2026-11-29 10:00")
    fields = " ".join(f["text"] for f in message.blocks[1]["fields"])
    for expected in ("INV-1", "USD 1,234,567.89", "Müller GmbH", "IT Services", "APPROVED", "2026-12-29"):
        assert expected in fields
    assert validate_blocks(message.blocks) == []
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None
        parsed.validate_json()  # slack_sdk's own limits
    assert message.metadata == {"event_type": "mlc_alert", "event_payload": {"alert_id": "high_value_invoice:abc"}}


def test_long_values_stay_within_block_kit_limits() -> None:
    message = alert_message("a", "high_value_invoice", details(supplier_name="x" * 5000, currency="EUR"))
    assert validate_blocks(message.blocks) == []
    assert len(message.text) <= 3000


def test_money_is_formatted_from_the_exact_decimal() -> None:
    assert format_amount("0.1000", "USD") == "USD 0.10"
    assert format_amount("123456789012.3456", "EUR") == "EUR 123,456,789,012.3456"
    assert format_amount("-1500", "JPY") == "JPY -1,500"
    assert format_amount("100000.1", "GBP") == "GBP 100,000.10"


def test_every_rule_has_a_readable_valid_message() -> None:
    samples: dict[str, dict[str, Any]] = {
        "overdue_payment": details(days_overdue=13, outstanding="500.00"),
        "duplicate_invoice": details(duplicate_of="SI-000002", duplicate_number="INV-1", reason="same_number"),
        "invoice_status_change": details(change="approved", field="approval_status", before="IN_PROGRESS",
                                         after="APPROVED"),
        "payment_run": {"settlement_run_id": "SR-1", "payments": 40, "payment_date": "2026-11-29",
                        "totals": [{"company_id": f"C{i}", "currency": "EUR", "payments": 1, "total": "10.00"}
                                   for i in range(14)],
                        "largest_payees": [{"supplier_name": HOSTILE, "amount": "9.5", "currency": "EUR"}]},
        "gl_discrepancy": {"journal_id": "JE-1", "check": "unbalanced", "finding": "debits 10 <> credits 9",
                           "company_id": "ACME_US", "memo": HOSTILE},
    }
    for rule, sample in samples.items():
        message = alert_message("a", rule, sample)
        assert validate_blocks(message.blocks) == [], rule
        assert "<!channel>" not in json.dumps(message.blocks) + message.text, rule
    run = alert_message("a", "payment_run", samples["payment_run"])
    assert "and 7 more company/currency totals" in json.dumps(run.blocks)
    overdue = alert_message("a", "overdue_payment", samples["overdue_payment"])
    assert "Overdue 13 days" in overdue.blocks[0]["text"]["text"]
