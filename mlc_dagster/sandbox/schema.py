"""Workday's schema for the operations the product calls, as a model requests and answers are validated against.

The baseline is Workday's v28 schema (``data/workday-schema-v28.json``, the strictest public one: every
request and response type reachable from the operations the product calls, children in schema order).
``data/workday-schema-overlay.json`` adds elements known only from later versions, each with its source and
the profile it appears ``since``; a model of profile ``v28`` has none of them, one of ``v46`` has all those
up to v46. A real tenant refuses a request element its schema does not declare with a validation fault;
the sandbox does the same with :meth:`SchemaModel.validate`.

What is checked, per element: it is in Workday's namespace, its parent's type declares it, it comes in
schema order, it does not repeat unless repeated, it is not a second member of an xsd:choice already used,
its attributes are declared (by local name), and a leaf's text is a valid value of its simple type
(``bool``, ``decimal``, ``date``, ``dateTime``, base64). What is not: required elements (the data has no
minOccurs), string facets, ID ``type`` values.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from typing import Any, Literal

from lxml import etree

__all__ = ["PROFILES", "WD", "Child", "SchemaModel", "Violation"]

WD = "urn:com.workday/bsvc"
PROFILES = ("v28", "v46")
BASELINE_FILE = "workday-schema-v28.json"
OVERLAY_FILE = "workday-schema-overlay.json"

_WD_PREFIX = "{" + WD + "}"
_LEAF_TYPES = frozenset({"string", "decimal", "bool", "DateTime", "byte[]"})
# Request_References' Skip_Non_Existing_Instances: sent by every public client (and by the product), but the
# v28 data declares it on none of the operations' *_Request_ReferencesType (the WCF classes carry it only
# on a few other services' types). Accepted on every Request_References type, as a bool.
_SKIP_NON_EXISTING = "Skip_Non_Existing_Instances"

Direction = Literal["request", "response"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One way an element breaks the schema, shaped like a Workday validation fault."""

    message: str
    detail: str
    xpath: str


@dataclass(frozen=True, slots=True)
class Child:
    """A child element a type declares. ``order`` is its schema position; members of one xsd:choice share it.

    ``wrapper_of`` set: the element ``name`` is a container of repeated elements named ``wrapper_of`` of type
    ``type`` (``repeated`` is then about those). ``since`` is the profile an overlay element appears in
    (``None`` for the v28 baseline).
    """

    name: str
    type: str
    order: int
    repeated: bool
    choice: bool = False
    xsd: str | None = None
    wrapper_of: str | None = None
    since: str | None = None
    source: str | None = None


# ---------------------------------------------------------------------------------------------------------------
# simple types

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_OFFSET = r"(Z|[+-](\d\d):(\d\d))?"
_DATE = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)" + _OFFSET)
_DATETIME = re.compile(r"(-?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?" + _OFFSET)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_BOOLS = frozenset({"0", "1", "true", "false"})


def _offset_ok(match: re.Match[str], first: int) -> bool:
    if match.group(first) in (None, "Z"):
        return True
    hours, minutes = int(match.group(first + 1)), int(match.group(first + 2))
    return minutes < 60 and (hours < 14 or (hours == 14 and minutes == 0))


