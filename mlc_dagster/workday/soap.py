"""SOAP 1.1 client for Workday Web Services, read-only.

zeep builds the WS-Security UsernameToken (what it does well); the envelope is a few fixed elements and
each response page is read with lxml (`parse.parse_page`, or the C-only `fastpath` in the page-reader
threads), not by zeep's object building, which is ~30x slower. No WSDL is fetched at run time: the
request shape for each operation is data in the entity registry.
"""

from __future__ import annotations

import itertools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import requests
from lxml import etree
from zeep.wsse.username import UsernameToken

from . import fastpath
from .entities import (
    DocumentDateWindow,
    Entity,
    OpenDocumentsWindow,
    TransactionLogWindow,
    UpdatedDateWindow,
    WindowCriteria,
)
from .errors import (
    WorkdayAuthenticationError,
    WorkdayConfigError,
    WorkdayDataError,
    WorkdayError,
    WorkdayPermissionError,
    WorkdayProcessingError,
    WorkdayTransientError,
    WorkdayValidationError,
)
from .parse import MAX_RESPONSE_BYTES, WD, ColumnBuffer, GuardedStream, Page, new_buffers
from .readahead import ReadAhead

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MAX_PAGE_SIZE = 999
TRANSIENT_STATUS = {429, 502, 503, 504}
# Response_Results comes before Response_Data (WWS response shape), so a page's head names the page count
# before the page is parsed; a guess only (any prefix, anywhere in the head), checked against the parse.
_PAGE_COUNT_HINT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?Total_Pages>\s*(\d{1,9})\s*</")
_HINT_HEAD = 1 << 16


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and in total time."""

    attempts: int = 5
    initial_seconds: float = 0.5
    max_seconds: float = 30.0
    total_seconds: float = 300.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = random.uniform(0, min(self.max_seconds, self.initial_seconds * 2 ** (attempt - 1)))
        return max(backoff, retry_after or 0.0)

    def after_failure(self, exc: WorkdayTransientError, attempt: int, deadline: float, stats: PollStats,
                      request: str, what: str = "Workday") -> float:
        """The wait before the next attempt, once the retry is counted; raises when the attempts or the
        time budget are spent (SOAP and REST share this)."""
        wait = self.delay(attempt, exc.retry_after)
        if attempt >= self.attempts or time.monotonic() + wait > deadline:
            raise WorkdayTransientError(f"{what} still failing after {attempt} attempts: {exc.args[0]}",
                                        request=request) from None
        stats.retries += 1
        stats.retry_reasons.append(str(exc.args[0]).split(" [", 1)[0])
        return wait


@dataclass
class PollStats:
    """What one window cost: reported as run metadata (never credentials)."""

    pages: int = 0
    api_calls: int = 0
    retries: int = 0
    bytes: int = 0
    seconds: float = 0.0
    retry_reasons: list[str] = field(default_factory=list)

    def add(self, other: PollStats) -> None:
        """Count another page's calls, retries and bytes in (pages and seconds are the window's own)."""
        self.api_calls += other.api_calls
        self.retries += other.retries
        self.bytes += other.bytes
        self.retry_reasons.extend(other.retry_reasons)

    def absorb(self, other: PollStats) -> None:
        """Count another request of the same window in whole (a sweep beside the window's own)."""
        self.add(other)
        self.pages += other.pages
        self.seconds += other.seconds


class PageSink(Protocol):
    """Where each complete page's rows go (the warehouse stages them; tests collect them)."""

    def add_page(self, rows: ColumnBuffer, lines: ColumnBuffer | None) -> None: ...


class CollectingSink:
    """Keeps every page in memory: for tests and small reads."""

    def __init__(self, entity: Entity) -> None:
        self.rows, self.lines = new_buffers(entity)

    def add_page(self, rows: ColumnBuffer, lines: ColumnBuffer | None) -> None:
        self.rows.extend(rows)
        if self.lines is not None and lines is not None:
            self.lines.extend(lines)


@dataclass
class WindowResult:
    records: int
    stats: PollStats
    as_of: datetime
    sink: PageSink

    @property
    def rows(self) -> ColumnBuffer:
        assert isinstance(self.sink, CollectingSink), "rows are only kept by a CollectingSink"
        return self.sink.rows

    @property
    def lines(self) -> ColumnBuffer | None:
        assert isinstance(self.sink, CollectingSink), "lines are only kept by a CollectingSink"
        return self.sink.lines


class _CountingStream(GuardedStream):
    """Wraps the raw HTTP body so bytes are counted while it is read; refuses a DTD or an oversized body."""


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WorkdaySoapClient:
    def __init__(
        self,
        soap_url: str,
        username: str,
        password: str,
        tenant: str | None = None,
        api_version: str = "v46.1",
        page_size: int = MAX_PAGE_SIZE,
        timeout: tuple[float, float] = (10.0, 300.0),
        retry: RetryPolicy | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        parallel_pages: int = 2,
    ) -> None:
        if not soap_url:
            raise WorkdayConfigError("WORKDAY_SOAP_URL is not set: give the SOAP base up to the tenant, "
                                     "e.g. https://wd2-impl-services1.workday.com/ccx/service/acme_fin")
        if not username or not password:
            raise WorkdayConfigError("WORKDAY_USERNAME and WORKDAY_PASSWORD must name the Integration System User")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise WorkdayConfigError(f"page size {page_size} is outside 1..{MAX_PAGE_SIZE}")
        self.soap_url = soap_url.rstrip("/")
        self.tenant = tenant or self.soap_url.rsplit("/", 1)[-1]
        self.username = username if "@" in username else f"{username}@{self.tenant}"
        self._password = password
        self.api_version = api_version
        self.page_size = page_size
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = session or requests.Session()
        self._sleep = sleep
        self.max_response_bytes = max_response_bytes  # a larger body is refused (UnsafeXmlError)
        # Pages 2..N of a window are fetched and read by this many threads at once. Parsing and the XSLT
        # fast path run in C without the GIL, so two threads use both cores of a small worker; Workday
        # answers pages of one As_Of_Entry_DateTime independently, and two requests at a time is modest.
        self.parallel_pages = max(1, parallel_pages)

    @property
    def _fast(self) -> bool | None:
        # The C-only route (fastpath) costs what parse_page plus its Arrow conversion costs on one thread,
        # and runs without the GIL: with page readers (or a caller fetching on a thread of its own)
        # that is what keeps both cores busy. With one reader, MLC_WORKDAY_XSLT decides.
        return self.parallel_pages > 1 or None

    def __repr__(self) -> str:  # never show the password
        return f"WorkdaySoapClient({self.soap_url!r}, user={self.username!r})"

    def endpoint(self, entity: Entity) -> str:
        return f"{self.soap_url}/{entity.service}/{self.api_version}"

    # -- request building -------------------------------------------------------------------------

    def build_request(self, entity: Entity, criteria: WindowCriteria, start: datetime, end: datetime,
                      as_of: datetime, page: int) -> bytes:
        env = etree.Element(etree.QName(SOAP_ENV, "Envelope"), nsmap={"env": SOAP_ENV, "wd": WD})
        etree.SubElement(env, etree.QName(SOAP_ENV, "Header"))
        body = etree.SubElement(env, etree.QName(SOAP_ENV, "Body"))
        request = etree.SubElement(body, etree.QName(WD, f"{entity.operation}_Request"))
        request.set(etree.QName(WD, "version"), self.api_version)

        def sub(parent: Any, name: str, text: str | None = None) -> Any:
            element = etree.SubElement(parent, etree.QName(WD, name))
            if text is not None:
                element.text = text
            return element

        if isinstance(criteria, TransactionLogWindow):
            log = sub(sub(sub(request, "Request_Criteria"), "Transaction_Log_Criteria_Data"),
                      "Transaction_Date_Range_Data")
            sub(log, "Updated_From", _iso(start))
            sub(log, "Updated_Through", _iso(end))
        elif isinstance(criteria, UpdatedDateWindow):
            request_criteria = sub(request, "Request_Criteria")
            sub(request_criteria, "Updated_From_Date", _iso(start))
            sub(request_criteria, "Updated_To_Date", _iso(end))
        elif isinstance(criteria, DocumentDateWindow | OpenDocumentsWindow):
            route = criteria.route if isinstance(criteria, OpenDocumentsWindow) else criteria
            days = criteria.days if isinstance(criteria, OpenDocumentsWindow) else route.lookback_days
            holder = sub(request, "Request_Criteria")
            if route.container:
                holder = sub(holder, route.container)
            sub(holder, route.from_element, (start - timedelta(days=days)).date().isoformat())
            # A tenant's calendar day can be a day ahead of UTC's (east of Greenwich): one day more.
            sub(holder, route.to_element, (end + timedelta(days=1)).date().isoformat())
            if isinstance(criteria, OpenDocumentsWindow):
                # After the dates in every criteria type that has both (schema order).
                for status in criteria.statuses:
                    ident = sub(sub(holder, criteria.sweep.element), "ID", status)
                    ident.set(etree.QName(WD, "type"), criteria.sweep.id_type)
        # WholeCollection: no criteria element at all.
        response_filter = sub(request, "Response_Filter")
        sub(response_filter, "As_Of_Entry_DateTime", _iso(as_of))
        sub(response_filter, "Page", str(page))
        sub(response_filter, "Count", str(self.page_size))
        if entity.response_group:  # only the flags the operation's response group declares (registry row)
            group = sub(request, "Response_Group")
            for flag in entity.response_group:
                sub(group, flag, "true")

        UsernameToken(self.username, self._password).apply(env, {})
        security = env.find(f"{{{SOAP_ENV}}}Header/*")
        if security is not None:
            security.set(etree.QName(SOAP_ENV, "mustUnderstand"), "1")
        return etree.tostring(env, xml_declaration=True, encoding="UTF-8")

    # -- polling ----------------------------------------------------------------------------------

    def fetch_window(self, entity: Entity, start: datetime, end: datetime,
                     criteria: WindowCriteria | None = None, as_of: datetime | None = None,
                     sink: PageSink | None = None) -> WindowResult:
        """Every record changed in [start, end], all pages pinned to one As_Of_Entry_DateTime.

        The as-of defaults to the window's end (or now, if the window has not ended), so asking for the
        same window again returns the same rows: a replay is reproducible. Each page goes to `sink`
        once it has parsed completely; a page that fails is retried from scratch, never half-kept.
        """
        started = time.monotonic()
        criteria = criteria or entity.window
        as_of = as_of or min(end, datetime.now(UTC))
        sink = sink if sink is not None else CollectingSink(entity)
        stats = PollStats()
        later: ReadAhead[int, tuple[Page, PollStats]] | None = None
        hinted: int | None = None

        def page_count_hint(body: bytes) -> None:
            # Pages 2..N start while page 1 is still being parsed, instead of after it (at 11k invoices a
            # page's parse is ~85 ms of one core, with the other idle).
            nonlocal later, hinted
            hint = _PAGE_COUNT_HINT.search(body, 0, _HINT_HEAD)
            if hint and later is None:  # once: not again when page 1 is retried
                hinted = int(hint.group(1))
                later = self._later_pages(entity, criteria, start, end, as_of, hinted, stats)

        try:
            first = self._fetch_page_with_retry(entity, criteria, start, end, as_of, 1, stats, xslt=self._fast,
                                                on_body=page_count_hint)
            if later is None or hinted != first.result.total_pages:
                # No hint, or a wrong one: start over with the parsed count.
                if later is not None:
                    later.close()
                later = self._later_pages(entity, criteria, start, end, as_of, first.result.total_pages, stats)
            records = 0
            for page, page_stats in itertools.chain([(first, PollStats())], later):
                stats.add(page_stats)
                sink.add_page(page.rows, page.lines)
                records += len(page.rows)
                stats.pages += 1
            if later.failure is not None:
                raise later.failure
        finally:
            if later is not None:
                later.close()
        stats.seconds = time.monotonic() - started
        return WindowResult(records=records, stats=stats, as_of=as_of, sink=sink)

    def _later_pages(self, entity: Entity, criteria: WindowCriteria, start: datetime, end: datetime,
                     as_of: datetime, total: int, stats: PollStats) -> ReadAhead[int, tuple[Page, PollStats]]:
        """Pages 2..`total` of one window, fetched and read by `parallel_pages` threads and handed out in
        order; at most two pages per thread are read ahead, so memory stays a few pages whatever the
        window's size. Closed, it leaves nothing running behind (a page under way is not retried) and
        the calls of the pages read in vain count in `stats`."""

        def read(number: int) -> tuple[Page, PollStats]:
            page_stats = PollStats()
            page = self._fetch_page_with_retry(entity, criteria, start, end, as_of, number, page_stats,
                                               xslt=self._fast, stopped=pages.stopped)
            return page, page_stats

        pages = ReadAhead(range(2, total + 1), read, ahead=2 * self.parallel_pages, threads=self.parallel_pages,
                          discard=lambda done: stats.add(done[1]), name="workday-page")
        return pages.start()

    def _fetch_page_with_retry(self, entity: Entity, criteria: WindowCriteria, start: datetime,
                               end: datetime, as_of: datetime, page: int, stats: PollStats,
                               xslt: bool | None = None, on_body: Callable[[bytes], None] | None = None,
                               stopped: Callable[[], bool] | None = None) -> Page:
        described = (f"{entity.service}/{entity.operation} page {page}, window {_iso(start)}..{_iso(end)}, "
                     f"user {self.username}")
        deadline = time.monotonic() + self.retry.total_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._fetch_page(entity, criteria, start, end, as_of, page, stats, described, xslt, on_body)
            except WorkdayTransientError as exc:
                if stopped is not None and stopped():
                    raise  # nobody waits for this page any more (another failed, or it was read ahead in vain)
                # Each attempt reads into new buffers: nothing of a failed one is kept.
                self._sleep(self.retry.after_failure(exc, attempt, deadline, stats, described))

    def _fetch_page(self, entity: Entity, criteria: WindowCriteria, start: datetime, end: datetime,
                    as_of: datetime, page: int, stats: PollStats, described: str, xslt: bool | None = None,
                    on_body: Callable[[bytes], None] | None = None) -> Page:
        payload = self.build_request(entity, criteria, start, end, as_of, page)
        stats.api_calls += 1
        try:
            response = self.session.post(
                self.endpoint(entity),
                data=payload,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=self.timeout,
                stream=True,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise WorkdayTransientError(f"connection failed: {type(exc).__name__}", request=described) from None
        with response:
            if response.status_code != 200:
                body = _read_limited(response)
                stats.bytes += len(body)
                raise _error_for(response.status_code, response.headers, body, entity, described)
            stream = _CountingStream(response.raw, self.max_response_bytes)
            try:
                # The whole body first (a page is a few MB): lxml parses a BytesIO a third faster than a
                # stream it has to call back into Python for, and the XSLT fast path needs the bytes anyway.
                # The stream refuses a body over max_response_bytes, so memory stays bounded.
                chunks = []
                while chunk := stream.read(1 << 20):
                    chunks.append(chunk)
                body = b"".join(chunks)
                if on_body is not None:
                    on_body(body)
                return fastpath.read_page(body, entity, xslt=xslt)
            except etree.XMLSyntaxError as exc:
                raise WorkdayTransientError(f"malformed XML in the response: {exc}", request=described) from None
            except (requests.RequestException, OSError) as exc:
                raise WorkdayTransientError(
                    f"connection dropped while reading the response: {type(exc).__name__}", request=described
                ) from None
            except WorkdayDataError as exc:
                raise WorkdayDataError(str(exc), request=described) from None
            except Exception as exc:
                # urllib3 raises its own ProtocolError/IncompleteRead for a body cut short.
                if type(exc).__module__.startswith(("urllib3", "http.client")):
                    raise WorkdayTransientError(
                        f"connection dropped while reading the response: {type(exc).__name__}", request=described
                    ) from None
                raise
            finally:
                stats.bytes += stream.count


def _read_limited(response: requests.Response, limit: int = 1 << 20) -> bytes:
    try:
        return response.raw.read(limit, decode_content=True) or b""
    except Exception:  # the body of an error is a courtesy; the status already tells what happened
        return b""


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _error_for(status: int, headers: Any, body: bytes, entity: Entity, described: str) -> WorkdayError:
    if status in TRANSIENT_STATUS:
        return WorkdayTransientError(f"HTTP {status} from Workday", request=described,
                                     retry_after=_retry_after(headers))
    fault = _parse_fault(body)
    if fault is None:
        if status >= 500:
            return WorkdayTransientError(f"HTTP {status} from Workday without a SOAP fault", request=described)
        return WorkdayError(f"HTTP {status} from Workday at {entity.service}: check WORKDAY_SOAP_URL "
                            "(host, tenant) and the service name", request=described)
    code, message, detail = fault
    lowered = code.lower()
    if "authentication" in lowered:
        return WorkdayAuthenticationError(
            f"Workday rejected the Integration System User ({message}). Check WORKDAY_USERNAME "
            "(user@tenant), WORKDAY_PASSWORD, and whether the ISU's password expired or the account is "
            "locked out", request=described)
    if "validation" in lowered:
        return WorkdayValidationError(f"Workday validation fault: {message}{detail}", request=described)
    if "not authorized" in message.lower() or "not authorized" in detail.lower():
        return WorkdayPermissionError(
            f"Workday says the task is not authorized for {entity.operation}: the ISU's security group "
            f"lacks the domain permission for {entity.service}/{entity.operation} ({message})",
            request=described)
    return WorkdayProcessingError(f"Workday processing fault {code}: {message}{detail}", request=described)


def _parse_fault(body: bytes) -> tuple[str, str, str] | None:
    if not body:
        return None
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        return None
    fault = root.find(f".//{{{SOAP_ENV}}}Fault")
    if fault is None:
        return None
    code = (fault.findtext("faultcode") or "").strip()
    message = (fault.findtext("faultstring") or "").strip()
    details = []
    for error in fault.iter(f"{{{WD}}}Validation_Error"):
        xpath = (error.findtext(f"{{{WD}}}Xpath") or "").strip()
        text = (error.findtext(f"{{{WD}}}Detail_Message") or error.findtext(f"{{{WD}}}Message") or "").strip()
        details.append(f"{text} (at {xpath})" if xpath else text)
    for processing in fault.iter(f"{{{WD}}}Processing_Fault"):
        text = (processing.findtext(f"{{{WD}}}Detail_Message") or "").strip()
        if text and text not in message:
            details.append(text)
    return code, message, ("; " + "; ".join(d for d in details if d)) if details else ""
