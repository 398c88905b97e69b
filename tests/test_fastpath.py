"""The XSLT fast path and the Parquet stage give exactly what parse_page and the old stage gave."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
import requests
from lxml import etree

from mlc_dagster.sandbox.scenario import HOSTILE_SUPPLIER_NAME, Scenario
from mlc_dagster.sandbox.workday import WorkdaySandbox
from mlc_dagster.warehouse import Warehouse, WindowStage
from mlc_dagster.workday import fastpath
from mlc_dagster.workday.entities import ENTITIES, SUPPLIER_INVOICES, Entity
from mlc_dagster.workday.errors import WorkdayDataError, WorkdayTransientError
from mlc_dagster.workday.parse import ColumnBuffer, PageResult, new_buffers, parse_page
from mlc_dagster.workday.soap import CollectingSink, RetryPolicy, WorkdaySoapClient

DAY = datetime(2026, 11, 29, tzinfo=UTC)
WD = "urn:com.workday/bsvc"


@pytest.fixture
def workday(scenario: Scenario) -> Iterator[WorkdaySandbox]:
    """A tenant that accepts every entity's preferred window (v46): these tests are about how a page is
    read (fast path or parse_page), not about which criteria the tenant accepts (tests/test_routes.py)."""
    with WorkdaySandbox(scenario, profile="v46") as sandbox:
        yield sandbox


def raw_pages(sandbox: WorkdaySandbox, entity: Entity, page_size: int = 50) -> list[bytes]:
    """The response bodies of the day's window, as Workday sends them."""
    client = WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, page_size=page_size)
    start, end = DAY, DAY + timedelta(days=1)
    pages, page = [], 1
    while True:
        body = client.build_request(entity, entity.window, start, end, end, page)
        response = requests.post(client.endpoint(entity), data=body, timeout=30,
                                 headers={"Content-Type": "text/xml; charset=utf-8"})
        response.raise_for_status()
        pages.append(response.content)
        total = int(etree.fromstring(response.content).findtext(f".//{{{WD}}}Total_Pages") or 0)
        if page >= total:
            return pages
        page += 1


def read_both(body: bytes, entity: Entity) -> tuple[bool, tuple[ColumnBuffer, ColumnBuffer | None] | str]:
    """parse_page and the fast path on one body: asserts they agree; returns whether the fast path took
    the page, and the rows (or the error both raised)."""
    rows, lines = new_buffers(entity)
    try:
        expected: PageResult | str = parse_page(io.BytesIO(body), entity, rows, lines)
    except WorkdayDataError as exc:
        expected = str(exc)
    try:
        page = fastpath.read_page(body, entity, xslt=True)
        got: PageResult | str = page.result
    except WorkdayDataError as exc:
        got = str(exc)
    assert got == expected
    if isinstance(expected, str):
        return False, expected
    fast_rows, fast_lines = page.rows, page.lines
    assert len(fast_rows) == len(rows)
    assert fast_rows.rows() == rows.rows()
    if lines is not None:
        assert fast_lines is not None and fast_lines.rows() == lines.rows()
    return isinstance(fast_rows, fastpath.ArrowColumns), (rows, lines)


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_entity_reads_the_same_through_the_fast_path(workday: WorkdaySandbox, name: str) -> None:
    entity = ENTITIES[name]
    pages = raw_pages(workday, entity)
    taken = [read_both(body, entity)[0] for body in pages]
    records = sum(len(etree.fromstring(b).findall(f".//{{{WD}}}{entity.record_element}")) for b in pages)
    if records:
        assert all(taken), "the sandbox's pages need no fallback"


def first_invoice_page(workday: WorkdaySandbox) -> bytes:
    body = raw_pages(workday, SUPPLIER_INVOICES)[0]
    assert b"<wd:Memo>" in body and b"Invoice_Line_Replacement_Data" in body
    return body


def memo(body: bytes) -> bytes:
    start = body.index(b"<wd:Memo>")
    return body[start:body.index(b"</wd:Memo>", start) + len(b"</wd:Memo>")]


def element(body: bytes, name: bytes) -> bytes:
    start = body.index(b"<wd:" + name)
    return body[start:body.index(b"</wd:" + name + b">", start) + len(name) + 6]


def with_memo(text: str) -> object:
    return lambda b: b.replace(memo(b), text.encode(), 1)


