"""Subscriptions: a bad file is refused with the line, the key and what was expected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from mlc_dagster.alerts import RULES
from mlc_dagster.alerts.subscriptions import SubscriptionError, load_subscriptions, parse_subscriptions

CONTRACT_EXAMPLE = """
subscriptions:
  - name: high-value-invoices          # optional; unique when given
    rule: high_value_invoice
    channel: "#finance-alerts"         # a channel name or ID
    min_amount: 100000                 # compared in the invoice's own currency
  - rule: overdue_payment
    channel: "#ap-overdue"
    min_days_overdue: 1
  - rule: payment_run
    channel: "#approvals"
  - rule: gl_discrepancy
    channel: "#reconciliation"
  - rule: polling_behind
    channel: "#finance-ops"
"""


def test_the_contract_example_loads() -> None:
    subs = parse_subscriptions(CONTRACT_EXAMPLE)
    assert [s.rule for s in subs.items] == [
        "high_value_invoice", "overdue_payment", "payment_run", "gl_discrepancy", "polling_behind"]
    high = subs.for_rule("high_value_invoice")[0]
    assert high.min_amount == Decimal("100000") and high.name == "high-value-invoices"
    assert subs.for_rule("overdue_payment")[0].min_days_overdue == 1


def test_filters_and_per_currency_thresholds_route_exactly() -> None:
    subs = parse_subscriptions("""
subscriptions:
  - rule: high_value_invoice
    channel: C0FINALRT1
    companies: [ACME_DE]
    min_amount: {EUR: 90000.50, USD: 100000}
""")
    sub = subs.items[0]

    def invoice(company: str, amount: str, currency: str) -> dict[str, object]:
        return {"company_id": company, "supplier_id": "SUP-1", "amount": Decimal(amount), "currency": currency}

    assert sub.matches(invoice("ACME_DE", "90000.50", "EUR"))
    assert not sub.matches(invoice("ACME_DE", "90000.49", "EUR"))
    assert not sub.matches(invoice("ACME_US", "500000", "EUR"))
    assert not sub.matches(invoice("ACME_DE", "500000", "JPY")), "no threshold for JPY: no alert"
    assert RULES["high_value_invoice"].params(list(subs.items)) == {"min_amount": Decimal("90000.50")}


def test_overdue_routing_follows_each_subscriptions_days() -> None:
    subs = parse_subscriptions("""
subscriptions:
  - rule: overdue_payment
    channel: "#ap-overdue"
  - rule: overdue_payment
    channel: "#cfo"
    min_days_overdue: 30
  - rule: payment_run
    channel: "#approvals"
    companies: [ACME_UK]
""")
    early, late, runs = subs.items
    assert early.matches({"level": 1}) and not late.matches({"level": 29}) and late.matches({"level": 30})
    assert runs.matches({"company_ids": ["ACME_DE", "ACME_UK"]}) and not runs.matches({"company_ids": ["ACME_US"]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subscriptions:\n  - rule: high_value_invoce\n    channel: '#x'\n",
         "line 2: key 'rule': expected one of"),
        ("subscriptions:\n  - rule: high_value_invoice\n    min_amount: 5\n",
         "line 2: key 'channel': expected a Slack channel"),
        ("subscriptions:\n  - rule: payment_run\n    channel: 'finance alerts!'\n",
         "line 3: key 'channel': expected a Slack channel name"),
        ("subscriptions:\n  - rule: high_value_invoice\n    channel: '#x'\n    min_amount: lots\n",
         "line 4: key 'min_amount': expected a number"),
        ("subscriptions:\n  - rule: high_value_invoice\n    channel: '#x'\n    min_amount: -1\n",
         "line 4: key 'min_amount': expected a number >= 0"),
        ("subscriptions:\n  - rule: overdue_payment\n    channel: '#x'\n    min_days_overdue: 1.5\n",
         "line 4: key 'min_days_overdue': expected a whole number"),
        ("subscriptions:\n  - rule: payment_run\n    channel: '#x'\n    min_amount: 3\n",
         "line 4: key 'min_amount': expected one of"),
        ("subscriptions:\n  - name: a\n    rule: payment_run\n    channel: '#x'\n"
         "  - name: a\n    rule: gl_discrepancy\n    channel: '#y'\n",
         "line 5: key 'name': expected a unique name"),
        ("subscriptions:\n  - rule: payment_run\n    channel: '#x'\n    companies: ACME_US\n",
         "line 4: key 'companies': expected a list of Workday IDs"),
        ("subscriptions:\n  - rule: payment_run\n    channel: '#x'\n    mention: '@everyone'\n",
         "line 4: key 'mention': expected a Slack mention"),
        ("subscription:\n  - rule: payment_run\n", "line 1: key 'subscription': expected only 'subscriptions'"),
        ("subscriptions: [\n", "not valid YAML"),
        ("", "expected a mapping"),
    ],
)
def test_bad_files_name_line_key_and_expectation(text: str, expected: str) -> None:
    with pytest.raises(SubscriptionError) as failure:
        parse_subscriptions(text, source="subs.yaml")
    assert str(failure.value).startswith("subs.yaml")
    assert expected in str(failure.value)


def test_a_missing_file_says_which_setting_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SubscriptionError, match="MLC_SUBSCRIPTIONS"):
        load_subscriptions(tmp_path / "nope.yaml")
