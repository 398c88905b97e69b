"""Streaming parser: a Workday `Get_*_Response` page in, rows of text out.

zeep building objects costs ~30x a one-pass lxml walk (see performance notes), so response bodies are
read with `lxml.etree.iterparse`; each record is walked once, its children dispatched by tag through a
plan compiled from the entity registry, and then dropped from the tree. Values stay text here:
typing and validation (exact decimals, dates, UTC times) happen in DuckDB when the window is loaded,
where they run in C++ and a bad value is reported with its record and field.
Parsing is hardened: no entity expansion, no network, and a body whose prolog declares a DTD is
refused before lxml sees it (`GuardedStream`): Workday never sends one, and an entity bomb or an
external entity is then a clear, non-retried `UnsafeXmlError`, not a parse. The same stream caps the
body's size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .entities import Entity, Field
from .errors import WorkdayDataError

WD = "urn:com.workday/bsvc"
_WD = "{" + WD + "}"
_TYPE = _WD + "type"
_DESCRIPTOR = _WD + "Descriptor"
_ID = _WD + "ID"

MAX_RESPONSE_BYTES = 64 << 20  # a full page of 999 invoices is ~3 MB; configurable on the SOAP client
_PROLOG_LIMIT = 64 << 10  # bytes of XML declaration, comments and PIs allowed before the root element


class UnsafeXmlError(WorkdayDataError):
    """A response refused unparsed: it declares a DTD (entities), is not UTF-8, or is over the size cap."""


def _prolog_end(head: bytes) -> int | None:
    """Where the root element starts in `head`, None if more bytes are needed; raises on a DTD.

    Only the XML declaration, comments, processing instructions and whitespace may precede the root."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00")) or head[1:2] == b"\x00":
        raise UnsafeXmlError("the response is not UTF-8 (UTF-16/32): Workday answers in UTF-8; refused unparsed")
    i = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    while True:
        while i < len(head) and head[i] in b" \t\r\n":
            i += 1
        if len(head) - i < 4:
            return None
        if head.startswith(b"<?", i):
            end = head.find(b"?>", i + 2)
        elif head.startswith(b"<!--", i):
            end = head.find(b"-->", i + 4)
        elif head.startswith(b"<!", i):
            raise UnsafeXmlError(
                "the response declares a DTD (<!DOCTYPE ...>): Workday never sends one, and it can define "
                "entities (an entity bomb, an external file); refused unparsed")
        else:
            return i
        if end < 0:
            return None
        i = end + 2 if head[i + 1:i + 2] == b"?" else end + 3


class GuardedStream:
    """A response body as lxml reads it: counted, capped at `limit` bytes, its prolog checked for a DTD."""

    def __init__(self, raw: Any, limit: int | None = MAX_RESPONSE_BYTES) -> None:
        self.raw = raw
        self.limit = limit
        self.count = 0
        self._head: bytes | None = b""  # None once the root element has been reached
        headers: Any = getattr(raw, "headers", None)
        length = str(headers.get("Content-Length") or "") if hasattr(headers, "get") else ""
        self._announced = int(length) if length.isdigit() else 0

    def read(self, size: int = -1) -> bytes:
        if self.limit is not None and self._announced > self.limit:
            raise UnsafeXmlError(f"the response announces {self._announced:,} bytes, over the {self.limit:,}-byte "
                                 "cap (lower the page size, or raise max_response_bytes); refused unread")
        chunk = bytes(self.raw.read(size if size and size > 0 else 65536))
        self.count += len(chunk)
        if self.limit is not None and self.count > self.limit:
            raise UnsafeXmlError(f"the response is over the {self.limit:,}-byte cap (lower the page size, or "
                                 "raise max_response_bytes); refused")
        if self._head is not None:
            head = self._head + chunk
            if not chunk or _prolog_end(head) is not None:
                self._head = None
            elif len(head) > _PROLOG_LIMIT:
                raise UnsafeXmlError(f"no root element within the first {_PROLOG_LIMIT:,} bytes; refused")
            else:
                self._head = head
        return chunk


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

    def append_values(self, values: list[Any]) -> None:
        for column, value in zip(self.columns.values(), values, strict=True):
            column.append(value)

    def extend(self, other: ColumnBuffer) -> None:
        for name in self.names:
            self.columns[name].extend(other.columns[name])

    def rows(self) -> list[dict[str, Any]]:
        return [dict(zip(self.names, values, strict=True)) for values in zip(*self.columns.values(), strict=True)]


