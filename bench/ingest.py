"""bench/ingest: supplier invoices from Workday XML to DuckDB rows, against a raw lxml parse.

    .venv/bin/python bench/ingest.py                 # 10k and 100k invoices in one window
    .venv/bin/python bench/ingest.py --sizes 5000    # quicker

For each size, one window holding N invoices is served by a v28 Workday sandbox (the strict default)
and asked the way a v28 tenant is: by invoice date with the look-back (`document_date`, the route the
client negotiates there). Its pages are fetched
once; then, in this process and on the same bytes:
  baseline  lxml parses every page, extracting nothing (the ceiling for any XML reader);
  product   what a poll does: `WorkdaySoapClient.fetch_window` into a `WindowStage` (each page through
            `_fetch_page`, served from memory by a stand-in HTTP session), then `Warehouse.replace_window`.
The ratio is product invoices/s over baseline invoices/s. Peak RSS is measured in a child process
that polls the window through the real client over HTTP and loads it, as an asset run would.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import requests
from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import publish  # noqa: E402
from mlc_dagster.sandbox.scenario import Scenario  # noqa: E402
from mlc_dagster.sandbox.timeline import Timeline  # noqa: E402
from mlc_dagster.sandbox.workday import WorkdaySandbox  # noqa: E402
from mlc_dagster.warehouse import Warehouse  # noqa: E402
from mlc_dagster.workday.entities import ENTITIES, SUPPLIER_INVOICES  # noqa: E402
from mlc_dagster.workday.routes import RouteBook, RoutedReader  # noqa: E402
from mlc_dagster.workday.soap import WorkdaySoapClient  # noqa: E402

INVOICES_PER_SCALE = 5000  # the scenario's invoices per business day at scale 1
ROUTE = SUPPLIER_INVOICES.route("document_date")  # what a v28 tenant answers to


def fetch_pages(client: WorkdaySoapClient, start, end) -> list[bytes]:  # type: ignore[no-untyped-def]
    pages: list[bytes] = []
    page = 1
    while True:
        body = client.build_request(SUPPLIER_INVOICES, ROUTE, start, end, end, page)
        response = requests.post(client.endpoint(SUPPLIER_INVOICES), data=body, timeout=300,
                                 headers={"Content-Type": "text/xml; charset=utf-8"})
        response.raise_for_status()
        pages.append(response.content)
        total = int(etree.fromstring(response.content).findtext(".//{urn:com.workday/bsvc}Total_Pages") or 0)
        if page >= total:
            return pages
        page += 1


class PagesSession:
    """Stands in for requests.Session: answers a window's request for page n with the n-th stored page
    (pages are requested by several threads at once, so by number, not in arrival order)."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages

    def post(self, url: str, data: bytes = b"", **kwargs: object) -> requests.Response:
        number = re.search(rb"<wd:Page>(\d+)</wd:Page>", data)
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(self.pages[int(number.group(1)) - 1 if number else 0])
        return response


def best_of(repeats: int, *works) -> list[float]:  # type: ignore[no-untyped-def]
    """Each work's best time, the works taking turns: on a shared machine a noisy spell then hits all of
    them, not whichever happened to run during it."""
    best = [float("inf")] * len(works)
    for _ in range(repeats):
        for i, work in enumerate(works):
            started = time.perf_counter()
            work()
            best[i] = min(best[i], time.perf_counter() - started)
    return best


def measure_size(n: int, repeats: int) -> dict[str, float]:
    scenario = Scenario.generate(seed=3, scale=n / INVOICES_PER_SCALE)
    start, end = scenario.day_start, scenario.day_start + timedelta(days=1)
    with WorkdaySandbox(scenario) as sandbox:
        client = WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password)
        pages = fetch_pages(client, start, end)
        invoices = sum(1 for page in pages for _ in etree.fromstring(page).iter(
            "{urn:com.workday/bsvc}Supplier_Invoice"))

        def baseline() -> None:
            for page in pages:
                etree.fromstring(page)

        folder = Path(tempfile.mkdtemp(prefix="mlc-bench-"))
        warehouse = Warehouse(folder / "bench.duckdb")

        local = WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password,
                                  session=PagesSession(pages))  # type: ignore[arg-type]

        def product() -> None:
            with warehouse.stage(SUPPLIER_INVOICES) as stage:
                result = local.fetch_window(SUPPLIER_INVOICES, start, end, criteria=ROUTE, as_of=end, sink=stage)
                assert result.records == invoices and result.stats.pages == len(pages)
                warehouse.replace_window(SUPPLIER_INVOICES, start, end, end, stage)

        product()  # warm: schema creation and first-touch costs are not what is measured
        base_seconds, product_seconds = best_of(repeats, baseline, product)

        child = subprocess.run(
            [sys.executable, __file__, "--child", sandbox.soap_url, sandbox.username, sandbox.password,
             start.isoformat(), end.isoformat(), str(folder / "child.duckdb")],
            capture_output=True, text=True, check=True, timeout=1800,
        )
        peak = json.loads(child.stdout.strip().splitlines()[-1])
    return {
        "invoices": invoices,
        "megabytes": sum(map(len, pages)) / 1e6,
        "baseline_per_s": invoices / base_seconds,
        "product_per_s": invoices / product_seconds,
        "ratio": base_seconds / product_seconds,
        "rss_after_imports_mb": peak["rss_after_imports_mb"],
        "peak_rss_mb": peak["peak_rss_mb"],
        "http_end_to_end_per_s": invoices / peak["seconds"],
    }


