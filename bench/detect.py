"""bench/detect: one window's detection against the same rules over the whole history.

    .venv/bin/python bench/detect.py                     # 1M invoices, 1M payments, 1M journal lines
    .venv/bin/python bench/detect.py --rows 200000       # quicker

A synthetic history is written straight into a fresh warehouse (raw tables, as polls leave them):
N invoices, N payments with one remittance each, N journal lines (4 per journal) spread over 60 days of
hourly windows, and a chart of accounts. Each rule then runs (a) for one ordinary window of the last day
and (b) once over every window of the history, on the same connection; the report gives both times
and their ratio. The first window of a day, where overdue_payment also sweeps every unpaid invoice, is
reported on its own line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.common import publish  # noqa: E402
from mlc_dagster.alerts import RULES, run_rule, window_params  # noqa: E402
from mlc_dagster.alerts.diffs import diff_window  # noqa: E402
from mlc_dagster.warehouse import Warehouse  # noqa: E402
from mlc_dagster.workday.entities import ENTITIES  # noqa: E402

DAYS = 60
START = datetime(2026, 10, 1)
PARAMS = {"min_amount": 100000, "min_days": 1, "intercompany_accounts": []}


def build_history(warehouse: Warehouse, rows: int) -> None:
    windows = DAYS * 24
    with warehouse.session() as con:
        con.execute("SET threads = 2")
        # Invoices: one version each, spread evenly over the windows.
        con.execute(f"""
            INSERT INTO raw.supplier_invoices
            SELECT TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows}) AS window_start,
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows} + 1), TIMESTAMP '{START}'
                       + INTERVAL 1 HOUR * (i % {windows} + 1),
                   md5('inv' || i), 'SI-' || i, 'INV-' || (i * 7919 % 1000003), 'SUP-' || (i % 5000),
                   'Supplier ' || (i % 5000), ['ACME_US', 'ACME_UK', 'ACME_DE'][1 + i % 3],
                   DATE '{START.date()}' + CAST(i % {DAYS} AS INTEGER),
                   DATE '{START.date()}' + CAST(i % {DAYS} AS INTEGER) + 30,
                   ['USD', 'GBP', 'EUR'][1 + i % 3], CAST((i % 50000) + 0.25 AS DECIMAL(18,4)),
                   CASE WHEN i % 5 = 0 THEN 'DRAFT' ELSE 'APPROVED' END,
                   CASE WHEN i % 4 = 0 THEN 'UNPAID' ELSE 'PAID' END,
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows}) + INTERVAL 5 MINUTE,
                   i % 97 = 0, 'memo', md5('sup' || (i % 5000)), NULL, 'NET_30', 'invoice_terms'
            FROM range({rows}) t(i)""")
        con.execute(f"""
            INSERT INTO raw.supplier_invoice_lines
            SELECT TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows}), md5('inv' || i), 'SIL-' || i, 1,
                   'item', 'SC_IT', 'IT Services', 1, CAST((i % 50000) + 0.25 AS DECIMAL(18,4)),
                   CAST((i % 50000) + 0.25 AS DECIMAL(18,4)), NULL, 'CC100'
            FROM range({rows}) t(i)""")
        con.execute(f"""
            INSERT INTO raw.payments
            SELECT TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows}),
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows} + 1),
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows} + 1), md5('pay' || i), 'PAY-' || i,
                   DATE '{START.date()}' + CAST(i % {DAYS} AS INTEGER),
                   'SR-' || (i % {windows} // 12), 'Complete', 'REF-' || i, CAST((i % 50000) + 0.25 AS DECIMAL(18,4)),
                   ['USD', 'GBP', 'EUR'][1 + i % 3], ['ACME_US', 'ACME_UK', 'ACME_DE'][1 + i % 3],
                   'SUP-' || (i % 5000), 'Supplier ' || (i % 5000),
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows}) + INTERVAL 7 MINUTE
            FROM range({rows}) t(i)""")
        con.execute(f"""
            INSERT INTO raw.payment_remittances
            SELECT TIMESTAMP '{START}' + INTERVAL 1 HOUR * (i % {windows}), md5('pay' || i), 'Supplier_Invoice',
                   'SI-' || i, 'SI-' || i, DATE '{START.date()}', CAST((i % 50000) + 0.25 AS DECIMAL(18,4)),
                   CAST((i % 50000) + 0.25 AS DECIMAL(18,4)), 0, 0
            FROM range({rows}) t(i)""")
        journals = rows // 4
        con.execute(f"""
            INSERT INTO raw.journal_entries
            SELECT TIMESTAMP '{START}' + INTERVAL 1 HOUR * (j % {windows}),
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (j % {windows} + 1),
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (j % {windows} + 1), md5('je' || j), 'JE-' || j,
                   'POSTED', ['ACME_US', 'ACME_UK', 'ACME_DE'][1 + j % 3], 'USD',
                   DATE '{START.date()}' + CAST(j % {DAYS} AS INTEGER), 'Manual', 'memo', 200, 200, j % 10 = 0,
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (j % {windows}) + INTERVAL 9 MINUTE,
                   TIMESTAMP '{START}' + INTERVAL 1 HOUR * (j % {windows}) + INTERVAL 9 MINUTE
            FROM range({journals}) t(j)""")
        con.execute(f"""
            INSERT INTO raw.journal_lines
            SELECT TIMESTAMP '{START}' + INTERVAL 1 HOUR * (j % {windows}), md5('je' || j), n,
                   ['ACME_US', 'ACME_UK', 'ACME_DE'][1 + j % 3], ['6100', '2000', '1500', '2500'][n],
                   CASE WHEN n % 2 = 1 THEN 100 END, CASE WHEN n % 2 = 0 THEN 100 END, 'USD', NULL, 'CC100'
            FROM range({journals}) t(j), range(1, 5) u(n)""")
        con.execute(f"""
            INSERT INTO raw.account_sets VALUES (TIMESTAMP '{START}', TIMESTAMP '{START}' + INTERVAL 1 DAY,
                TIMESTAMP '{START}' + INTERVAL 1 DAY, md5('coa'), 'ACME_COA', 'Chart', TIMESTAMP '{START}')""")
        con.execute(f"""
            INSERT INTO raw.ledger_accounts
            SELECT TIMESTAMP '{START}', md5('coa'), a, 'Account ' || a, 'Expense', false
            FROM (VALUES ('6100'), ('2000'), ('1500'), ('2500')) v(a)""")
        for entity in ENTITIES.values():
            if entity.tracked:  # the invoice status rule reads the diffs of its window
                diff_window(warehouse, entity, START + timedelta(days=DAYS - 1, hours=14))
        con.execute("CHECKPOINT")


def timed(warehouse: Warehouse, rule: str, first: datetime, last: datetime, repeats: int) -> float:
    best = float("inf")
    with warehouse.session() as con:
        for _ in range(repeats):
            started = time.perf_counter()
            run_rule(con, RULES[rule], {**window_params(first, last), **PARAMS})
            best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mlc-bench-detect-"))
    warehouse = Warehouse(folder / "history.duckdb")
    started = time.perf_counter()
    build_history(warehouse, args.rows)
    print(f"history of {args.rows:,} invoices/payments/journal lines built in {time.perf_counter() - started:.1f}s")

    last_day = START + timedelta(days=DAYS - 1)
    one = last_day + timedelta(hours=14)
    first, final = START, START + timedelta(days=DAYS, hours=-1)
    lines = ["| rule | one window (ms) | whole history (ms) | ratio |", "|---|---|---|---|"]
    window_total = history_total = 0.0
    for name in RULES:
        window_s = timed(warehouse, name, one, one, args.repeats)
        history_s = timed(warehouse, name, first, final, args.repeats)
        window_total += window_s
        history_total += history_s
        lines.append(f"| {name} | {window_s * 1000:.1f} | {history_s * 1000:.1f} | {history_s / window_s:.0f}x |")
    lines.append(f"| **all rules** | {window_total * 1000:.1f} | {history_total * 1000:.1f} | "
                 f"**{history_total / window_total:.0f}x** |")
    sweep = last_day
    sweep_s = timed(warehouse, "overdue_payment", sweep, sweep, args.repeats)
    lines.append(f"\noverdue_payment in the day's first window (sweeps every unpaid invoice): {sweep_s * 1000:.1f} ms")
    publish("detect", "\n".join(lines))


if __name__ == "__main__":
    main()
