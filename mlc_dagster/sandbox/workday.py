"""A local Workday Web Services (SOAP 1.1) server over a generated ``Scenario``.

It speaks the wire format the project expects of a real tenant (see
``/work/shared/reference/workday-notes.md`` and the "Decisions" in the reference README):

* ``POST /ccx/service/{tenant}/{Service}/{version}``; any other path, tenant, service or version
  is answered with HTTP 404 (plain text), as a reverse proxy in front of Workday would. A service
  exists when an operation lives in it: Resource_Management, Settlement_Services,
  Financial_Management.
* WS-Security UsernameToken with ``{user}@{tenant}`` and a PasswordText password, or an
  ``Authorization: Bearer <token>`` header for tokens registered with ``add_bearer_token`` or
  unexpired access tokens issued by the sandbox's OAuth2 token endpoint.
* Every request is validated against Workday's schema for the operation (``schema.SchemaModel``,
  the tenant's version profile: ``v28`` by default, ``v46`` adding later elements, unconfirmed): an
  element its types do not declare, one out of order or a malformed value gets the validation
  fault a tenant sends (HTTP 500, ``SOAP-ENV:Client.validationError``, ``wd:Validation_Fault`` with
  the element's ``Xpath``). Prefixes, Nonce, Created and ``wsu:Id`` attributes are free.
* Answers hold only declared elements, in schema order (``records``), tenant-local times.
* Paging with ``Page``/``Count`` (default 1/100, Count at most 999) and ``As_Of_Entry_DateTime``
  (default: now) pinning every record to its state at that moment.
* Faults are HTTP 500 with Workday's envelopes. A request body that is not well-formed XML, or
  not a SOAP envelope with a ``wd:*_Request`` in its body, gets a *validation* fault (HTTP 500)
  rather than HTTP 400, because that is what a SOAP client must be prepared to parse anyway.

Operations are rows of ``OPERATIONS`` (Get_Supplier_Invoices, Get_Suppliers, Get_Purchase_Orders,
Get_Payments, Get_Journals, Get_Account_Sets, Get_Cost_Centers, Get_Payment_Terms): a scenario collection, a renderer
for one record, and which window criteria the operation accepts. Window criteria of a style the
operation does not offer get a validation fault rather than being ignored, so a client asking the
wrong way fails loudly instead of silently loading the whole collection.

It also serves Workday's REST side, just enough for the project:

* ``POST /ccx/oauth2/{tenant}/token``: the refresh-token grant with HTTP Basic client credentials,
  optionally rotating refresh tokens; issued access tokens expire after ``access_token_lifetime``
  and are accepted as ``Authorization: Bearer`` on SOAP too.
* ``GET /ccx/api/v1/{tenant}/organizations?type=Cost_Center&limit=&offset=`` (and ``/{id}``): the
  cost centers as of now, Workday REST paging (``{"total", "data"}``, limit at most 100).

The sandbox is a test fixture: it imports nothing from the rest of ``mlc_dagster`` on purpose, so
that a client passing against it proves it speaks the protocol, not that it agrees with itself.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import copy
import dataclasses
import json
import math
import re
import secrets
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from mlc_dagster.sandbox.records import (
    TENANT_ZONE,
    ReferenceCache,
    Refs,
    RemittanceDocument,
    format_date,
    format_datetime,
    payment_terms,
    render_account_set,
    render_cost_center,
    render_journal,
    render_payment,
    render_payment_term,
    render_purchase_order,
    render_supplier,
    render_supplier_invoice,
)
from mlc_dagster.sandbox.scenario import CostCenterVersion, Scenario, VersionedRecord, select_versions
from mlc_dagster.sandbox.schema import PROFILES, SchemaModel
from mlc_dagster.sandbox.timeline import Timeline

__all__ = [
    "FAULT_KINDS",
    "OPERATIONS",
    "REST_FAULT_KINDS",
    "REST_OPERATIONS",
    "InjectedFault",
    "Operation",
    "RequestRecord",
    "WorkdaySandbox",
]

WD_NS = "urn:com.workday/bsvc"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSS_PROFILE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
PASSWORD_TEXT_TYPE = f"{_WSS_PROFILE}#PasswordText"

MAX_COUNT = 999
DEFAULT_COUNT = 100

FAULT_KINDS = frozenset(
    {
        "authentication",
        "processing",
        "validation",
        "http_500",
        "http_502",
        "http_503",
        "http_504",
        "http_429",
        "slow",
        "drop",
        "malformed",
        "entity_bomb",
    }
)

# "entity_bomb": a 200 whose body is the billion-laughs document (10^9 "lol"s, ~3 GB, if expanded).
_LAUGHS = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
ENTITY_BOMB = (
    f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE env:Envelope [<!ENTITY lol0 "lol">{_LAUGHS}]>\n'
    f'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
    f'<wd:Get_Supplier_Invoices_Response xmlns:wd="urn:com.workday/bsvc"><wd:Response_Data>&lol9;'
    f"</wd:Response_Data></wd:Get_Supplier_Invoices_Response></env:Body></env:Envelope>"
)

# What can go wrong on the REST side: gateway errors, timing, broken bodies, and a token that
# expires between the client's check and the server's (SOAP-only kinds make no sense there).
REST_FAULT_KINDS = frozenset(
    {"http_500", "http_502", "http_503", "http_504", "http_429", "slow", "drop", "malformed", "expired_token"}
)
REST_OPERATIONS = frozenset({"token", "organizations"})  # operation names for inject()

REST_DEFAULT_LIMIT = 20
REST_MAX_LIMIT = 100

_PATH_RE = re.compile(r"^/ccx/service/(?P<tenant>[^/]+)/(?P<service>[^/]+)/(?P<version>[^/]+)/?$")
_TOKEN_PATH_RE = re.compile(r"^/ccx/oauth2/(?P<tenant>[^/]+)/token/?$")
_ORGANIZATIONS_PATH_RE = re.compile(r"^/ccx/api/v1/(?P<tenant>[^/]+)/organizations(?:/(?P<item>[^/]+))?/?$")


def _wd(name: str) -> str:
    return f"{{{WD_NS}}}{name}"


# --------------------------------------------------------------------------- operations


WindowStyle = Literal["transaction_log", "flat"]
_TRANSACTION_LOG: frozenset[WindowStyle] = frozenset({"transaction_log"})
_FLAT: frozenset[WindowStyle] = frozenset({"flat"})


@dataclass(frozen=True)
class Operation:
    """One ``Get_`` operation: where it lives, what it serves and how one record is rendered.

    ``records`` yields the scenario collection in response order (by business ID).
    ``reference_ids`` lists the (ID type, value) pairs a Request_References entry can match.
    ``windows`` are the updated-window criteria styles it answers: ``transaction_log``
    (Transaction_Log_Criteria_Data/Transaction_Date_Range_Data/Updated_From, Updated_Through) and
    ``flat`` (Updated_From_Date/Updated_To_Date directly under Request_Criteria); empty for none.
    Whether a request may carry them at all is the schema's call (the tenant's version profile).
    ``document_date`` plus ``document_date_criteria`` (on-or-after, on-or-before element names)
    give the operation's document-date window, if it has one; the elements are read directly
    under Request_Criteria and, if ``document_date_container`` is set, inside that element.
    ``status_criteria`` maps a repeated status ``*_Reference`` of the criteria to the status ID of a
    record it filters on (invoices by payment or document status).
    """

    name: str  # e.g. Get_Supplier_Invoices
    service: str  # e.g. Resource_Management
    reference_element: str  # e.g. Supplier_Invoice_Reference (in Request_References)
    records: Callable[[Scenario], Iterable[VersionedRecord[Any]]]
    render: Callable[[Refs, Any], str]
    reference_ids: Callable[[Any], Iterable[tuple[str, str]]]
    windows: frozenset[WindowStyle] = frozenset({"transaction_log", "flat"})
    document_date: Callable[[Any], date] | None = None
    document_date_criteria: tuple[str, str] | None = None
    document_date_container: str | None = None
    status_criteria: tuple[tuple[str, Callable[[Any], str]], ...] = ()
    # Other spellings of reference_element in Request_References (v28: JournalEntryReference, ...).
    alternate_reference_elements: tuple[str, ...] = ()


OPERATIONS: tuple[Operation, ...] = (
    Operation(
        name="Get_Supplier_Invoices",
        service="Resource_Management",
        reference_element="Supplier_Invoice_Reference",
        records=lambda scenario: scenario.supplier_invoices.values(),
        render=render_supplier_invoice,
        reference_ids=lambda v: (("WID", v.wid), ("Supplier_Invoice_Reference_ID", v.supplier_invoice_id)),
        windows=_TRANSACTION_LOG,  # v46 profile only (unconfirmed): not in v28's criteria
        document_date=lambda v: v.invoice_date,
        document_date_criteria=("Invoice_Date_On_or_After", "Invoice_Date_On_or_Before"),
        status_criteria=(
            ("Payment_Status_Reference", lambda v: v.payment_status_id),
            ("Invoice_Status_Reference", lambda v: v.document_status_id),
        ),
    ),
    Operation(
        name="Get_Suppliers",
        service="Resource_Management",
        reference_element="Supplier_Reference",
        records=lambda scenario: scenario.suppliers.values(),
        render=render_supplier,
        reference_ids=lambda v: (("WID", v.wid), ("Supplier_ID", v.supplier_id)),
        windows=_FLAT,
    ),
    Operation(
        name="Get_Purchase_Orders",
        service="Resource_Management",
        reference_element="Purchase_Order_Reference",
        records=lambda scenario: scenario.purchase_orders.values(),
        render=render_purchase_order,
        reference_ids=lambda v: (("WID", v.wid), ("Purchase_Order_Reference_ID", v.purchase_order_id)),
        windows=_FLAT,
        document_date=lambda v: v.document_date,
        document_date_criteria=("Purchase_Order_Date_On_or_After", "Purchase_Order_Date_On_or_Before"),
    ),
    Operation(
        name="Get_Payments",
        service="Settlement_Services",
        reference_element="Payment_WWS_Reference",
        records=lambda scenario: scenario.payments.values(),
        render=render_payment,
        reference_ids=lambda v: (("WID", v.wid), ("Payment_Reference_ID", v.payment_id)),
        windows=_TRANSACTION_LOG,  # v46 profile only (unconfirmed)
        document_date=lambda v: v.payment_date,
        # Spelled with "on_Date_Or" exactly like this in Workday's payment criteria.
        document_date_criteria=("Payment_Date_on_Date_Or_After", "Payment_Date_on_Date_Or_Before"),
        document_date_container="General_Payment_Criteria",
        alternate_reference_elements=("Payment_Reference",),
    ),
    Operation(
        name="Get_Journals",
        service="Financial_Management",
        reference_element="JournalEntryReference",
        records=lambda scenario: scenario.journals.values(),
        render=render_journal,
        reference_ids=lambda v: (("WID", v.wid), ("Journal_Entry_Reference_ID", v.journal_entry_id)),
        windows=_FLAT,
        document_date=lambda v: v.accounting_date,
        document_date_criteria=("Accounting_From_Date", "Accounting_To_Date"),
        alternate_reference_elements=("Journal_Entry_Reference",),
    ),
    Operation(
        name="Get_Account_Sets",
        service="Financial_Management",
        reference_element="Account_Set_Reference",
        records=lambda scenario: scenario.account_sets.values(),
        render=render_account_set,
        reference_ids=lambda v: (("WID", v.wid), ("Account_Set_ID", v.account_set_id)),
        windows=frozenset(),
    ),
    Operation(
        name="Get_Cost_Centers",
        service="Financial_Management",
        reference_element="Cost_Center_Reference",
        records=lambda scenario: scenario.cost_centers.values(),
        render=render_cost_center,
        reference_ids=lambda v: (("WID", v.wid), ("Cost_Center_Reference_ID", v.cost_center_id)),
        windows=_FLAT,
    ),
    Operation(
        name="Get_Payment_Terms",
        service="Financial_Management",
        reference_element="Payment_Term_Reference",
        records=payment_terms,
        render=render_payment_term,
        reference_ids=lambda v: (("WID", v.wid), ("Payment_Terms_ID", v.payment_terms_id)),
        windows=frozenset(),
    ),
)


# --------------------------------------------------------------------------- request parsing


class _Fault(Exception):
    """A SOAP fault to send instead of the response."""

    def __init__(self, kind: str, body: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.body = body


def _fault_envelope(inner: str) -> str:
    # Shape of Workday's own faults (tonybaloney/workday fixtures), redundant xmlns included.
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{SOAP_ENV_NS}"><SOAP-ENV:Body>'
        f'<SOAP-ENV:Fault xmlns:SOAP-ENV="{SOAP_ENV_NS}" xmlns:wd="{WD_NS}">{inner}</SOAP-ENV:Fault>'
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


def authentication_fault() -> _Fault:
    return _Fault(
        "authentication",
        _fault_envelope(
            "<faultcode>SOAP-ENV:Client.authenticationError</faultcode>"
            "<faultstring>invalid username or password</faultstring>"
        ),
    )


def processing_fault(detail: str = "The task submitted is not authorized.") -> _Fault:
    return _Fault(
        "processing",
        _fault_envelope(
            "<faultcode>SOAP-ENV:Server.processingError</faultcode>"
            f"<faultstring>Processing error occurred. {escape(detail)}</faultstring>"
            f"<detail><wd:Processing_Fault><wd:Detail_Message>{escape(detail)}</wd:Detail_Message>"
            "</wd:Processing_Fault></detail>"
        ),
    )


def validation_fault(message: str, detail: str | None = None, xpath: str = "") -> _Fault:
    return _Fault(
        "validation",
        _fault_envelope(
            "<faultcode>SOAP-ENV:Client.validationError</faultcode>"
            f"<faultstring>Validation error occurred. {escape(message)}</faultstring>"
            "<detail><wd:Validation_Fault><wd:Validation_Error>"
            f"<wd:Message>{escape(message)}</wd:Message>"
            f"<wd:Detail_Message>{escape(detail or message)}</wd:Detail_Message>"
            f"<wd:Xpath>{escape(xpath)}</wd:Xpath>"
            "</wd:Validation_Error></wd:Validation_Fault></detail>"
        ),
    )


def _parse_datetime(text: str, xpath: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise validation_fault(f"Invalid dateTime value: '{text}'", xpath=xpath) from None
    # A dateTime without offset is read as UTC: the project only ever sends UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _parse_date(text: str, xpath: str) -> date:
    text = text.strip()
    try:
        # xsd:date may carry an offset ("2026-11-29Z", "2026-11-29-08:00"); the day is what counts.
        return date.fromisoformat(text[:10])
    except ValueError:
        raise validation_fault(f"Invalid date value: '{text}'", xpath=xpath) from None


def _parse_bool(text: str, xpath: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true"):
        return True
    if value in ("0", "false"):
        return False
    raise validation_fault(f"Invalid boolean value: '{text}'", xpath=xpath)


def _parse_whole_number(text: str, xpath: str, name: str) -> int:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise validation_fault(f"Invalid value for {name}: '{text}'", xpath=xpath) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise validation_fault(f"Invalid value for {name}: '{text}'", xpath=xpath)
    return int(number)


@dataclass(frozen=True)
class _Query:
    """What a Get_ request asked for, parsed and validated."""

    updated_from: datetime | None = None
    updated_through: datetime | None = None
    window_style: Literal["transaction_log", "flat"] | None = None
    document_date_from: date | None = None
    document_date_to: date | None = None
    # (criteria element, the status IDs it asks for): each must match (e.g. unpaid or partly paid).
    statuses: tuple[tuple[str, frozenset[str]], ...] = ()
    references: tuple[tuple[str, str], ...] | None = None
    skip_non_existing: bool = False
    as_of: datetime = datetime.min.replace(tzinfo=UTC)  # always set by _parse_query
    as_of_effective_date: date | None = None
    page: int = 1
    count: int = DEFAULT_COUNT
    # The response-group flags that are true. Include_Reference is true unless sent false; a flag
    # that gates data (Include_Payment_Group_Data, Include_Cost_Center_Data, ...) only when sent true.
    flags: frozenset[str] = frozenset({"Include_Reference"})
    group_xml: str = ""  # the request's Response_Group, echoed as sent
    echo_xml: str = ""  # the request's Request_Criteria or Request_References, echoed as sent


def _text(element: Any, name: str) -> str | None:
    child = element.find(_wd(name))
    if child is None or child.text is None or not child.text.strip():
        return None
    return str(child.text)


def _lenient_page(request: Any) -> int | None:
    """The requested page for fault matching, before (and regardless of) validation."""
    response_filter = request.find(_wd("Response_Filter"))
    text = None if response_filter is None else _text(response_filter, "Page")
    if text is None:
        return 1
    try:
        return int(Decimal(text.strip()))
    except (InvalidOperation, ValueError):
        return None


def _parse_query(operation: Operation, request: Any) -> _Query:
    root_xpath = f"/wd:{operation.name}_Request[1]"
    values: dict[str, Any] = {}

    criteria = request.find(_wd("Request_Criteria"))
    if criteria is not None:
        xpath = f"{root_xpath}/wd:Request_Criteria[1]"
        log = criteria.find(_wd("Transaction_Log_Criteria_Data"))
        date_range = None if log is None else log.find(_wd("Transaction_Date_Range_Data"))
        if log is not None and "transaction_log" not in operation.windows:
            raise _unsupported_criteria(operation, etree.QName(log).localname, xpath)
        if date_range is not None:
            range_xpath = f"{xpath}/wd:Transaction_Log_Criteria_Data[1]/wd:Transaction_Date_Range_Data[1]"
            values["window_style"] = "transaction_log"
            for name, key in (("Updated_From", "updated_from"), ("Updated_Through", "updated_through")):
                text = _text(date_range, name)
                if text is not None:
                    values[key] = _parse_datetime(text, f"{range_xpath}/wd:{name}[1]")
            # Effective_From/Effective_Through are accepted and ignored: nothing in the scenario
            # is effective-dated differently from when it was entered.
        for name, key in (("Updated_From_Date", "updated_from"), ("Updated_To_Date", "updated_through")):
            text = _text(criteria, name)
            if text is not None:
                if "flat" not in operation.windows:
                    raise _unsupported_criteria(operation, name, xpath)
                values["window_style"] = values.get("window_style", "flat")
                values[key] = _parse_datetime(text, f"{xpath}/wd:{name}[1]")
        if operation.document_date_criteria is not None:
            container = operation.document_date_container
            if container is None:
                holders = [(criteria, xpath)]
            else:
                inner = criteria.find(_wd(container))
                holders = [] if inner is None else [(inner, f"{xpath}/wd:{container}[1]")]
            for holder, holder_xpath in holders:
                for name, key in zip(
                    operation.document_date_criteria, ("document_date_from", "document_date_to"), strict=True
                ):
                    text = _text(holder, name)
                    if text is not None:
                        values[key] = _parse_date(text, f"{holder_xpath}/wd:{name}[1]")
        statuses = []
        for name, _status in operation.status_criteria:
            wanted = frozenset((i.text or "").strip()
                               for r in criteria.iterfind(_wd(name)) for i in r.iterfind(_wd("ID")))
            if wanted:
                statuses.append((name, wanted))
        values["statuses"] = tuple(statuses)
        start, end = values.get("updated_from"), values.get("updated_through")
        if start is not None and end is not None and start > end:
            raise validation_fault("Updated From must be on or before Updated Through", xpath=f"{xpath}")

    references = request.find(_wd("Request_References"))
    if references is not None:
        skip = references.get(_wd("Skip_Non_Existing_Instances"))
        values["skip_non_existing"] = skip is not None and _parse_bool(skip, root_xpath)
        ids: list[tuple[str, str]] = []
        element_names = {_wd(operation.reference_element), *map(_wd, operation.alternate_reference_elements)}
        for reference in (child for child in references if child.tag in element_names):
            for id_element in reference.iterfind(_wd("ID")):
                id_type = id_element.get(_wd("type"))
                if id_type is None or id_element.text is None:
                    continue
                ids.append((id_type, id_element.text.strip()))
        values["references"] = tuple(ids)

    response_filter = request.find(_wd("Response_Filter"))
    if response_filter is not None:
        xpath = f"{root_xpath}/wd:Response_Filter[1]"
        text = _text(response_filter, "As_Of_Entry_DateTime")
        if text is not None:
            values["as_of"] = _parse_datetime(text, f"{xpath}/wd:As_Of_Entry_DateTime[1]")
        text = _text(response_filter, "As_Of_Effective_Date")
        if text is not None:
            values["as_of_effective_date"] = _parse_date(text, f"{xpath}/wd:As_Of_Effective_Date[1]")
        text = _text(response_filter, "Page")
        if text is not None:
            page = _parse_whole_number(text, f"{xpath}/wd:Page[1]", "Page")
            if page == 0:
                raise validation_fault("Page number cannot be zero", xpath=f"{xpath}/wd:Page[1]")
            if page < 0:
                raise validation_fault("Page number cannot be negative", xpath=f"{xpath}/wd:Page[1]")
            values["page"] = page
        text = _text(response_filter, "Count")
        if text is not None:
            count = _parse_whole_number(text, f"{xpath}/wd:Count[1]", "Count")
            if count > MAX_COUNT:
                raise validation_fault(
                    f"Count cannot be greater than {MAX_COUNT}", xpath=f"{xpath}/wd:Count[1]"
                )
            if count < 1:
                raise validation_fault("Count must be at least 1", xpath=f"{xpath}/wd:Count[1]")
            values["count"] = count

    response_group = request.find(_wd("Response_Group"))
    if response_group is not None:
        flags = set(_Query.flags)
        for flag in response_group:
            name = etree.QName(flag).localname
            value = _parse_bool(flag.text or "", f"{root_xpath}/wd:Response_Group[1]/wd:{name}[1]")
            (flags.add if value else flags.discard)(name)
        values["flags"] = frozenset(flags)
        values["group_xml"] = _echo(response_group)
    echoed = request.find(_wd("Request_References"))
    if echoed is None:
        echoed = request.find(_wd("Request_Criteria"))
    if echoed is not None:
        values["echo_xml"] = _echo(echoed)

    if "as_of" not in values:
        # "now", truncated to what the echo shows, so a client re-sending the echoed as-of on
        # the next page pins exactly the same snapshot.
        now = datetime.now(UTC)
        values["as_of"] = now.replace(microsecond=now.microsecond // 1000 * 1000)
    return _Query(**values)


def _unsupported_criteria(operation: Operation, element: str, xpath: str) -> _Fault:
    # The XSD would reject an element the criteria type does not declare. Message UNCONFIRMED.
    return validation_fault(
        f"Element {element} is not valid in the Request_Criteria of {operation.name}",
        xpath=f"{xpath}/wd:{element}[1]",
    )


def _echo(element: Any) -> str:
    """A request element as the response echoes it: as sent (it was validated against the same type),
    less the request-only attributes the response's type does not declare (the request's
    Request_References carries Skip_Non_Existing_Instances; the response's is a bare list)."""
    if element.get(_wd("Skip_Non_Existing_Instances")) is not None:
        element = copy.copy(element)
        del element.attrib[_wd("Skip_Non_Existing_Instances")]
    return str(etree.tostring(element, encoding=str, with_tail=False))