def _date_ok(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _check_bool(value: str) -> bool:
    return value.strip() in _BOOLS


def _check_decimal(value: str) -> bool:
    return _DECIMAL.fullmatch(value.strip()) is not None


def _check_date(value: str) -> bool:
    match = _DATE.fullmatch(value.strip())
    return match is not None and _date_ok(*match.group(1, 2, 3)) and _offset_ok(match, 4)


def _check_datetime(value: str) -> bool:
    match = _DATETIME.fullmatch(value.strip())
    if match is None or not _date_ok(*match.group(1, 2, 3)):
        return False
    hour, minute, second = (int(part) for part in match.group(4, 5, 6))
    return hour < 24 and minute < 60 and second < 60 and _offset_ok(match, 8)


def _check_base64(value: str) -> bool:
    return _BASE64.fullmatch(value) is not None


_KINDS: dict[str, tuple[Any, str]] = {
    # kind: (checker, what a valid value looks like)
    "bool": (_check_bool, "a boolean: 0, 1, true or false"),
    "decimal": (_check_decimal, "a decimal number such as 12 or -1234.50"),
    "date": (_check_date, "a date YYYY-MM-DD, optionally with Z or +HH:MM"),
    "dateTime": (_check_datetime, "a dateTime YYYY-MM-DDThh:mm:ss[.fff], optionally with Z or +HH:MM"),
    "base64": (_check_base64, "base64 data"),
}


def _kind(type_name: str, xsd: str | None) -> str:
    if type_name == "DateTime":
        return "date" if xsd == "date" else "dateTime"
    if type_name == "byte[]":
        return "base64"
    if type_name in ("bool", "decimal"):
        return type_name
    return "string"


# ---------------------------------------------------------------------------------------------------------------
# the compiled model


class _Type:
    """A type compiled for validation: its child slots by full (namespaced) tag and its attributes."""

    __slots__ = ("attributes", "by_tag", "children", "name", "simple")

    def __init__(self, name: str) -> None:
        self.name = name
        self.children: tuple[Child, ...] = ()
        self.by_tag: dict[str, _Slot] = {}
        self.attributes: dict[str, str] = {}  # local name -> kind
        self.simple = False  # text content allowed (an ID type: #text plus attributes)


class _Slot:
    """A child element of a type, resolved: what validating it needs, without a look-up."""

    __slots__ = ("child", "choice", "inner", "inner_tag", "kind", "name", "order", "repeated", "target")

    def __init__(self, child: Child) -> None:
        self.child = child
        self.name = child.name
        self.order = child.order
        self.repeated = child.repeated
        self.choice = child.choice
        self.inner_tag = _WD_PREFIX + child.wrapper_of if child.wrapper_of else None
        self.inner = child.wrapper_of
        leaf = child.type in _LEAF_TYPES
        self.kind: str | None = _kind(child.type, child.xsd) if leaf else None
        self.target: _Type | None = None  # set once every type exists


class SchemaModel:
    """Workday's schema for one profile (``v28``: the public baseline; ``v46``: plus the overlay's elements)."""

    _cache: dict[str, SchemaModel] = {}
    _lock = threading.Lock()

    def __init__(self, profile: str, baseline: dict[str, Any], overlay: dict[str, Any]) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown schema profile {profile!r}; known: {', '.join(PROFILES)}")
        self.profile = profile
        self.source: str = baseline.get("source", "")
        self._operations: dict[str, tuple[str, str, str]] = {}
        for service, operations in baseline["operations"].items():
            for name, types in operations.items():
                self._operations[name] = (service, types["request"], types["response"])
        raw: dict[str, dict[str, dict[str, Any]]] = {
            service: {name: _copy_type(definition) for name, definition in types.items()}
            for service, types in baseline["types"].items()
        }
        self._later: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._apply_overlay(raw, overlay)
        self._types: dict[str, dict[str, _Type]] = {service: {} for service in raw}
        for service, types in raw.items():
            for name in types:
                self._types[service][name] = _Type(name)
        for service, types in raw.items():
            for name, definition in types.items():
                self._compile(service, self._types[service][name], definition)
        request_references = {
            slot.target
            for service, request, _response in self._operations.values()
            for slot in self._types[service][request].by_tag.values()
            if slot.name == "Request_References" and slot.target is not None
        }
        for compiled in request_references:
            compiled.attributes.setdefault(_SKIP_NON_EXISTING, "bool")

    # -- loading ------------------------------------------------------------------------------------------------

    @classmethod
    def load(cls, profile: str = "v28") -> SchemaModel:
        """The model of ``profile``, built once per process from the package data."""
        model = cls._cache.get(profile)
        if model is not None:
            return model
        with cls._lock:
            model = cls._cache.get(profile)
            if model is None:
                data = resources.files("mlc_dagster.sandbox").joinpath("data")
                baseline = json.loads(data.joinpath(BASELINE_FILE).read_text(encoding="utf-8"))
                overlay = json.loads(data.joinpath(OVERLAY_FILE).read_text(encoding="utf-8"))
                model = cls(profile, baseline, overlay)
                cls._cache[profile] = model
        return model

    def _apply_overlay(self, raw: dict[str, dict[str, dict[str, Any]]], overlay: dict[str, Any]) -> None:
        rank = PROFILES.index(self.profile)
        for entry in overlay.get("types", ()):
            if PROFILES.index(entry["since"]) > rank:
                continue
            for service in entry["services"]:
                children = [
                    dict(child, order=child.get("order", index), since=entry["since"], source=entry["source"])
                    for index, child in enumerate(entry["children"])
                ]
                raw[service].setdefault(entry["name"], {"children": children, "attributes": entry["attributes"]})
        for entry in overlay.get("elements", ()):
            service, type_name, element = entry["service"], entry["type"], dict(entry["element"])
            if PROFILES.index(entry["since"]) > rank:
                self._later[(service, type_name, element["name"])] = entry
                continue
            declared: list[dict[str, Any]] = raw[service][type_name]["children"]
            ordered = [child for child in declared if "order" in child]
            position = entry.get("position", {})
            if "choice_with" in position:
                (partner,) = (child for child in ordered if child["name"] == position["choice_with"])
                partner["choice"] = True
                element.update(order=partner["order"], choice=True)
            else:
                if "after" in position:
                    (anchor,) = (child for child in ordered if child["name"] == position["after"])
                    order = anchor["order"] + 1
                else:
                    order = max((child["order"] for child in ordered), default=-1) + 1
                for child in ordered:
                    if child["order"] >= order:
                        child["order"] += 1
                element["order"] = order
            element.update(since=entry["since"], source=entry["source"])
            declared.append(element)
            declared.sort(key=lambda child: child.get("order", -1))

    def _compile(self, service: str, compiled: _Type, definition: dict[str, Any]) -> None:
        children: list[Child] = []
        for child in definition["children"]:
            if child["name"] == "#text":
                compiled.simple = True
                continue
            children.append(
                Child(
                    name=child["name"],
                    type=child["type"],
                    order=int(child["order"]),
                    repeated=bool(child.get("repeated", False)),
                    choice=bool(child.get("choice", False)),
                    xsd=child.get("xsd"),
                    wrapper_of=child.get("wrapper_of"),
                    since=child.get("since"),
                    source=child.get("source"),
                )
            )
        compiled.children = tuple(children)
        for child in children:
            slot = _Slot(child)
            if slot.kind is None:
                target = self._types[service].get(child.type)
                if target is None:  # a type the data does not describe: take its text as a string
                    slot.kind = "string"
                slot.target = target
            compiled.by_tag[_WD_PREFIX + child.name] = slot
        compiled.attributes = {
            attribute["name"]: _kind(attribute["type"], attribute.get("xsd")) for attribute in definition["attributes"]
        }

    # -- look-ups -----------------------------------------------------------------------------------------------

    @property
    def operations(self) -> tuple[str, ...]:
        return tuple(self._operations)

    def type_count(self) -> int:
        return sum(len(types) for types in self._types.values())

    def operation(self, name: str) -> tuple[str, str, str]:
        """``(service, request_type, response_type)`` of an operation such as ``Get_Supplier_Invoices``."""
        try:
            return self._operations[name]
        except KeyError:
            raise KeyError(f"operation {name!r} is not in the schema; known: {', '.join(self._operations)}") from None

    def _type(self, service: str, type_name: str) -> _Type:
        try:
            return self._types[service][type_name]
        except KeyError:
            raise KeyError(f"type {type_name!r} is not declared in {service}") from None

    def children(self, service: str, type_name: str) -> tuple[Child, ...]:
        """The child elements ``type_name`` declares, in schema order."""
        return self._type(service, type_name).children

    def child(self, service: str, type_name: str, element: str) -> Child | None:
        slot = self._type(service, type_name).by_tag.get(_WD_PREFIX + element)
        return None if slot is None else slot.child

    def declares(self, service: str, type_name: str, element: str) -> bool:
        """Whether ``type_name`` declares a child element named ``element`` (in this profile)."""
        return _WD_PREFIX + element in self._type(service, type_name).by_tag

    def since(self, service: str, type_name: str, element: str) -> str | None:
        """The later profile an overlay element of ``type_name`` appears in, whether or not this profile has it."""
        child = self.child(service, type_name, element)
        if child is not None:
            return child.since
        entry = self._later.get((service, type_name, element))
        return None if entry is None else str(entry["since"])

    def _request_child(self, operation: str, element: str) -> Child | None:
        service, request, _response = self.operation(operation)
        return self.child(service, request, element)

    def response_group_flags(self, operation: str) -> tuple[str, ...]:
        """The boolean children of the operation's Response_Group type (``Include_Reference``, ...), in order."""
        group = self._request_child(operation, "Response_Group")
        if group is None:
            return ()
        service = self.operation(operation)[0]
        return tuple(child.name for child in self.children(service, group.type) if child.type == "bool")

    def criteria_elements(self, operation: str) -> tuple[str, ...]:
        """The children of the operation's Request_Criteria type, in schema order."""
        criteria = self._request_child(operation, "Request_Criteria")
        if criteria is None:
            return ()
        service = self.operation(operation)[0]
        return tuple(child.name for child in self.children(service, criteria.type))

    # -- validation ---------------------------------------------------------------------------------------------

    def validate(
        self, service: str, operation: str, element: Any, *, direction: Direction = "request"
    ) -> list[Violation]:
        """Every way ``element`` (a ``wd:{operation}_Request`` or ``_Response``) breaks this profile's schema."""
        op_service, request, response = self.operation(operation)
        if service != op_service:
            raise ValueError(f"{operation} belongs to {op_service}, not {service}")
        if direction not in ("request", "response"):
            raise ValueError(f"direction must be 'request' or 'response', not {direction!r}")
        type_name = request if direction == "request" else response
        expected = f"{operation}_{'Request' if direction == 'request' else 'Response'}"
        walker = _Walker(element, self.profile, service, self._later)
        if element.tag != _WD_PREFIX + expected:
            walker.add(
                element,
                f"Element '{etree.QName(element).localname}' is not valid here: expected {expected}",
                f"the {direction} of {operation} is a {WD} {expected} element of type {type_name}",
            )
            return walker.violations
        walker.element(element, self._types[service][type_name])
        return walker.violations


def _copy_type(definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "children": [dict(child) for child in definition["children"]],
        "attributes": [dict(attribute) for attribute in definition["attributes"]],
    }


class _Walker:
    """One pass over an element tree, collecting violations (xpaths are built only for those)."""

    __slots__ = ("later", "profile", "root", "service", "violations")

    def __init__(
        self, root: Any, profile: str, service: str, later: dict[tuple[str, str, str], dict[str, Any]]
    ) -> None:
        self.root = root
        self.profile = profile
        self.service = service
        self.later = later
        self.violations: list[Violation] = []

    def add(self, node: Any, message: str, detail: str, attribute: str | None = None) -> None:
        path = _xpath(node, self.root)
        if attribute is not None:
            path += f"/@wd:{attribute}"
        self.violations.append(Violation(message=message, detail=detail, xpath=path))

    def attributes(self, node: Any, declared: dict[str, str], owner: str) -> None:
        for key, value in node.attrib.items():
            if key[0] == "{":
                namespace, _, local = key[1:].partition("}")
                if namespace != WD:
                    continue  # xsi:, other vocabularies: not Workday's to refuse
            else:
                local = key
            kind = declared.get(local)
            if kind is None:
                self.add(
                    node,
                    f"Attribute '{local}' is not valid on {etree.QName(node).localname}",
                    f"{owner} declares {_names(declared) or 'no attributes'}",
                    local,
                )
            elif kind != "string":
                checker, expected = _KINDS[kind]
                if not checker(value):
                    self.add(
                        node,
                        f"Invalid value '{value}' for attribute '{local}'",
                        f"expected {expected}",
                        local,
                    )

    def element(self, node: Any, compiled: _Type) -> None:
        """Validate ``node`` as an element of complex type ``compiled``: attributes, text, then children."""
        if node.attrib:
            self.attributes(node, compiled.attributes, compiled.name)
        text = node.text
        if not compiled.simple and text is not None and not text.isspace() and compiled.children:
            self.add(node, f"Element '{_local(node)}' cannot have text content", f"{compiled.name} has child elements")
        if not len(node):
            return
        by_tag = compiled.by_tag
        highest = -1
        highest_name = ""
        seen: set[str] = set()
        choices: dict[int, str] | None = None
        for sub in node:
            tag = sub.tag
            if not isinstance(tag, str):
                continue  # a comment or processing instruction
            tail = sub.tail
            if not compiled.simple and tail is not None and not tail.isspace() and compiled.children:
                self.add(
                    node, f"Element '{_local(node)}' cannot have text content", f"{compiled.name} has child elements"
                )
            slot = by_tag.get(tag)
            if slot is None:
                self.undeclared(sub, node, compiled)
                continue
            name = slot.name
            order = slot.order
            if order < highest:
                self.add(
                    sub,
                    f"Element '{name}' is out of order in {_local(node)}",
                    f"{compiled.name} declares {name} before {highest_name}",
                )
            elif order > highest:
                highest, highest_name = order, name
            if name in seen:
                if not slot.repeated and slot.inner is None:
                    self.add(
                        sub,
                        f"Element '{name}' appears more than once in {_local(node)}",
                        f"{compiled.name} declares {name} once (not repeated)",
                    )
                elif slot.inner is not None:
                    self.add(
                        sub,
                        f"Element '{name}' appears more than once in {_local(node)}",
                        f"{name} is a single container of {slot.inner} elements",
                    )
            else:
                seen.add(name)
            if slot.choice:
                if choices is None:
                    choices = {}
                first = choices.setdefault(order, name)
                if first != name:
                    self.add(
                        sub,
                        f"Element '{name}' is not valid in {_local(node)} together with {first}",
                        f"{compiled.name}: {first} and {name} are alternatives of one choice",
                    )
            if slot.inner_tag is not None:
                self.wrapper(sub, slot)
            elif slot.kind is not None:
                self.leaf(sub, slot.kind, slot.child.type)
            else:
                assert slot.target is not None
                self.element(sub, slot.target)

    def wrapper(self, node: Any, slot: _Slot) -> None:
        if node.attrib:
            self.attributes(node, {}, f"{slot.name} (a container of {slot.inner})")
        count = 0
        for sub in node:
            tag = sub.tag
            if not isinstance(tag, str):
                continue
            if tag != slot.inner_tag:
                self.add(
                    sub,
                    f"Element '{_local(sub)}' is not valid in {slot.name}",
                    f"{slot.name} contains only {slot.inner} elements",
                )
                continue
            count += 1
            if count == 2 and not slot.repeated:
                self.add(
                    sub,
                    f"Element '{slot.inner}' appears more than once in {slot.name}",
                    f"{slot.name} holds one {slot.inner}",
                )
            if slot.kind is not None:
                self.leaf(sub, slot.kind, slot.child.type)
            else:
                assert slot.target is not None
                self.element(sub, slot.target)

    def leaf(self, node: Any, kind: str, type_name: str) -> None:
        if node.attrib:
            self.attributes(node, {}, f"{_local(node)} (a {type_name})")
        if len(node) and any(isinstance(sub.tag, str) for sub in node):
            self.add(node, f"Element '{_local(node)}' cannot have child elements", f"it is a {type_name} value")
            return
        if kind == "string":
            return
        checker, expected = _KINDS[kind]
        value = node.text or ""
        if not checker(value):
            self.add(node, f"Invalid value '{value}' for element '{_local(node)}'", f"expected {expected}")

    def undeclared(self, sub: Any, parent: Any, compiled: _Type) -> None:
        tag = sub.tag
        if not tag.startswith(_WD_PREFIX):
            namespace = etree.QName(sub).namespace
            self.add(
                sub,
                f"Element '{_local(sub)}' is not valid in {_local(parent)}",
                f"elements must be in the {WD} namespace, not {namespace or 'no namespace'}",
            )
            return
        name = tag[len(_WD_PREFIX) :]
        detail = f"{compiled.name} declares {_names(child.name for child in compiled.children) or 'no child elements'}"
        entry = self.later.get((self.service, compiled.name, name))
        if entry is not None:
            confirmed = "" if entry.get("confirmed", True) else " (unconfirmed)"
            detail = (
                f"{name} is declared only since {entry['since']}{confirmed} and this schema is {self.profile}; "
                f"source: {entry['source']}"
            )
        self.add(sub, f"Element '{name}' is not valid in {_local(parent)}", detail)


def _local(node: Any) -> str:
    tag: str = node.tag
    return tag.rpartition("}")[2]


def _names(names: Iterable[str]) -> str:
    return ", ".join(names)


def _xpath(node: Any, root: Any) -> str:
    """Workday-style xpath of ``node`` from ``root``: ``/wd:Get_X_Request[1]/wd:Request_Criteria[1]/...``."""
    steps: list[str] = []
    current = node
    while current is not None:
        tag = current.tag
        position = 1 + sum(1 for sibling in current.itersiblings(preceding=True) if sibling.tag == tag)
        if tag.startswith(_WD_PREFIX):
            name = "wd:" + tag[len(_WD_PREFIX) :]
        else:
            qname = etree.QName(current)
            name = f"{current.prefix}:{qname.localname}" if current.prefix else qname.localname
        steps.append(f"{name}[{position}]")
        if current is root:
            break
        current = current.getparent()
    return "/" + "/".join(reversed(steps))
