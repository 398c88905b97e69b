"""`bench/run --quick`: every figure measured for real at small sizes, written as the report's table."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from bench.report import parse_table
from mlc_dagster.workday.entities import ENTITIES

ROOT = Path(__file__).resolve().parents[1]

NUMBER = re.compile(r"[-+]?[0-9][0-9,]*(?:\.[0-9]+)?")


def number(cell: str) -> float:
    found = NUMBER.search(cell)
    assert found, f"no number in {cell!r}"
    return float(found.group().replace(",", ""))


def test_quick_run_writes_one_row_per_figure_with_met_matching_value_and_target(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    result = subprocess.run([str(ROOT / "bench" / "run"), "--quick", "--out", str(report)], cwd=ROOT,
                            capture_output=True, text=True, timeout=1200)
    assert report.exists(), result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    assert "| figure | value | target | met |" in text
    rows = parse_table(text)
    figures = [row["figure"] for row in rows]
    for prefix in ("ingest", "memory", "backfill", "delivery", "latency", "detection"):
        assert any(f.startswith(prefix) for f in figures), f"no {prefix} row in {figures}"
    for row in rows:
        assert set(row) == {"figure", "value", "target", "met"}
        assert row["met"] in {"yes", "no"}
        value, target = number(row["value"]), number(row["target"])
        assert value > 0, row
        sign = row["target"][0]
        assert sign in "≥≤<", row
        met = value >= target if sign == "≥" else value <= target if sign == "≤" else value < target
        assert row["met"] == ("yes" if met else "no"), row
    # The exit status says whether every target was met; the figures are saved beside the report.
    assert result.returncode == (0 if all(row["met"] == "yes" for row in rows) else 1), result.stderr[-3000:]
    assert report.with_suffix(".json").exists()
    # Bytes per business day for every entity's every route (the transaction log included: v46).
    routes = json.loads(report.with_suffix(".json").read_text())["routes"]
    assert {(r["entity"], r["route"]) for r in routes} == {
        (entity.name, route.kind) for entity in ENTITIES.values() for route in entity.routes}
    assert "## Bytes read from Workday per business day, by route" in text
    assert (tmp_path / "report-memory.png").exists() or (tmp_path / "report-memory.svg").exists()
