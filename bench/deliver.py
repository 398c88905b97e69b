"""bench/deliver: Slack delivery against the Slack sandbox enforcing the real limit (1 message/s per channel).

    .venv/bin/python bench/deliver.py                        # 5 channels x 30 alerts, then a 1,000-alert burst
    .venv/bin/python bench/deliver.py --per-channel 10 --burst 200          # quicker
    .venv/bin/python bench/deliver.py --workspace-per-minute 200 --channels 5  # plus a workspace ceiling

(a) Throughput: `--channels` channels with `--per-channel` alerts each, each alert its own message (digests
    off). The ratio is messages per second achieved divided by channels x 1/s, over the whole delivery run
    (claim, posting and recording included) and in steady state (first to last message of each channel).
(b) Burst: `--burst` alerts for one channel at once, with the default digest settings: the time until the
    digest is in the channel and until every alert is in its thread, each alert checked exactly once.
429s are counted by the sandbox; none may reach the outbox as a failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlc_dagster.alerts import alert_id  # noqa: E402
from mlc_dagster.sandbox.slack import SlackSandbox  # noqa: E402
from mlc_dagster.slack.messages import DIGEST_EVENT_TYPE, alerts_carried  # noqa: E402
from mlc_dagster.slack.outbox import NewAlert, enqueue  # noqa: E402
from mlc_dagster.slack.sender import DeliveryReport, SlackDelivery, make_client  # noqa: E402
from mlc_dagster.warehouse import Warehouse  # noqa: E402

WINDOW = (datetime(2026, 11, 29, 10), datetime(2026, 11, 29, 11))


def seed(warehouse: Warehouse, channels: dict[str, int], start: int = 0) -> int:
    alerts = []
    n = start
    for channel, count in channels.items():
        for _ in range(count):
            n += 1
            alerts.append(NewAlert(
                alert_id=alert_id("high_value_invoice", f"bench|{n}"), rule="high_value_invoice",
                entity="supplier_invoices", entity_wid=f"WID{n:09d}", entity_id=f"SI-{n:07d}",
                details={"invoice_id": f"SI-{n:07d}", "invoice_number": f"INV-{n}", "amount": f"{100000 + n}.00",
                         "currency": "USD", "supplier_name": f"Supplier {n % 97}", "supplier_id": f"SUP-{n % 97}",
                         "company_id": "ACME_US", "due_date": "2026-12-29", "approval_status": "APPROVED",
                         "payment_status": "UNPAID"},
                channels=[channel], window_start=WINDOW[0], window_end=WINDOW[1]))
    return enqueue(warehouse, alerts)


def in_slack(slack: SlackSandbox) -> Counter[str]:
    return Counter(alert for message in slack.messages() for alert, _ in alerts_carried(message))


def run(slack: SlackSandbox, db: Path, **settings: Any) -> tuple[DeliveryReport, float, float]:
    delivery = SlackDelivery(Warehouse(db), make_client(slack.bot_token, slack.api_url), "bench", **settings)
    wall, mono = time.time(), time.monotonic()
    report = delivery.deliver_pending()
    return report, wall, time.monotonic() - mono


def throughput(channels: int, per_channel: int, workspace: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, \
            SlackSandbox(channels=[f"bench-{i}" for i in range(channels)],
                         workspace_messages_per_minute=workspace) as slack:
        db = Path(folder) / "mlc.duckdb"
        seed(Warehouse(db), {f"#bench-{i}": per_channel for i in range(channels)})
        report, _, elapsed = run(slack, db, digest_threshold=per_channel + 1)
        posted = slack.messages()
        by_channel: dict[str, list[float]] = {}
        for message in posted:
            by_channel.setdefault(message["channel_name"], []).append(message["received_at"])
        steady = [(len(v) - 1) / (max(v) - min(v)) for v in by_channel.values() if len(v) > 1 and max(v) > min(v)]
        counts = in_slack(slack)
        return {
            "channels": channels, "per_channel": per_channel, "messages": len(posted), "seconds": elapsed,
            "ratio": len(posted) / elapsed / channels,
            "steady_ratio": sum(steady) / len(steady) if steady else 0.0,
            "ratelimited": slack.stats["ratelimited"], "failed": len(report.failed),
            "exactly_once": len(counts) == channels * per_channel and set(counts.values()) == {1},
            "workspace_pauses": report.workspace_pauses,
        }


def burst(size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder, SlackSandbox() as slack:
        db = Path(folder) / "mlc.duckdb"
        seed(Warehouse(db), {"#finance-alerts": size})
        report, started, elapsed = run(slack, db)
        messages = slack.messages("finance-alerts")
        digest = [m for m in messages if (m["metadata"] or {}).get("event_type") == DIGEST_EVENT_TYPE]
        counts = in_slack(slack)
        return {
            "alerts": size, "seconds": elapsed, "messages": len(messages),
            "digest_after": (digest[0]["received_at"] - started) if digest else None,
            "represented_after": max(m["received_at"] for m in messages) - started,
            "ratelimited": slack.stats["ratelimited"], "failed": len(report.failed),
            "exactly_once": len(counts) == size and set(counts.values()) == {1},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=5)
    parser.add_argument("--per-channel", type=int, default=30)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--workspace-per-minute", type=int, default=None,
                        help="also enforce a workspace-wide ceiling in the sandbox")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "deliver.md"))
    args = parser.parse_args()

    a = throughput(args.channels, args.per_channel, args.workspace_per_minute)
    print(f"throughput: {a}", flush=True)
    b = burst(args.burst)
    print(f"burst: {b}", flush=True)
    ceiling = f", workspace ceiling {args.workspace_per_minute}/min" if args.workspace_per_minute else ""
    lines = [
        "# bench/deliver",
        "",
        f"Slack sandbox enforcing 1 message/s per channel{ceiling}; `{' '.join(sys.argv[1:]) or 'defaults'}`.",
        "",
        "| (a) throughput | value |", "|---|---|",
        f"| channels x alerts | {a['channels']} x {a['per_channel']} = {a['messages']} messages |",
        f"| delivery run | {a['seconds']:.1f} s |",
        f"| ratio, whole run (msg/s ÷ channels × 1/s) | **{a['ratio']:.3f}** |",
        f"| ratio, steady state | {a['steady_ratio']:.3f} |",
        f"| 429s seen / failed deliveries | {a['ratelimited']} / {a['failed']} |",
        f"| workspace-wide pauses | {a['workspace_pauses']} |",
        f"| every alert exactly once | {a['exactly_once']} |",
        "",
        "| (b) burst in one channel | value |", "|---|---|",
        f"| alerts | {b['alerts']} |",
        f"| digest in the channel after | {b['digest_after']:.1f} s |",
        f"| every alert in its thread after | **{b['represented_after']:.1f} s** |",
        f"| Slack messages (digest + thread replies) | {b['messages']} |",
        f"| 429s seen / failed deliveries | {b['ratelimited']} / {b['failed']} |",
        f"| every alert exactly once | {b['exactly_once']} |",
        "",
    ]
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    ok = a["ratio"] >= 0.9 and a["failed"] == 0 and b["failed"] == 0 and b["represented_after"] <= 90 \
        and a["exactly_once"] and b["exactly_once"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
