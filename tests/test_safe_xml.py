"""Hostile XML from "Workday": a DTD (entity bomb, external entity) or an oversized body is refused at
once, unparsed and not retried, with a clear error."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mlc_dagster.sandbox.scenario import Scenario
from mlc_dagster.sandbox.workday import ENTITY_BOMB, WorkdaySandbox
from mlc_dagster.workday.entities import SUPPLIER_INVOICES
from mlc_dagster.workday.errors import WorkdayDataError
from mlc_dagster.workday.parse import UnsafeXmlError, new_buffers, parse_page
from mlc_dagster.workday.soap import RetryPolicy, WorkdaySoapClient

START = datetime(2026, 11, 29, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
ENVELOPE = ('<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>'
            '<wd:Get_Supplier_Invoices_Response xmlns:wd="urn:com.workday/bsvc"><wd:Response_Results>'
            "<wd:Total_Results>0</wd:Total_Results><wd:Total_Pages>0</wd:Total_Pages></wd:Response_Results>"
            "</wd:Get_Supplier_Invoices_Response></env:Body></env:Envelope>")



@pytest.fixture
def workday(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    """A tenant that accepts the invoices' preferred window (v46): these tests are about hostile bodies,
    not about which criteria the tenant accepts (tests/test_routes.py)."""
    with WorkdaySandbox(scenario, profile="v46") as sandbox:
        yield sandbox


def client(sandbox: WorkdaySandbox, **kwargs) -> WorkdaySoapClient:
    return WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, page_size=100,
                             retry=RetryPolicy(attempts=3, initial_seconds=0.01), sleep=lambda _: None, **kwargs)


def parse(text: str | bytes) -> int:
    rows, lines = new_buffers(SUPPLIER_INVOICES)
    body = text.encode() if isinstance(text, str) else text
    return parse_page(io.BytesIO(body), SUPPLIER_INVOICES, rows, lines).total_pages


# What the measurement runs in a fresh interpreter, so that peak RSS is this poll's alone.
MEASURE = """
import json, resource, sys, time
from datetime import UTC, datetime, timedelta
from mlc_dagster.workday.entities import SUPPLIER_INVOICES
from mlc_dagster.workday.soap import RetryPolicy, WorkdaySoapClient
client = WorkdaySoapClient(sys.argv[1], "isu_mlc", sys.argv[2], page_size=100, retry=RetryPolicy(attempts=3))
start = datetime(2026, 11, 29, 10, tzinfo=UTC)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
began = time.perf_counter()
try:
    client.fetch_window(SUPPLIER_INVOICES, start, start + timedelta(hours=1))
    error = None
except Exception as exc:
    error = f"{type(exc).__name__}: {exc}"
seconds = time.perf_counter() - began
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({"seconds": seconds, "peak_rss_growth_kb": grown, "error": error,
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_an_entity_bomb_is_refused_within_a_second_and_50_mb(workday: WorkdaySandbox) -> None:
    workday.inject("Get_Supplier_Invoices", "entity_bomb", times=1)
    result = subprocess.run([sys.executable, "-c", MEASURE, workday.soap_url, workday.password],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"entity bomb: refused in {measured['seconds'] * 1000:.1f} ms, "
          f"peak RSS grew {measured['peak_rss_growth_kb'] / 1024:.1f} MB "
          f"(process peak {measured['peak_rss_kb'] / 1024:.0f} MB, imports included)")
    assert measured["error"].startswith("WorkdayDataError: the response declares a DTD")
    assert "Get_Supplier_Invoices page 1" in measured["error"]
    assert measured["seconds"] < 1.0
    assert measured["peak_rss_growth_kb"] < 50 * 1024
    assert workday.requests_by_operation["Get_Supplier_Invoices"] == 1, "refused, not retried"


def test_the_bomb_in_process_is_a_clear_data_error_not_a_transient_one(workday: WorkdaySandbox) -> None:
    workday.inject("Get_Supplier_Invoices", "entity_bomb", times=1)
    began = time.perf_counter()
    with pytest.raises(WorkdayDataError) as failure:
        client(workday).fetch_window(SUPPLIER_INVOICES, START, END)
    assert time.perf_counter() - began < 1.0
    assert not failure.value.transient
    assert "DTD" in str(failure.value) and workday.password not in str(failure.value)
    # The next poll, without the fault, reads normally.
    assert client(workday).fetch_window(SUPPLIER_INVOICES, START, END).records > 0


@pytest.mark.parametrize("prolog", [
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>',  # external entity
    '<?xml version="1.0"?>\n<!-- a comment --><?pi x?>\n  <!DOCTYPE env:Envelope>',
    "\ufeff<!DOCTYPE x PUBLIC 'p' 'http://127.0.0.1:9/x.dtd'>",  # after a byte-order mark; no network
    '<!DOCTYPE x [<!ENTITY big "' + "x" * 100_000 + '">]>',  # quadratic blow-up
    "<!ELEMENT x ANY>",
])
def test_any_dtd_is_refused_unparsed(prolog: str) -> None:
    with pytest.raises(UnsafeXmlError, match="DTD"):
        parse(prolog + ENVELOPE)


def test_the_bomb_itself_is_refused_by_the_parser() -> None:
    began = time.perf_counter()
    with pytest.raises(UnsafeXmlError, match="DTD"):
        parse(ENTITY_BOMB)
    assert time.perf_counter() - began < 0.1


def test_utf16_is_refused_and_a_plain_page_still_parses() -> None:
    with pytest.raises(UnsafeXmlError, match="UTF-8"):
        parse(('<?xml version="1.0" encoding="UTF-16"?>' + ENVELOPE).encode("utf-16"))
    assert parse('<?xml version="1.0" encoding="UTF-8"?>\n<!-- fine --><?pi ok?>\n' + ENVELOPE) == 0
    assert parse("\ufeff" + ENVELOPE) == 0
    # A prolog split across reads is still seen whole.

    class Trickle(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            return super().read(3)

    rows, lines = new_buffers(SUPPLIER_INVOICES)
    with pytest.raises(UnsafeXmlError):
        parse_page(Trickle(b'<?xml version="1.0"?>\n<!DOCTYPE x>' + ENVELOPE.encode()), SUPPLIER_INVOICES,
                   rows, lines)


def test_an_oversized_body_is_refused_fast_and_not_retried(workday: WorkdaySandbox) -> None:
    began = time.perf_counter()
    with pytest.raises(WorkdayDataError, match="cap") as failure:
        client(workday, max_response_bytes=20_000).fetch_window(SUPPLIER_INVOICES, START, END)
    assert time.perf_counter() - began < 1.0
    assert "20,000-byte cap" in str(failure.value) and "page 1" in str(failure.value)
    assert workday.requests_by_operation["Get_Supplier_Invoices"] == 1


def test_the_cap_holds_for_a_body_without_content_length() -> None:
    class Raw(io.BytesIO):
        headers: dict[str, str] = {}

    from mlc_dagster.workday.parse import GuardedStream

    stream = GuardedStream(Raw(ENVELOPE.encode() * 100), limit=1000)
    with pytest.raises(UnsafeXmlError, match="1,000-byte cap"):
        while stream.read(256):
            pass