HOSTILE: dict[str, tuple[bool, object]] = {
    # name: (whether the fast path keeps the page, how the page's first invoice is changed)
    "newline, tab and CR in a memo": (True, with_memo("<wd:Memo>one\ntwo\tthree&#13;</wd:Memo>")),
    "markup and quotes in a memo": (True, with_memo("<wd:Memo>a &lt;b&gt; &amp; \"c\" 'd'</wd:Memo>")),
    "padding and Unicode spaces": (True, with_memo("<wd:Memo> \u2003 padded\u3000 </wd:Memo>")),
    "empty memo then a second one": (True, with_memo("<wd:Memo/><wd:Memo>second</wd:Memo>")),
    "NBSP-only memo then a second one": (False, with_memo("<wd:Memo>\u00a0</wd:Memo><wd:Memo>x</wd:Memo>")),
    "CDATA and a comment in a memo": (True, with_memo("<wd:Memo><![CDATA[a<b]]> &amp; <!-- c --> d</wd:Memo>")),
    "mixed content": (True, with_memo("<wd:Memo>x<wd:B>y</wd:B>z</wd:Memo>")),
    "private-use characters": (False, with_memo("<wd:Memo>\ue000\ue004\nx</wd:Memo>")),
    "private-use characters, no separator": (True, with_memo("<wd:Memo>\ue000\ue004x</wd:Memo>")),
    "Response_Data named in a value": (False, with_memo("<wd:Memo>Response_Data</wd:Memo>")),
    "records in a second Response_Data, the standard one empty": (False, lambda b: b.replace(
        b"<wd:Response_Data>", b"<wd:Response_Data/><wd:Elsewhere><wd:Response_Data>", 1).replace(
        b"</wd:Response_Data>", b"</wd:Response_Data></wd:Elsewhere>", 1)),
    "empty descriptor": (True, lambda b: b.replace(b'<wd:Supplier_Reference wd:Descriptor="',
                                                   b'<wd:Supplier_Reference wd:Descriptor="" wd:x="', 1)),
    "descriptor with markup and a tab": (True, lambda b: b.replace(
        b'<wd:Supplier_Reference wd:Descriptor="',
        b'<wd:Supplier_Reference wd:Descriptor="A &lt; B &amp; &quot;C&quot;&#9;" wd:x="', 1)),
    "alternative source": (True, lambda b: b.replace(element(b, b"Control_Amount_Total"),
                                                     b"<wd:Control_Amount_Total> </wd:Control_Amount_Total>", 1)),
    # One source, its first element whitespace only: parse_page goes on to the next, so the page is its.
    "empty first worktag": (False, lambda b: b.replace(
        b"<wd:Worktags_Reference",
        b'<wd:Worktags_Reference><wd:ID wd:type="Cost_Center_Reference_ID"> </wd:ID></wd:Worktags_Reference>'
        b"<wd:Worktags_Reference", 1)),
    "required field missing": (False, lambda b: b.replace(element(b, b"Supplier_Invoice_ID"), b"", 1)),
    "no WID": (False, lambda b: b.replace(b'<wd:ID wd:type="WID">', b'<wd:ID wd:type="XID">', 1)),
    "a DTD": (False, lambda b: b.replace(b"?>", b'?><!DOCTYPE x [<!ENTITY e "v">]>', 1)),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_values_read_the_same_or_fall_back(workday: WorkdaySandbox, case: str) -> None:
    kept, change = HOSTILE[case]
    body = change(first_invoice_page(workday))  # type: ignore[operator]
    taken, outcome = read_both(body, SUPPLIER_INVOICES)
    assert taken == kept
    if case in ("required field missing", "no WID"):
        assert isinstance(outcome, str) and "Get_Supplier_Invoices record" in outcome
        assert ("required field invoice_id" if case == "required field missing" else "has no WID") in outcome
    if case == "newline, tab and CR in a memo":
        assert not isinstance(outcome, str)
        assert outcome[0].columns["memo"][0] == "one\ntwo\tthree"  # stripped: the CR is trailing whitespace


def test_trimming_matches_python_strip_for_every_character_xml_can_carry() -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    chars = [chr(c) for c in (*range(0x20, 0xD800), 9, 10, 13, *range(0xE000, 0xFFFE), *range(0x10000, 0x110000, 97))]
    values = [f"{c}a{c}" for c in chars]
    assert pc.utf8_trim_whitespace(pa.array(values)).to_pylist() == [v.strip() for v in values]


def staged(stage: WindowStage) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect() as con:
        rows = con.execute(f"SELECT * FROM {stage.relation('rows')} ORDER BY seq").fetchall()
        lines = con.execute(f"SELECT * FROM {stage.relation('lines')} ORDER BY ALL").fetchall()
    return rows, lines


def test_the_stage_holds_the_same_text_whichever_way_a_page_arrives(workday: WorkdaySandbox, tmp_path: Path) -> None:
    pages = raw_pages(workday, SUPPLIER_INVOICES)
    pages.append(HOSTILE["newline, tab and CR in a memo"][1](pages[0]))  # type: ignore[operator]
    pages.append(HOSTILE["markup and quotes in a memo"][1](pages[0]))  # type: ignore[operator]
    plan = fastpath.plan_for(SUPPLIER_INVOICES)
    results: dict[str, tuple[list[tuple], list[tuple]]] = {}
    for way in ("parse_page", "fast", "tsv"):
        warehouse = Warehouse(tmp_path / f"{way}.duckdb")
        with warehouse.stage(SUPPLIER_INVOICES) as stage:
            for body in pages:
                if way == "parse_page":
                    rows, lines = new_buffers(SUPPLIER_INVOICES)
                    parse_page(io.BytesIO(body), SUPPLIER_INVOICES, rows, lines)
                    stage.add_page(rows, lines)
                elif way == "fast":
                    page = fastpath.read_page(body, SUPPLIER_INVOICES, xslt=True)
                    assert isinstance(page.rows, fastpath.ArrowColumns)
                    stage.add_page(page.rows, page.lines)
                else:
                    tsv = plan.tsv(body)
                    assert tsv is not None
                    stage.add_tsv_page(tsv[0], tsv[1], escaped=tsv[2])
            stage.finish()
            results[way] = staged(stage)
            warehouse.replace_window(SUPPLIER_INVOICES, DAY, DAY + timedelta(days=1), DAY, stage)
        with duckdb.connect(str(tmp_path / f"{way}.duckdb"), read_only=True) as con:
            results[way + " warehouse"] = (
                con.execute("SELECT * EXCLUDE (window_start, window_end, as_of) FROM raw.supplier_invoices "
                            "ORDER BY wid").fetchall(),
                con.execute("SELECT * EXCLUDE (window_start) FROM raw.supplier_invoice_lines ORDER BY ALL").fetchall())
    assert results["fast"] == results["parse_page"] == results["tsv"]
    assert results["fast warehouse"] == results["parse_page warehouse"] == results["tsv warehouse"]
    stage_rows = results["fast"][0]
    memos = [row[14] for row in stage_rows]  # seq, then the registry's fields: memo is the 14th
    assert "one\ntwo\tthree" in memos and "a <b> & \"c\" 'd'" in memos
    names = [row[4] for row in stage_rows]
    assert HOSTILE_SUPPLIER_NAME in names, "the sandbox's hostile supplier name"
    assert any(name and not name.isascii() for name in names), "non-ASCII names"
    assert [row[0] for row in stage_rows] == list(range(len(stage_rows))), "seq grows in page order"


def test_an_empty_stage_is_an_empty_window(tmp_path: Path) -> None:
    warehouse = Warehouse(tmp_path / "w.duckdb")
    with warehouse.stage(SUPPLIER_INVOICES) as stage:
        load = warehouse.replace_window(SUPPLIER_INVOICES, DAY, DAY + timedelta(hours=1), DAY, stage)
    assert (load.records, load.lines) == (0, 0)
    assert not list(stage.folder.iterdir()), "a closed stage leaves no file behind"


def client_for(sandbox: WorkdaySandbox) -> WorkdaySoapClient:
    return WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, page_size=7,
                             retry=RetryPolicy(attempts=4, initial_seconds=0.01, max_seconds=0.05),
                             sleep=lambda _: None, timeout=(2.0, 2.0))