def _select(operation: Operation, scenario: Scenario, query: _Query) -> list[Any]:
    records = operation.records(scenario)
    if query.references is not None:
        wanted = set(query.references)
        found = [
            v
            for v in select_versions(records, query.as_of)
            if any(pair in wanted for pair in operation.reference_ids(v))
        ]
        if not query.skip_non_existing:
            known = {pair for v in found for pair in operation.reference_ids(v)}
            for id_type, value in query.references:
                if (id_type, value) not in known:
                    raise validation_fault(
                        f"Invalid ID value. '{value}' is not a valid ID value for type = '{id_type}'",
                        xpath=f"/wd:{operation.name}_Request[1]/wd:Request_References[1]",
                    )
        return found

    predicate: Callable[[Any], bool] | None = None
    document_date = operation.document_date
    low, high = query.document_date_from, query.document_date_to
    getters = dict(operation.status_criteria)
    statuses = [(getters[name], wanted) for name, wanted in query.statuses]
    if (document_date is not None and (low is not None or high is not None)) or statuses:

        def predicate(v: Any) -> bool:
            if document_date is not None:
                d = document_date(v)
                if (low is not None and d < low) or (high is not None and d > high):
                    return False
            return all(status(v) in wanted for status, wanted in statuses)

    return select_versions(
        records,
        query.as_of,
        updated_from=query.updated_from,
        updated_through=query.updated_through,
        predicate=predicate,
    )