@dataclass
class Page:
    """One response page as read: what a page sink is given (`add_page(page.rows, page.lines)`).

    `rows` and `lines` are column buffers; the fast path's are `fastpath.ArrowColumns`, whose Arrow
    `table` a sink may take as it is (the stage does) instead of the lists."""

    rows: ColumnBuffer
    lines: ColumnBuffer | None
    result: PageResult


def header_names(entity: Entity) -> tuple[str, ...]:
    return tuple(spec.name for spec in entity.fields) + ("wid",)


def line_names(entity: Entity) -> tuple[str, ...]:
    assert entity.lines is not None
    return tuple(spec.name for spec in entity.lines.fields) + ("parent_wid",)


def new_buffers(entity: Entity) -> tuple[ColumnBuffer, ColumnBuffer | None]:
    return ColumnBuffer(header_names(entity)), ColumnBuffer(line_names(entity)) if entity.lines else None


class _Plan:
    """What to do with each child tag of one element: fill columns (text, an ID of a type, the
    descriptor), descend into a nested element, or start a line. Alternatives (`sources` after the
    first) fill a column only when no earlier source did."""

    def __init__(self, fields: Iterable[Field], line_tag: str | None = None) -> None:
        self.actions: dict[str, list[tuple[Any, ...]]] = {}
        nested: dict[str, list[tuple[Field, int, int, str]]] = {}
        self.width = 0
        for column, spec in enumerate(fields):
            self.width = column + 1
            if spec.reference:
                continue  # read from the record's reference by RecordPlan
            for priority, source in enumerate(spec.sources):
                outer, _, inner = source.partition("/")
                if inner:
                    nested.setdefault(outer, []).append((spec, column, priority, inner))
                elif spec.descriptor:
                    self._add(outer, ("descriptor", column, priority))
                elif spec.id_type:
                    self._add(outer, ("id", column, priority, spec.id_type))
                else:
                    self._add(outer, ("text", column, priority))
        for outer, entries in nested.items():
            self._add(outer, ("nested", _NestedPlan(entries)))
        self.line_tag = _WD + line_tag if line_tag else None

    def _add(self, local: str, action: tuple[Any, ...]) -> None:
        self.actions.setdefault(_WD + local, []).append(action)

    def fill(self, element: Any, values: list[Any], priorities: list[int], lines: list[Any] | None) -> None:
        actions = self.actions
        line_tag = self.line_tag
        for child in element:
            tag = child.tag
            if tag == line_tag and lines is not None:
                lines.append(child)
                continue
            todo = actions.get(tag)
            if todo is None:
                continue  # Workday adds optional elements within a version: never fail on one
            for action in todo:
                kind = action[0]
                if kind == "nested":
                    action[1].fill(child, values, priorities)
                    continue
                column, priority = action[1], action[2]
                if values[column] is not None and priorities[column] <= priority:
                    continue
                if kind == "text":
                    value = child.text
                    if value is not None:
                        value = value.strip() or None
                elif kind == "id":
                    value = None
                    wanted = action[3]
                    for ident in child:
                        if ident.get(_TYPE) == wanted:
                            value = (ident.text or "").strip() or None
                            break
                else:
                    value = child.get(_DESCRIPTOR)
                if value is not None:
                    values[column] = value
                    priorities[column] = priority


class _NestedPlan:
    def __init__(self, entries: list[tuple[Field, int, int, str]]) -> None:
        self.entries = entries
        self.inner: dict[str, list[tuple[Field, int, int, str]]] = {}
        for entry in entries:
            self.inner.setdefault(_WD + entry[3].partition("/")[0], []).append(entry)

    def fill(self, element: Any, values: list[Any], priorities: list[int]) -> None:
        for child in element:
            for spec, column, priority, path in self.inner.get(child.tag, ()):
                rest = path.partition("/")[2]
                target = child
                for name in rest.split("/") if rest else ():
                    target = next((c for c in target if c.tag == _WD + name), None)
                    if target is None:
                        break
                if target is None or (values[column] is not None and priorities[column] <= priority):
                    continue
                if spec.descriptor:
                    value = target.get(_DESCRIPTOR)
                elif spec.id_type:
                    value = next(((i.text or "").strip() or None for i in target if i.get(_TYPE) == spec.id_type),
                                 None)
                else:
                    value = (target.text or "").strip() or None
                if value is not None:
                    values[column] = value
                    priorities[column] = priority