@pytest.mark.parametrize("xslt", [False, True])
def test_polls_through_either_path_give_the_same_rows_and_retry_malformed_pages(
        workday: WorkdaySandbox, monkeypatch: pytest.MonkeyPatch, xslt: bool) -> None:
    start, end = DAY + timedelta(hours=9), DAY + timedelta(hours=10)
    reference = CollectingSink(SUPPLIER_INVOICES)
    monkeypatch.setattr(fastpath, "ENABLED", False)
    client_for(workday).fetch_window(SUPPLIER_INVOICES, start, end, sink=reference)
    monkeypatch.setattr(fastpath, "ENABLED", xslt)
    workday.inject("Get_Supplier_Invoices", "malformed", page=2, times=2)
    result = client_for(workday).fetch_window(SUPPLIER_INVOICES, start, end)
    assert result.stats.retries == 2
    assert result.rows.rows() == reference.rows.rows() and result.records == len(reference.rows)
    assert result.lines is not None and reference.lines is not None
    assert result.lines.rows() == reference.lines.rows()


def test_an_oversized_body_is_refused_clearly(workday: WorkdaySandbox) -> None:
    client = client_for(workday)
    client.max_response_bytes = 1000  # the whole body is read before parsing: the cap bounds memory
    with pytest.raises(WorkdayDataError, match="cap") as failure:
        client.fetch_window(SUPPLIER_INVOICES, DAY + timedelta(hours=9), DAY + timedelta(hours=10))
    assert not isinstance(failure.value, WorkdayTransientError)
    assert "Get_Supplier_Invoices page 1" in str(failure.value)
