"""Streaming parser: a Workday `Get_*_Response` page in, rows out.

zeep building objects costs ~30x a one-pass lxml walk (see performance notes), so response bodies are
read with `lxml.etree.iterparse`, each record turned into a row and then dropped from the tree.
Parsing is hardened: no DTDs, no entity expansion, no network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from .entities import Entity, Field
from .errors import WorkdayDataError

WD = "urn:com.workday/bsvc"
_WD = "{" + WD + "}"
_TYPE = _WD + "type"
_DESCRIPTOR = _WD + "Descriptor"
MAX_DECIMAL_PLACES = 4
MAX_MONEY = Decimal("99999999999999")  # what DECIMAL(18,4) holds


@dataclass
class PageResult:
    total_results: int = 0
    total_pages: int = 0
    page: int = 0
    records: int = 0


@dataclass
class ColumnBuffer:
    """Rows kept as one list per column: about a third of the memory of a dict per row."""

    names: tuple[str, ...]
    columns: dict[str, list[Any]] = field(init=False)

    def __post_init__(self) -> None:
        self.columns = {n: [] for n in self.names}

    def __len__(self) -> int:
        return len(self.columns[self.names[0]]) if self.names else 0

    def append(self, row: dict[str, Any]) -> None:
        for name in self.names:
            self.columns[name].append(row.get(name))


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _convert(value: str, type_: str) -> Any:
    value = value.strip()
    if type_ == "VARCHAR":
        return value
    if type_.startswith("DECIMAL"):
        number = Decimal(value)
        if not number.is_finite():
            raise ValueError("not a finite number")
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
            raise ValueError(f"more than {MAX_DECIMAL_PLACES} decimal places")
        if abs(number) > MAX_MONEY:
            raise ValueError("too large")
        return number
    if type_ == "DATE":
        # xsd:date may carry an offset ("2026-11-29-08:00"); the calendar date is the first ten chars.
        return date.fromisoformat(value[:10])
    if type_ == "TIMESTAMP":
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(tzinfo=None)
    if type_ == "BOOLEAN":
        lowered = value.lower()
        if lowered in ("1", "true"):
            return True
        if lowered in ("0", "false"):
            return False
        raise ValueError("not a boolean")
    if type_ == "INTEGER":
        return int(Decimal(value))
    raise ValueError(f"unsupported column type {type_}")


def _reference_value(element: Any, spec: Field) -> str | None:
    if spec.descriptor:
        return element.get(_DESCRIPTOR)
    for child in element:
        if child.get(_TYPE) == spec.id_type:
            return (child.text or "").strip() or None
    return None


def extract(children: dict[str, Any], fields: Iterable[Field], where: str) -> dict[str, Any]:
    """Fill a row from a `{local name: element}` index of one record's data children."""
    row: dict[str, Any] = {}
    for spec in fields:
        value: Any = None
        for source in spec.sources:
            element = children.get(source)
            if element is None:
                continue
            if spec.id_type or spec.descriptor:
                value = _reference_value(element, spec)
                if value is not None and spec.type != "VARCHAR":
                    value = _typed(value, spec, where)
            elif element.text is not None and element.text.strip():
                value = _typed(element.text, spec, where)
            if value is not None:
                break
        if value is None and spec.required:
            raise WorkdayDataError(f"{where}: required field {spec.name} ({'/'.join(spec.sources)}) is missing")
        row[spec.name] = value
    return row


def _typed(text: str, spec: Field, where: str) -> Any:
    try:
        return _convert(text, spec.type)
    except (ValueError, InvalidOperation) as exc:
        shown = text if len(text) <= 60 else text[:57] + "..."
        raise WorkdayDataError(
            f"{where}: field {spec.name} ({spec.sources[0]}) has value {shown!r}, expected {spec.type}: {exc}"
        ) from None


def parse_record(record: Any, entity: Entity) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One `wd:{Record}` element to (header row, line rows)."""
    wid = None
    business_id = None
    data = None
    for child in record:
        name = _local(child.tag)
        if name == entity.reference_element:
            for ident in child:
                kind = ident.get(_TYPE)
                if kind == "WID":
                    wid = (ident.text or "").strip()
                elif kind == entity.id_type:
                    business_id = (ident.text or "").strip()
        elif name == entity.data_element and data is None:
            data = child
    where = f"{entity.operation} record {business_id or wid or '(no id)'}"
    if not wid:
        raise WorkdayDataError(f"{where}: {entity.reference_element} has no WID")
    if data is None:
        raise WorkdayDataError(f"{where}: no {entity.data_element} element")

    children: dict[str, Any] = {}
    line_elements: list[Any] = []
    line_element = entity.lines.element if entity.lines else None
    for child in data:
        name = _local(child.tag)
        if name == line_element:
            line_elements.append(child)
        elif name not in children:
            children[name] = child
    row = extract(children, entity.fields, where)
    row["wid"] = wid

    lines: list[dict[str, Any]] = []
    if entity.lines:
        for number, line in enumerate(line_elements, start=1):
            line_children: dict[str, Any] = {}
            for child in line:
                line_children.setdefault(_local(child.tag), child)
            line_row = extract(line_children, entity.lines.fields, f"{where} line {number}")
            line_row["parent_wid"] = wid
            lines.append(line_row)
    if "amount" in row and row["amount"] is None and lines:
        # Decision 5: an invoice without header totals is worth the sum of its lines.
        row["amount"] = sum((line["amount"] or Decimal(0) for line in lines), Decimal(0))
    return row, lines


def parse_page(stream: Any, entity: Entity, rows: ColumnBuffer, lines: ColumnBuffer | None) -> PageResult:
    """Parse one response page from a byte stream into the buffers; returns its paging results."""
    result = PageResult()
    record_tag = _WD + entity.record_element
    results_tag = _WD + "Response_Results"
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=(record_tag, results_tag),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )
    for _, element in context:
        if element.tag == results_tag:
            for child in element:
                name = _local(child.tag)
                text = (child.text or "0").strip() or "0"
                if name == "Total_Results":
                    result.total_results = int(Decimal(text))
                elif name == "Total_Pages":
                    result.total_pages = int(Decimal(text))
                elif name == "Page":
                    result.page = int(Decimal(text))
        else:
            # A record nested inside another record's data (never seen, but cheap to guard) is skipped.
            parent = element.getparent()
            if parent is not None and _local(parent.tag) == "Response_Data":
                row, line_rows = parse_record(element, entity)
                rows.append(row)
                if lines is not None:
                    for line_row in line_rows:
                        lines.append(line_row)
                result.records += 1
                # Drop what has been read so memory follows one record, not the page.
                element.clear()
                while element.getprevious() is not None:
                    del parent[0]
    return result