def high_water_mb() -> float:
    """VmHWM: this process's own peak RSS. (ru_maxrss would carry over the forking parent's.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(soap_url: str, username: str, password: str, start: str, end: str, database: str) -> None:
    from datetime import datetime

    before = high_water_mb()
    client = WorkdaySoapClient(soap_url, username, password)
    warehouse = Warehouse(database)
    started = time.perf_counter()
    with warehouse.stage(SUPPLIER_INVOICES) as stage:
        result = client.fetch_window(SUPPLIER_INVOICES, datetime.fromisoformat(start),
                                     datetime.fromisoformat(end), criteria=ROUTE, sink=stage)
        warehouse.replace_window(SUPPLIER_INVOICES, datetime.fromisoformat(start), datetime.fromisoformat(end),
                                 result.as_of, stage)
    seconds = time.perf_counter() - started
    peak = high_water_mb()
    print(json.dumps({"rss_after_imports_mb": before, "peak_rss_mb": peak, "seconds": seconds}))


def measure_route_bytes(scale: float = 1.0, history_days: int = 32) -> list[dict[str, object]]:
    """Bytes read from Workday in one business day, per entity and route: 24 hourly windows for the
    transactional entities (a document-date route's sweep in the last one), one daily window for
    reference data. The day measured is the last of a timeline of `history_days` business days, so a
    look-back or a sweep finds the earlier days' documents as it would on a tenant in steady state
    (a one-day scenario has none, and understates a document-date route several times over). A v46
    sandbox, so that every route, the transaction log included, is answered."""
    first = date(2026, 11, 28) - timedelta(days=history_days - 1)
    timeline = Timeline.generate(seed=3, scale=scale, first_day=first, days=history_days)
    found: list[dict[str, object]] = []
    with WorkdaySandbox(timeline, profile="v46") as sandbox:
        client = WorkdaySoapClient(sandbox.soap_url, sandbox.username, sandbox.password, tenant=sandbox.tenant)
        for entity in ENTITIES.values():
            hourly = entity.cadence == "transactional"
            day = timeline.days[-1].day_start
            windows = ([(day + timedelta(hours=h), day + timedelta(hours=h + 1)) for h in range(24)]
                       if hourly else [(day, day + timedelta(days=1))])
            for route in entity.routes:
                reader = RoutedReader(client, RouteBook(None, {entity.name: route.kind}))
                total_bytes = requests_made = records = 0
                for start, end in windows:
                    result = reader.fetch_window(entity, start, end)
                    total_bytes += result.stats.bytes
                    requests_made += result.stats.api_calls
                    records += result.records
                found.append({"entity": entity.name, "route": route.kind, "windows": len(windows),
                              "requests": requests_made, "records": records, "megabytes": total_bytes / 1e6})
    return found


def route_bytes_table(found: list[dict[str, object]]) -> str:
    lines = ["| entity | route | windows | requests | records read | MB read per business day |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['entity']} | {r['route']} | {r['windows']} | {r['requests']:,} | {r['records']:,} "
              f"| {r['megabytes']:.1f} |" for r in found]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=6, metavar="ARG")
    parser.add_argument("--route-bytes", type=float, metavar="SCALE",
                        help="only: bytes read per business day for each entity and route at this scale")
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.route_bytes:
        publish("ingest-routes", route_bytes_table(measure_route_bytes(args.route_bytes)))
        return
    results = [measure_size(int(n), args.repeats) for n in args.sizes.split(",")]
    lines = [
        "| invoices | XML MB | lxml parse-only /s | product parse+load /s | ratio | peak RSS MB (after imports) "
        "| HTTP end-to-end /s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['invoices']:,} | {r['megabytes']:.0f} | {r['baseline_per_s']:,.0f} | {r['product_per_s']:,.0f} "
            f"| {r['ratio']:.2f} | {r['peak_rss_mb']:.0f} ({r['rss_after_imports_mb']:.0f}) "
            f"| {r['http_end_to_end_per_s']:,.0f} |"
        )
    if len(results) >= 2:
        growth = results[-1]["peak_rss_mb"] / results[0]["peak_rss_mb"]
        lines.append(f"\npeak RSS growth {results[0]['invoices']:,} -> {results[-1]['invoices']:,}: {growth:.2f}x")
    publish("ingest", "\n".join(lines))


if __name__ == "__main__":
    main()