# --------------------------------------------------------------------------- fault injection


@dataclass
class InjectedFault:
    operation: str  # operation name, or "*" for any
    kind: str
    page: int | None  # None: any page
    remaining: int
    retry_after: int
    delay: float

    def matches(self, operation: str, page: int | None) -> bool:
        return (
            self.remaining > 0
            and self.operation in ("*", operation)
            and (self.page is None or self.page == page)
        )


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox saw it; tests use these to check client behaviour.

    REST requests have ``service`` "REST", ``operation`` "token" or "organizations", and
    ``count`` the page limit asked for.
    """

    operation: str | None
    service: str | None
    page: int | None
    count: int | None
    as_of: datetime | None
    status: int
    outcome: str  # "ok", or the fault kind served ("authentication", "http_503", "slow", ...)
    authenticated_with: str | None  # "password", "bearer", "client" (token endpoint) or None


_HTML_STATUS = {
    500: "Internal Server Error",
    401: "Unauthorized",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    429: "Too Many Requests",
}


# --------------------------------------------------------------------------- the server


class WorkdaySandbox:
    """A Workday SOAP endpoint on a real socket, serving one ``Scenario`` or a ``Timeline`` of days.

    With a ``Timeline``, a request's updated window is answered by the day(s) it covers
    (``Timeline.covering``: an hourly or daily partition is one day; a longer window gets each
    covered day's answer, one after the other, each in ID order, reference records once); a window
    outside the timeline gets a valid empty answer. A request without an updated window (by
    reference, by document date only, or everything as of a moment) is answered from every day,
    as of its ``As_Of_Entry_DateTime``. ``scenario`` is then the first day (its reference data is
    every day's).

    Usage::

        with WorkdaySandbox(Scenario.generate(scale=0.1)) as wd:
            client = SomeClient(wd.soap_url, wd.username, wd.tenant, wd.password)
            rest = SomeRestClient(wd.token_url, wd.rest_url, wd.client_id, wd.client_secret,
                                  wd.refresh_token)

    The OAuth2 side holds one registered API client and one refresh token; ``rotate_refresh_tokens``
    makes each refresh return a new refresh token and invalidate the old one.
    """

    def __init__(
        self,
        scenario: Scenario | Timeline,
        tenant: str = "acme_fin",
        username: str = "isu_mlc",
        password: str = "sandbox-Passw0rd!",  # noqa: S107 - the sandbox's documented test credential
        host: str = "127.0.0.1",
        port: int = 0,
        api_version: str = "v46.1",
        operations: Sequence[Operation] = OPERATIONS,
        client_id: str = "mlc-sandbox-client",
        client_secret: str = "sandbox-client-secret",  # noqa: S107 - documented test credential
        refresh_token: str = "sandbox-refresh-token",  # noqa: S107 - documented test credential
        access_token_lifetime: float = 3600.0,
        rotate_refresh_tokens: bool = False,
        profile: str = "v28",
        remittance_document: RemittanceDocument = "reference",
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown tenant version profile {profile!r}; known: {', '.join(PROFILES)}")
        self.timeline = scenario if isinstance(scenario, Timeline) else None
        self.scenario = scenario.days[0] if isinstance(scenario, Timeline) else scenario
        self.tenant = tenant
        self.username = username
        self.api_version = api_version
        self._password = password
        self._host = host
        self._requested_port = port
        self._operations = {(op.service, op.name): op for op in operations}
        self._services = {op.service for op in operations}
        # The schema the tenant validates requests against: v28 (what the public schema declares) or
        # v46 (plus elements known only from later versions' evidence, unconfirmed).
        self.profile = profile
        self.schema = SchemaModel.load(profile)
        self._results_first = {op.name: self._response_results_first(op) for op in operations}
        self.remittance_document: RemittanceDocument = remittance_document
        self._references = ReferenceCache(self.scenario, remittance_document)
        # One cache per day of a timeline: purchase orders and settlement runs are the day's own.
        self._day_references = {id(self.scenario): self._references}
        self._lock = threading.Lock()
        self._faults: list[InjectedFault] = []
        self._bearer_tokens: set[str] = set()
        self._requests_by_operation: Counter[str] = Counter()
        self._faults_served: Counter[str] = Counter()
        self._log: deque[RequestRecord] = deque(maxlen=10_000)
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._refresh_token_valid = True
        self.access_token_lifetime = access_token_lifetime
        self.rotate_refresh_tokens = rotate_refresh_tokens
        self._access_tokens: dict[str, float] = {}  # token -> time.monotonic() it expires at
        self._token_requests = 0
        self._rest_requests: Counter[str] = Counter()
        self._server: _SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> WorkdaySandbox:
        if self._server is not None:
            return self
        server = _SandboxHTTPServer((self._host, self._requested_port), _Handler)
        server.sandbox = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="workday-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_open_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> WorkdaySandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses and credentials

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def soap_url(self) -> str:
        """Service root; the client appends ``/{Service}/{version}``."""
        return f"{self.base_url}/ccx/service/{self.tenant}"

    def service_url(self, service: str) -> str:
        return f"{self.soap_url}/{service}/{self.api_version}"

    @property
    def password(self) -> str:
        with self._lock:
            return self._password

    def set_password(self, new_password: str) -> None:
        """Simulate the ISU's password being changed: the old one stops working at once."""
        with self._lock:
            self._password = new_password

    def add_bearer_token(self, token: str) -> None:
        with self._lock:
            self._bearer_tokens.add(token)

    def revoke_bearer_token(self, token: str) -> None:
        with self._lock:
            self._bearer_tokens.discard(token)

    # -- REST and OAuth2

    @property
    def rest_url(self) -> str:
        """REST root; resources are ``{rest_url}/v1/{tenant}/...``."""
        return f"{self.base_url}/ccx/api"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/ccx/oauth2/{self.tenant}/token"

    @property
    def client_id(self) -> str:
        return self._client_id

    @property
    def client_secret(self) -> str:
        return self._client_secret

    @property
    def refresh_token(self) -> str:
        """The latest refresh token issued: valid unless ``revoke_refresh_token`` was called."""
        with self._lock:
            return self._refresh_token

    @property
    def refresh_token_valid(self) -> bool:
        with self._lock:
            return self._refresh_token_valid

    def settings(self, rest: bool = True) -> dict[str, str]:
        """The environment variables (CONTRACT names) that point mlc-dagster at this sandbox; `rest`
        adds the OAuth2/REST ones."""
        found = {"WORKDAY_SOAP_URL": self.soap_url, "WORKDAY_TENANT": self.tenant,
                 "WORKDAY_USERNAME": self.username, "WORKDAY_PASSWORD": self.password}
        if rest:
            found |= {"WORKDAY_REST_URL": self.rest_url, "WORKDAY_TOKEN_URL": self.token_url,
                      "WORKDAY_CLIENT_ID": self.client_id, "WORKDAY_CLIENT_SECRET": self.client_secret,
                      "WORKDAY_REFRESH_TOKEN": self.refresh_token}
        return found

    def revoke_refresh_token(self) -> None:
        """As if an administrator revoked it: the next refresh gets ``invalid_grant``."""
        with self._lock:
            self._refresh_token_valid = False

    def issue_refresh_token(self, token: str | None = None) -> str:
        """As if an administrator generated a new one ("Manage Refresh Tokens for Integrations")."""
        with self._lock:
            self._refresh_token = token or secrets.token_urlsafe(32)
            self._refresh_token_valid = True
            return self._refresh_token

    def expire_access_tokens(self) -> None:
        """Every access token issued so far is expired from now on (on REST and SOAP)."""
        now = time.monotonic()
        with self._lock:
            for token in self._access_tokens:
                self._access_tokens[token] = min(self._access_tokens[token], now)

    @property
    def token_requests(self) -> int:
        """Requests to the token endpoint, whatever their outcome."""
        with self._lock:
            return self._token_requests

    @property
    def rest_requests(self) -> Counter[str]:
        """REST requests (token endpoint included) per URL path, whatever their outcome; a copy."""
        with self._lock:
            return Counter(self._rest_requests)

    def _token_state(self, token: str) -> Literal["valid", "expired", "unknown"]:
        with self._lock:
            if token in self._bearer_tokens:
                return "valid"  # registered by hand: never expires
            expires_at = self._access_tokens.get(token)
        if expires_at is None:
            return "unknown"
        return "valid" if time.monotonic() < expires_at else "expired"

    # -- fault injection

    def inject(
        self,
        operation: str,
        kind: str,
        *,
        page: int | None = None,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> InjectedFault:
        """Serve ``kind`` instead of (or, for "slow", before) the next ``times`` matching answers.

        ``operation`` is an operation name such as ``Get_Supplier_Invoices``, a REST operation
        (``"token"``, ``"organizations"``) or ``"*"``; ``page`` None matches any page (REST
        requests have no page). Injected faults are consumed in the order they were added.
        Credentials are still checked first: a wrong password, client secret or access token gets
        the real error. REST takes the kinds in ``REST_FAULT_KINDS``; ``"expired_token"`` answers
        with the expired-access-token 401 although the token is valid.
        """
        known = FAULT_KINDS | REST_FAULT_KINDS
        if kind not in known:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(known)}")
        if operation in REST_OPERATIONS and kind not in REST_FAULT_KINDS:
            raise ValueError(f"{kind!r} cannot be injected on REST; expected one of {sorted(REST_FAULT_KINDS)}")
        if operation not in REST_OPERATIONS and operation != "*" and kind not in FAULT_KINDS:
            raise ValueError(f"{kind!r} is a REST fault; inject it on 'token' or 'organizations'")
        if times < 1:
            raise ValueError("times must be at least 1")
        fault = InjectedFault(operation, kind, page, times, retry_after, delay)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[InjectedFault]:
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    def _take_fault(self, operation: str, page: int | None, kinds: frozenset[str]) -> InjectedFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.kind in kinds and fault.matches(operation, page):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- counters

    @property
    def requests_by_operation(self) -> Counter[str]:
        """Requests received per operation name (faulted ones included; REST ones as "token" and
        "organizations"); a copy."""
        with self._lock:
            return Counter(self._requests_by_operation)

    @property
    def faults_served(self) -> Counter[str]:
        """Non-normal answers per kind, injected or real (e.g. a wrong password); a copy."""
        with self._lock:
            return Counter(self._faults_served)

    @property
    def request_log(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._log)

    def reset_counters(self) -> None:
        with self._lock:
            self._requests_by_operation.clear()
            self._faults_served.clear()
            self._log.clear()
            self._token_requests = 0
            self._rest_requests.clear()

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            if record.operation is not None:
                self._requests_by_operation[record.operation] += 1
            if record.outcome != "ok":
                self._faults_served[record.outcome] += 1
            self._log.append(record)

    # -- request handling (called from handler threads)

    def _authenticate(self, envelope: Any, authorization: str | None) -> str:
        with self._lock:
            password = self._password
        if authorization is not None and authorization.lower().startswith("bearer "):
            # Registered tokens and unexpired access tokens from the token endpoint both count.
            if self._token_state(authorization[7:].strip()) == "valid":
                return "bearer"
            raise authentication_fault()
        token = envelope.find(f"{{{SOAP_ENV_NS}}}Header/{{{WSSE_NS}}}Security/{{{WSSE_NS}}}UsernameToken")
        if token is None:
            raise authentication_fault()
        username = token.findtext(f"{{{WSSE_NS}}}Username")
        password_element = token.find(f"{{{WSSE_NS}}}Password")
        if username is None or password_element is None:
            raise authentication_fault()
        password_type = password_element.get("Type", PASSWORD_TEXT_TYPE)
        if (
            username.strip() != f"{self.username}@{self.tenant}"
            or password_type != PASSWORD_TEXT_TYPE  # digests are not supported by Workday either
            or (password_element.text or "") != password
        ):
            raise authentication_fault()
        return "password"

    def handle_soap(
        self, tenant: str, service: str, version: str, body: bytes, authorization: str | None
    ) -> _Answer:
        """Turn one SOAP POST into an answer (status, body, headers, delivery style)."""
        if tenant != self.tenant or service not in self._services or version != self.api_version:
            return _Answer.plain(404, f"No such service: {tenant}/{service}/{version}", outcome="not_found")

        operation_name: str | None = None
        page: int | None = None
        query: _Query | None = None
        auth: str | None = None
        try:
            envelope = _parse_envelope(body)
            request = _request_element(envelope)
            local = etree.QName(request).localname
            operation_name = local[: -len("_Request")]
            page = _lenient_page(request)
            auth = self._authenticate(envelope, authorization)
            operation = self._operations.get((service, operation_name))
            if operation is None:
                raise validation_fault(
                    f"Operation {operation_name} is not available in {service} {version}",
                    xpath=f"/wd:{local}[1]",
                )
            # A tenant refuses what its schema does not declare before it looks at the data.
            for violation in self.schema.validate(service, operation_name, request, direction="request")[:1]:
                raise validation_fault(violation.message, violation.detail, violation.xpath)
            injected = self._take_fault(operation_name, page, FAULT_KINDS)
            if injected is not None and injected.kind == "slow":
                time.sleep(injected.delay)
            elif injected is not None:
                answer = self._injected_answer(injected, operation, request)
                return answer.logged(operation_name, service, page, None, None, auth)
            query = _parse_query(operation, request)
            answer = _Answer.xml(200, self._respond(operation, query), outcome="ok")
            if injected is not None:
                answer = answer.with_outcome("slow")
        except _Fault as fault:
            answer = _Answer.xml(500, fault.body, outcome=fault.kind)
        return answer.logged(
            operation_name,
            service,
            page if query is None else query.page,
            None if query is None else query.count,
            None if query is None else query.as_of,
            auth,
        )

    def _injected_answer(self, injected: InjectedFault, operation: Operation, request: Any) -> _Answer:
        kind = injected.kind
        if kind == "authentication":
            return _Answer.xml(500, authentication_fault().body, outcome=kind)
        if kind == "processing":
            return _Answer.xml(500, processing_fault().body, outcome=kind)
        if kind == "validation":
            return _Answer.xml(
                500,
                validation_fault(
                    "Injected validation error",
                    "The sandbox was told to reject this request.",
                    f"/wd:{operation.name}_Request[1]",
                ).body,
                outcome=kind,
            )
        if kind.startswith("http_"):
            status = int(kind[5:])
            headers = {"Retry-After": str(injected.retry_after)} if status == 429 else {}
            return _Answer.html(status, headers, outcome=kind)
        if kind == "entity_bomb":
            return _Answer.xml(200, ENTITY_BOMB, outcome=kind)
        # "drop" and "malformed" need a real response to break.
        try:
            body = self._respond(operation, _parse_query(operation, request))
        except _Fault as fault:
            body = fault.body
        encoded = body.encode("utf-8")
        if kind == "drop":
            return _Answer(200, "text/xml; charset=utf-8", encoded, outcome=kind, drop=True)
        # "malformed": a well-announced 200 whose XML stops in the middle of an element.
        return _Answer(200, "text/xml; charset=utf-8", encoded[: max(1, len(encoded) // 2)], outcome=kind)

    def _selection(self, operation: Operation, query: _Query) -> list[tuple[ReferenceCache, list[Any]]]:
        """What the request selects, in response order, with the reference cache to render it by."""
        if self.timeline is None:
            return [(self._references, _select(operation, self.scenario, query))]
        if query.updated_from is None and query.updated_through is None:
            days = self.timeline.days
        else:
            days = self.timeline.covering(query.updated_from, query.updated_through)
        if len(days) == 1:
            return [(self._day_cache(days[0]), _select(operation, days[0], query))]
        chunks: list[tuple[ReferenceCache, list[Any]]] = []
        seen: set[str] = set()  # reference collections are shared by every day: each record once
        # A reference may name a record of any day: unknown IDs are judged on the union below.
        per_day = query if query.references is None else dataclasses.replace(query, skip_non_existing=True)
        for scenario in days:
            rows = [v for v in _select(operation, scenario, per_day) if v.wid not in seen]
            seen.update(v.wid for v in rows)
            chunks.append((self._day_cache(scenario), rows))
        if query.references is not None and not query.skip_non_existing:
            known = {pair for _cache, rows in chunks for v in rows for pair in operation.reference_ids(v)}
            for id_type, value in query.references:
                if (id_type, value) not in known:
                    raise validation_fault(
                        f"Invalid ID value. '{value}' is not a valid ID value for type = '{id_type}'",
                        xpath=f"/wd:{operation.name}_Request[1]/wd:Request_References[1]",
                    )
        return chunks

    def _day_cache(self, scenario: Scenario) -> ReferenceCache:
        cache = self._day_references.get(id(scenario))
        if cache is None:
            cache = self._day_references.setdefault(id(scenario), ReferenceCache(scenario, self.remittance_document))
        return cache

    def _response_results_first(self, operation: Operation) -> bool:
        """Whether the operation's response type declares Response_Results before Response_Group."""
        service, _request, response = self.schema.operation(operation.name)
        names = [child.name for child in self.schema.children(service, response)]
        return names.index("Response_Results") < names.index("Response_Group")

    def _respond(self, operation: Operation, query: _Query) -> str:
        chunks = self._selection(operation, query)
        total = sum(len(rows) for _cache, rows in chunks)
        total_pages = math.ceil(total / query.count)
        low, high = (query.page - 1) * query.count, query.page * query.count
        page_chunks: list[tuple[ReferenceCache, list[Any]]] = []
        offset = 0
        for cache, rows in chunks:
            if low - offset < len(rows) and high - offset > 0:
                page_chunks.append((cache, rows[max(0, low - offset) : high - offset]))
            offset += len(rows)
        page_rows = [row for _cache, rows in page_chunks for row in rows]
        effective_date = query.as_of_effective_date or query.as_of.astimezone(TENANT_ZONE).date()
        parts = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f'<env:Envelope xmlns:env="{SOAP_ENV_NS}"><env:Body>',
            f'<wd:{operation.name}_Response xmlns:wd="{WD_NS}" wd:version={quoteattr(self.api_version)}>',
            query.echo_xml,
            "<wd:Response_Filter>"
            f"<wd:As_Of_Effective_Date>{format_date(effective_date)}</wd:As_Of_Effective_Date>"
            f"<wd:As_Of_Entry_DateTime>{format_datetime(query.as_of)}</wd:As_Of_Entry_DateTime>"
            f"<wd:Page>{query.page}</wd:Page><wd:Count>{query.count}</wd:Count>"
            "</wd:Response_Filter>",
        ]
        results = ("<wd:Response_Results>"
                   f"<wd:Total_Results>{total}</wd:Total_Results><wd:Total_Pages>{total_pages}</wd:Total_Pages>"
                   f"<wd:Page_Results>{len(page_rows)}</wd:Page_Results><wd:Page>{query.page}</wd:Page>"
                   "</wd:Response_Results>")
        # Schema order: Response_Group then Response_Results, except Get_Journals_Response (v28), the other way round.
        parts += [results, query.group_xml] if self._results_first[operation.name] else [query.group_xml, results]
        # Workday omits Response_Data entirely when there is nothing on the page.
        if page_rows:
            parts.append("<wd:Response_Data>")
            render = operation.render
            for cache, rows in page_chunks:
                refs = cache.at(query.as_of, query.flags)
                parts.extend(render(refs, row) for row in rows)
            parts.append("</wd:Response_Data>")
        parts.append(f"</wd:{operation.name}_Response></env:Body></env:Envelope>")
        return "".join(parts)


    # -- REST (called from handler threads)

    def _rest_seen(self, path: str, token_request: bool = False) -> None:
        with self._lock:
            self._rest_requests[path] += 1
            if token_request:
                self._token_requests += 1

    def handle_token(self, tenant: str, path: str, body: bytes, authorization: str | None) -> _Answer:
        """The OAuth2 token endpoint: refresh-token grant, client authenticated by HTTP Basic."""
        self._rest_seen(path, token_request=True)
        if tenant != self.tenant:
            return _Answer.json(404, {"error": "Resource not found"}, outcome="not_found").rest("token", None, None)
        if not self._client_authenticated(authorization):
            # RFC 6749 5.2: a client that tried HTTP Basic gets a 401 and a Basic challenge.
            answer = _Answer.json(
                401, {"error": "invalid_client"}, outcome="invalid_client", headers={"WWW-Authenticate": "Basic"}
            )
            return answer.rest("token", None, None)
        injected = self._take_fault("token", None, REST_FAULT_KINDS)
        if injected is not None and injected.kind == "slow":
            time.sleep(injected.delay)
        answer = self._grant(body)
        if injected is not None:
            answer = _injected_rest_answer(injected, answer)
        return answer.rest("token", None, "client")

    def _client_authenticated(self, authorization: str | None) -> bool:
        if authorization is None or not authorization.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, sep, client_secret = decoded.partition(":")
        return bool(sep) and client_id == self._client_id and client_secret == self._client_secret

    def _grant(self, body: bytes) -> _Answer:
        form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
        grant_type = form.get("grant_type")
        if grant_type is None:
            return _Answer.json(
                400, {"error": "invalid_request", "error_description": "Missing grant_type"}, outcome="bad_request"
            )
        if grant_type != "refresh_token":
            return _Answer.json(400, {"error": "unsupported_grant_type"}, outcome="unsupported_grant_type")
        presented = form.get("refresh_token")
        if presented is None:
            return _Answer.json(
                400, {"error": "invalid_request", "error_description": "Missing refresh_token"}, outcome="bad_request"
            )
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            if not self._refresh_token_valid or not secrets.compare_digest(presented, self._refresh_token):
                return _Answer.json(
                    400,
                    {"error": "invalid_grant", "error_description": "Invalid refresh token"},
                    outcome="invalid_grant",
                )
            lifetime = self.access_token_lifetime
            self._access_tokens[access_token] = time.monotonic() + lifetime
            # expires_in is whole seconds (RFC 6749); a sub-second test lifetime rounds up.
            payload: dict[str, Any] = {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": math.ceil(lifetime),
            }
            if self.rotate_refresh_tokens:
                self._refresh_token = secrets.token_urlsafe(32)
                payload["refresh_token"] = self._refresh_token
        # Token responses must not be cached (RFC 6749 5.1).
        return _Answer.json(200, payload, outcome="ok", headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def handle_organizations(
        self, tenant: str, path: str, item: str | None, query: str, authorization: str | None
    ) -> _Answer:
        """``GET /ccx/api/v1/{tenant}/organizations[/{id}]``: cost centers as of now."""
        self._rest_seen(path)
        params = parse_qs(query, keep_blank_values=True)
        raw_limit = params.get("limit", [None])[0]
        if tenant != self.tenant:
            return _Answer.json(404, {"error": "Resource not found"}, outcome="not_found").rest(
                "organizations", None, None
            )
        token = authorization[7:].strip() if authorization and authorization.lower().startswith("bearer ") else ""
        state = self._token_state(token) if token else "unknown"
        if state == "unknown":
            return _Answer.json(401, {"error": "Invalid resource or operation"}, outcome="unauthorized").rest(
                "organizations", None, None
            )
        if state == "expired":
            return _expired_token_answer().rest("organizations", None, None)
        injected = self._take_fault("organizations", None, REST_FAULT_KINDS)
        if injected is not None and injected.kind == "slow":
            time.sleep(injected.delay)
        answer, limit = self._organizations(tenant, item, params, raw_limit)
        if injected is not None:
            answer = _injected_rest_answer(injected, answer)
        return answer.rest("organizations", limit, "bearer")

    def _organizations(
        self, tenant: str, item: str | None, params: dict[str, list[str]], raw_limit: str | None
    ) -> tuple[_Answer, int | None]:
        org_type = params.get("type", ["Cost_Center"])[0]
        errors: list[str] = []
        if org_type != "Cost_Center":
            errors.append("type must be Cost_Center")  # the only organization type modelled
        limit = _rest_int(raw_limit, REST_DEFAULT_LIMIT)
        if limit is None or not 1 <= limit <= REST_MAX_LIMIT:
            errors.append(f"limit must be between 1 and {REST_MAX_LIMIT}")
        offset = _rest_int(params.get("offset", [None])[0], 0)
        if offset is None or offset < 0:
            errors.append("offset must be 0 or greater")
        if errors:
            payload = {"error": "Invalid request", "errors": [{"error": e} for e in errors]}
            return _Answer.json(400, payload, outcome="bad_request"), limit
        assert limit is not None and offset is not None  # for mypy: validated just above
        cost_centers = select_versions(self.scenario.cost_centers.values(), datetime.now(UTC))
        base = f"{self.base_url}/ccx/api/v1/{tenant}/organizations"
        items = [_organization_item(v, base) for v in cost_centers]
        if item is not None:
            found = next((i for i in items if i["id"] == item), None)
            if found is None:
                return _Answer.json(404, {"error": "Resource not found"}, outcome="not_found"), None
            return _Answer.json(200, found, outcome="ok"), None
        return _Answer.json(200, {"total": len(items), "data": items[offset : offset + limit]}, outcome="ok"), limit


def _rest_int(text: str | None, default: int) -> int | None:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        return None


def _organization_item(v: CostCenterVersion, base: str) -> dict[str, Any]:
    # Workday REST's documented instance shape, and nothing more: {id, descriptor, href}.
    return {"id": v.wid, "descriptor": v.name, "href": f"{base}/{v.wid}"}


def _expired_token_answer() -> _Answer:
    # UNCONFIRMED wording ("Invalid access token"); the challenge header is RFC 6750's.
    return _Answer.json(
        401,
        {"error": "Invalid access token"},
        outcome="expired_token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _injected_rest_answer(injected: InjectedFault, real: _Answer) -> _Answer:
    """What an injected REST fault turns a real answer into ("slow" only delays it)."""
    kind = injected.kind
    if kind == "slow":
        return real.with_outcome("slow")
    if kind == "expired_token":
        return _expired_token_answer()
    if kind.startswith("http_"):
        status = int(kind[5:])
        headers = {"Retry-After": str(injected.retry_after)} if status == 429 else {}
        return _Answer.html(status, headers, outcome=kind)
    if kind == "drop":
        return _Answer(200, real.content_type, real.body, outcome=kind, headers=real.headers, drop=True)
    # "malformed": a 200 whose JSON stops in the middle.
    return _Answer(200, real.content_type, real.body[: max(1, len(real.body) // 2)], outcome=kind)


_XML_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True)


def _parse_envelope(body: bytes) -> Any:
    try:
        envelope = etree.fromstring(body, parser=_XML_PARSER)
    except etree.XMLSyntaxError as error:
        raise validation_fault(
            "The request is not well-formed XML", f"The request is not well-formed XML: {error}", "/"
        ) from None
    if envelope.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise validation_fault("The request is not a SOAP 1.1 envelope", xpath="/")
    return envelope


def _request_element(envelope: Any) -> Any:
    soap_body = envelope.find(f"{{{SOAP_ENV_NS}}}Body")
    request = None
    if soap_body is not None:
        request = next((child for child in soap_body if isinstance(child.tag, str)), None)
    if request is None:
        raise validation_fault("The SOAP body contains no request", xpath="/env:Envelope[1]/env:Body[1]")
    qname = etree.QName(request)
    if qname.namespace != WD_NS or not qname.localname.endswith("_Request"):
        raise validation_fault(f"Unknown request element {qname.text}", xpath="/env:Envelope[1]/env:Body[1]")
    return request


@dataclass
class _Answer:
    status: int
    content_type: str
    body: bytes
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False  # send the headers and half the body, then close the socket
    record: RequestRecord | None = None

    @classmethod
    def xml(cls, status: int, body: str, *, outcome: str) -> _Answer:
        return cls(status, "text/xml; charset=utf-8", body.encode("utf-8"), outcome)

    @classmethod
    def plain(cls, status: int, text: str, *, outcome: str) -> _Answer:
        return cls(status, "text/plain; charset=utf-8", text.encode("utf-8"), outcome)

    @classmethod
    def json(
        cls, status: int, payload: object, *, outcome: str, headers: dict[str, str] | None = None
    ) -> _Answer:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return cls(status, "application/json; charset=utf-8", body, outcome, dict(headers or {}))

    @classmethod
    def html(cls, status: int, headers: dict[str, str], *, outcome: str) -> _Answer:
        # What a load balancer or gateway in front of Workday sends: HTML, not SOAP.
        reason = _HTML_STATUS.get(status, "Error")
        title = f"{status} {reason}"
        body = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return cls(status, "text/html; charset=utf-8", body.encode("utf-8"), outcome, headers)

    def with_outcome(self, outcome: str) -> _Answer:
        self.outcome = outcome
        return self

    def logged(
        self,
        operation: str | None,
        service: str | None,
        page: int | None,
        count: int | None,
        as_of: datetime | None,
        auth: str | None,
    ) -> _Answer:
        self.record = RequestRecord(operation, service, page, count, as_of, self.status, self.outcome, auth)
        return self

    def rest(self, operation: str, limit: int | None, auth: str | None) -> _Answer:
        return self.logged(operation, "REST", None, limit, None, auth if self.status < 400 else None)


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: WorkdaySandbox

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        # Keep-alive connections would otherwise still be served by their handler threads after
        # stop(), which would make a stopped sandbox look alive to a pooled HTTP client.
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the peer
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real clients use pooled sessions
    server_version = "WorkdaySandbox/1.0"
    timeout = 60  # idle keep-alive connections are closed after this
    server: _SandboxHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        # Silent: tests read counters and request_log instead of stderr noise.
        pass

    def do_GET(self) -> None:
        sandbox = self.server.sandbox
        path, _, query = self.path.partition("?")
        if path == "/_sandbox/health":
            payload = {"ok": True, "tenant": sandbox.tenant, "api_version": sandbox.api_version}
            self._send(_Answer(200, "application/json", json.dumps(payload).encode(), outcome="ok"))
            return
        match = _ORGANIZATIONS_PATH_RE.match(path)
        if match is not None:
            self._answer(
                lambda: sandbox.handle_organizations(
                    match["tenant"], path, match["item"], query, self.headers.get("Authorization")
                )
            )
        elif path.startswith("/ccx/api/"):
            sandbox._rest_seen(path)
            self._send(_Answer.json(404, {"error": "Resource not found"}, outcome="not_found"))
        else:
            self._send(_Answer.plain(404, "Not found (the sandbox serves no WSDL)", outcome="not_found"))

    def do_POST(self) -> None:
        sandbox = self.server.sandbox
        try:
            body = self._read_body()
        except ValueError as error:
            self.close_connection = True
            self._send(_Answer.plain(400, str(error), outcome="bad_request"))
            return
        path = self.path.split("?", 1)[0]
        authorization = self.headers.get("Authorization")
        token = _TOKEN_PATH_RE.match(path)
        if token is not None:
            self._answer(lambda: sandbox.handle_token(token["tenant"], path, body, authorization))
            return
        match = _PATH_RE.match(path)
        if match is None:
            self._answer(lambda: _Answer.plain(404, f"Not found: {self.path}", outcome="not_found"))
            return
        self._answer(
            lambda: sandbox.handle_soap(match["tenant"], match["service"], match["version"], body, authorization)
        )

    def _answer(self, handle: Callable[[], _Answer]) -> None:
        sandbox = self.server.sandbox
        try:
            answer = handle()
        except Exception as error:  # a sandbox bug must show up as an answer, not a hung client
            answer = _Answer.plain(500, f"sandbox internal error: {error!r}", outcome="internal_error")
        if answer.record is not None:
            sandbox._record(answer.record)
        elif answer.outcome != "ok":
            sandbox._record(RequestRecord(None, None, None, None, None, answer.status, answer.outcome, None))
        self._send(answer)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65_537)
                try:
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ValueError("bad chunked encoding") from None
                if size == 0:
                    while self.rfile.readline(65_537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65_537)
        length = self.headers.get("Content-Length")
        if length is None:
            raise ValueError("Content-Length required")
        try:
            n = int(length)
        except ValueError:
            raise ValueError("bad Content-Length") from None
        return self.rfile.read(n)

    def _send(self, answer: _Answer) -> None:
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.drop:
            self.send_header("Connection", "close")
        self.end_headers()
        if not answer.drop:
            self.wfile.write(answer.body)
            return
        # Half the announced body, then a hard close: the client sees a truncated read.
        self.wfile.write(answer.body[: len(answer.body) // 2])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):  # the client may have gone already
            self.connection.shutdown(socket.SHUT_RDWR)