class RecordPlan:
    """The compiled form of one entity's registry row."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity
        self.record_tag = _WD + entity.record_element
        self.reference_tag = _WD + entity.reference_element
        self.data_tag = _WD + entity.data_element
        self.header = _Plan(entity.fields, entity.lines.element if entity.lines else None)
        self.lines = _Plan(entity.lines.fields) if entity.lines else None
        self.required = [(i, spec) for i, spec in enumerate(entity.fields) if spec.required]
        # Columns read from the record's own *_Reference: (column, ID type).
        self.from_reference: list[tuple[int, str]] = [(i, spec.id_type) for i, spec in enumerate(entity.fields)
                               if spec.reference and spec.id_type is not None]
        self.line_required = [(i, spec) for i, spec in enumerate(entity.lines.fields) if spec.required] \
            if entity.lines else []

    def parse(self, record: Any, rows: ColumnBuffer, lines: ColumnBuffer | None) -> None:
        entity = self.entity
        wid = business_id = None
        data = None
        reference_ids: dict[str, str | None] = {}
        for child in record:
            tag = child.tag
            if tag == self.reference_tag:
                for ident in child:
                    kind = ident.get(_TYPE)
                    if kind == "WID":
                        wid = (ident.text or "").strip()
                    elif kind == entity.id_type:
                        business_id = (ident.text or "").strip()
                    if kind is not None and kind not in reference_ids:  # first ID of each type
                        reference_ids[kind] = (ident.text or "").strip() or None
            elif tag == self.data_tag and data is None:
                data = child
        where = f"{entity.operation} record {business_id or wid or '(no id)'}"
        if not wid:
            raise WorkdayDataError(f"{where}: {entity.reference_element} has no WID")
        if data is None:
            raise WorkdayDataError(f"{where}: no {entity.data_element} element")
        width = self.header.width
        values: list[Any] = [None] * width
        priorities = [0] * width
        line_elements: list[Any] | None = [] if self.lines is not None else None
        self.header.fill(data, values, priorities, line_elements)
        for column, id_type in self.from_reference:
            values[column] = reference_ids.get(id_type)
        for column, spec in self.required:
            if values[column] is None:
                raise WorkdayDataError(f"{where}: required field {spec.name} ({'/'.join(spec.sources)}) is missing")
        values.append(wid)
        rows.append_values(values)
        if self.lines is not None and lines is not None and line_elements:
            line_width = self.lines.width
            for number, line in enumerate(line_elements, start=1):
                line_values: list[Any] = [None] * line_width
                self.lines.fill(line, line_values, [0] * line_width, None)
                for column, spec in self.line_required:
                    if line_values[column] is None:
                        raise WorkdayDataError(f"{where} line {number}: required field {spec.name} is missing")
                line_values.append(wid)
                lines.append_values(line_values)


_PLANS: dict[int, RecordPlan] = {}


def plan_for(entity: Entity) -> RecordPlan:
    plan = _PLANS.get(id(entity))
    if plan is None or plan.entity is not entity:
        plan = _PLANS[id(entity)] = RecordPlan(entity)
    return plan


def parse_page(stream: Any, entity: Entity, rows: ColumnBuffer, lines: ColumnBuffer | None) -> PageResult:
    """Parse one response page from a byte stream into the buffers; returns its paging results."""
    plan = plan_for(entity)
    result = PageResult()
    if not isinstance(stream, GuardedStream):
        stream = GuardedStream(stream, limit=None)
    results_tag = _WD + "Response_Results"
    response_data = _WD + "Response_Data"
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=(plan.record_tag, results_tag),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )
    for _, element in context:
        if element.tag == results_tag:
            for child in element:
                name = child.tag.rpartition("}")[2] if isinstance(child.tag, str) else ""
                text = (child.text or "0").strip() or "0"
                try:
                    number = int(float(text))
                except ValueError:
                    raise WorkdayDataError(f"Response_Results/{name} is {text!r}, expected a number") from None
                if name == "Total_Results":
                    result.total_results = number
                elif name == "Total_Pages":
                    result.total_pages = number
                elif name == "Page":
                    result.page = number
            continue
        parent = element.getparent()
        # A record element nested inside another record's data is not a result of this page.
        if parent is None or parent.tag != response_data:
            continue
        plan.parse(element, rows, lines)
        result.records += 1
        # Drop what has been read so memory follows one record, not the page.
        element.clear()
        while element.getprevious() is not None:
            del parent[0]
    return result
