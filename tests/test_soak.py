"""The chaos soak, short version (bench/soak.py --short): one simulated business day through Dagster on a
PostgreSQL instance while ingestion and delivery processes are SIGKILLed, PostgreSQL restarts under a run,
an analyst holds the snapshot open and Workday and Slack misbehave; then every invariant must hold.

The long version (3 days at scale 10) runs on demand: `.venv/bin/python bench/soak.py --days 3 --scale 10`.
"""

from __future__ import annotations

from pathlib import Path

from bench.soak import SoakConfig, run_soak, summary
from mlc_dagster.workday.entities import ENTITIES


def test_short_soak_loses_nothing_and_posts_every_alert_exactly_once(tmp_path: Path) -> None:
    config = SoakConfig.short()
    config.out = tmp_path / "soak.md"
    report = run_soak(config)
    print("\n".join(summary(report)))

    assert report.invariants, report.problems
    broken = [name for name, held in report.invariants.items() if not held]
    assert not broken, f"{broken}: {report.problems}"
    assert not report.budget_exhausted and report.ok

    # The chaos really happened: kills of both kinds, a restart under a running poll, faults served.
    assert len(report.kills) == config.kills
    assert {kill["kind"] for kill in report.kills} == {"ingestion", "delivery"}
    assert len(report.pg_restarts) == 1 and report.pg_restarts[0]["run_in_flight"]
    assert {kill["moment"] for kill in report.kills} == {"while working", "any moment"}
    assert report.reruns > 0
    assert sum(report.workday_faults_served.values()) > 0
    assert report.slack_stats["faults_injected"] > 0
    assert report.runs.get("FAILURE", 0) >= 1  # the killed runs are in the history, as failures

    # And it did real work: every window of the day, alerts delivered, the analyst read throughout.
    per_day = {"transactional": 24, "reference": 1}
    assert report.windows == sum(per_day[entity.cadence] for entity in ENTITIES.values())
    assert report.raw_rows["supplier_invoices"] > 0
    assert report.deliveries > 0 and report.slack_messages >= 1
    assert report.analyst_queries > 10 and not report.analyst_errors
    assert report.snapshots_published >= 2
    assert "PASS" in config.out.read_text()
