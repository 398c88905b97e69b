"""Channel subscriptions: which rule's alerts go to which Slack channel, with thresholds and filters.

A bad file is refused at load with the line, the key and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

# Rule name -> the options it takes beyond the common ones. Kept here (not in the rule registry) so
# that loading a file needs no warehouse.
RULE_OPTIONS: dict[str, set[str]] = {
    "high_value_invoice": {"min_amount"},
    "overdue_payment": {"min_days_overdue"},
    "payment_run": set(),
    "gl_discrepancy": {"intercompany_accounts"},
    "polling_behind": set(),
    "invoice_status_change": set(),
    "duplicate_invoice": set(),
}
COMMON_KEYS = {"name", "rule", "channel", "companies", "suppliers", "mention"}
MENTION_PATTERN = re.compile(r"<(@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+|!here|!channel)>")
CHANNEL_PATTERN = re.compile(r"^(#?[a-z0-9][a-z0-9._\-]{0,79}|[CGD][A-Z0-9]{6,})$")


class SubscriptionError(ValueError):
    pass


@dataclass(frozen=True)
class Subscription:
    rule: str
    channel: str
    name: str | None = None
    min_amount: Decimal | None = None
    min_amount_by_currency: tuple[tuple[str, Decimal], ...] = ()
    min_days_overdue: int | None = None
    companies: frozenset[str] = frozenset()
    suppliers: frozenset[str] = frozenset()
    mention: str | None = None
    intercompany_accounts: frozenset[str] = frozenset()

    @property
    def label(self) -> str:
        return self.name or f"{self.rule}->{self.channel}"

    def threshold_for(self, currency: str | None) -> Decimal | None:
        for code, amount in self.min_amount_by_currency:
            if code == currency:
                return amount
        return self.min_amount

    def matches(self, candidate: Mapping[str, Any]) -> bool:
        """Whether an alert candidate (a rule's output row) goes to this subscription."""
        if self.companies:
            companies = candidate.get("company_ids") or [candidate.get("company_id")]
            if not self.companies.intersection(c for c in companies if c):
                return False
        if self.suppliers and candidate.get("supplier_id") not in self.suppliers:
            return False
        if self.rule == "high_value_invoice":
            threshold = self.threshold_for(candidate.get("currency"))
            amount = candidate.get("amount")
            if threshold is None or amount is None or amount < threshold:
                return False
        if self.rule == "overdue_payment":
            level = candidate.get("level")
            if level is None or level < (self.min_days_overdue if self.min_days_overdue is not None else 1):
                return False
        return True


@dataclass(frozen=True)
class Subscriptions:
    items: tuple[Subscription, ...]
    source: str = "subscriptions.yaml"

    def for_rule(self, rule: str) -> list[Subscription]:
        return [s for s in self.items if s.rule == rule]



def load_subscriptions(path: str | Path) -> Subscriptions:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SubscriptionError(
            f"{path}: subscriptions file not found (set MLC_SUBSCRIPTIONS or copy subscriptions.example.yaml)"
        ) from None
    return parse_subscriptions(text, source=str(path))


def parse_subscriptions(text: str, source: str = "subscriptions.yaml") -> Subscriptions:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SubscriptionError(f"{source}{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None

    def fail(node: Node, key: str, expected: str) -> SubscriptionError:
        return SubscriptionError(f"{source} line {node.start_mark.line + 1}: key '{key}': expected {expected}")

    if root is None or not isinstance(root, MappingNode):
        raise SubscriptionError(f"{source} line 1: expected a mapping with a 'subscriptions' list")
    top = {k.value: v for k, v in root.value}
    unknown_top = set(top) - {"subscriptions"}
    if unknown_top:
        key = sorted(unknown_top)[0]
        node = next(k for k, _ in root.value if k.value == key)
        raise fail(node, key, "only 'subscriptions' at the top level")
    entries = top.get("subscriptions")
    if not isinstance(entries, SequenceNode):
        raise fail(entries or root, "subscriptions", "a list of subscriptions")

    items: list[Subscription] = []
    names: set[str] = set()
    for entry in entries.value:
        if not isinstance(entry, MappingNode):
            raise fail(entry, "subscriptions[]", "a mapping with at least 'rule' and 'channel'")
        fields: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in entry.value:
            fields[str(key_node.value)] = (key_node, value_node)
        rule_node = fields.get("rule")
        if rule_node is None:
            raise fail(entry, "rule", f"one of {', '.join(sorted(RULE_OPTIONS))}")
        rule = _scalar(rule_node[1])
        if rule not in RULE_OPTIONS:
            raise fail(rule_node[1], "rule", f"one of {', '.join(sorted(RULE_OPTIONS))}, got {rule!r}")
        allowed = COMMON_KEYS | RULE_OPTIONS[rule]
        for key, (key_node, _) in fields.items():
            if key not in allowed:
                raise fail(key_node, key, f"one of {', '.join(sorted(allowed))} for rule {rule}")
        channel_node = fields.get("channel")
        if channel_node is None:
            raise fail(entry, "channel", "a Slack channel name (#finance-alerts) or ID (C0123ABCD)")
        channel = _scalar(channel_node[1])
        if not isinstance(channel, str) or not CHANNEL_PATTERN.match(channel):
            raise fail(channel_node[1], "channel",
                       f"a Slack channel name (#finance-alerts) or ID (C0123ABCD), got {channel!r}")
        name = None
        if "name" in fields:
            name = _scalar(fields["name"][1])
            if not isinstance(name, str) or not name:
                raise fail(fields["name"][1], "name", "a non-empty string")
            if name in names:
                raise fail(fields["name"][1], "name", f"a unique name; {name!r} is used twice")
            names.add(name)

        min_amount: Decimal | None = None
        by_currency: list[tuple[str, Decimal]] = []
        if "min_amount" in fields:
            node = fields["min_amount"][1]
            if isinstance(node, MappingNode):
                for cur_node, amount_node in node.value:
                    code = str(cur_node.value)
                    if not re.fullmatch(r"[A-Z]{3}", code):
                        raise fail(cur_node, "min_amount", f"ISO 4217 currency codes as keys, got {code!r}")
                    by_currency.append((code, _amount(amount_node, fail)))
            else:
                min_amount = _amount(node, fail)
        elif rule == "high_value_invoice":
            raise fail(entry, "min_amount", "a threshold for high_value_invoice, e.g. min_amount: 100000")
        min_days: int | None = None
        if "min_days_overdue" in fields:
            node = fields["min_days_overdue"][1]
            value = _scalar(node)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise fail(node, "min_days_overdue", f"a whole number of days >= 0, got {node.value!r}")
            min_days = value
        companies = _id_list(fields.get("companies"), "companies", fail)
        intercompany = _id_list(fields.get("intercompany_accounts"), "intercompany_accounts", fail)
        suppliers = _id_list(fields.get("suppliers"), "suppliers", fail)
        mention = None
        if "mention" in fields:
            mention = _scalar(fields["mention"][1])
            if not isinstance(mention, str) or not MENTION_PATTERN.fullmatch(mention):
                raise fail(fields["mention"][1], "mention",
                           "a Slack mention such as <@U0123ABCD>, <!subteam^S0123ABCD> or <!here>")
        items.append(Subscription(
            rule=rule, channel=channel, name=name, min_amount=min_amount,
            min_amount_by_currency=tuple(by_currency), min_days_overdue=min_days,
            companies=companies, suppliers=suppliers, mention=mention, intercompany_accounts=intercompany,
        ))
    return Subscriptions(items=tuple(items), source=source)


def _scalar(node: Node) -> Any:
    if not isinstance(node, ScalarNode):
        return node
    return yaml.safe_load(yaml.serialize(node)) if node.tag != "tag:yaml.org,2002:str" else node.value


def _amount(node: Node, fail: Any) -> Decimal:
    raw = node.value if isinstance(node, ScalarNode) else None
    try:
        # Read the text, not a float: 100000.10 must stay exactly that.
        value = Decimal(str(raw).replace("_", ""))
    except (InvalidOperation, TypeError):
        raise fail(node, "min_amount", f"a number (in the invoice's own currency), got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise fail(node, "min_amount", f"a number >= 0, got {raw!r}")
    return value


def _id_list(pair: tuple[Node, Node] | None, key: str, fail: Any) -> frozenset[str]:
    if pair is None:
        return frozenset()
    node = pair[1]
    if not isinstance(node, SequenceNode) or not all(isinstance(v, ScalarNode) and v.value for v in node.value):
        raise fail(node, key, "a list of Workday IDs, e.g. [ACME_US, ACME_UK]")
    return frozenset(str(v.value) for v in node.value)
