"""One delivery pass as its own process, without Dagster: `python -m mlc_dagster.slack --db FILE ...`.

For operators who want to drain the outbox outside Dagster and for the crash tests (a process killed
with SIGKILL at any moment must leave an outbox that the next pass completes without a duplicate).
Prints `ready <run id>` before it starts, then the outcome as one JSON line. Exit status 0, 1 when
some deliveries failed, 3 when Slack refused the token.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from datetime import timedelta

from ..warehouse import Warehouse
from .sender import DeliverySettings, SlackAuthError, SlackDelivery, make_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlc_dagster.slack", description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("MLC_DUCKDB_PATH", "data/mlc.duckdb"))
    parser.add_argument("--api-url", default=os.environ.get("SLACK_API_URL", "https://slack.com/api/"))
    parser.add_argument("--token", default=os.environ.get("SLACK_BOT_TOKEN", ""))
    parser.add_argument("--run-id", default=None)
    parser.add_argument("--seconds-per-message", type=float, default=1.0)
    parser.add_argument("--stale-after", type=float, default=120.0, help="lease lapse, seconds")
    parser.add_argument("--heartbeat", type=float, default=10.0, help="seconds between lease heartbeats")
    parser.add_argument("--digest-threshold", type=int, default=None)
    parser.add_argument("--digest-batch", type=int, default=None)
    parser.add_argument("--ops-channel", default=None)
    parser.add_argument("--timeout", type=int, default=30, help="Slack HTTP timeout, seconds")
    args = parser.parse_args(argv)
    run_id = args.run_id or f"proc-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    settings = DeliverySettings.from_env(
        seconds_per_message=args.seconds_per_message, stale_after=timedelta(seconds=args.stale_after),
        heartbeat_seconds=args.heartbeat, digest_threshold=args.digest_threshold, digest_batch=args.digest_batch,
        ops_channel=args.ops_channel, backoff_seconds=min(0.5, args.seconds_per_message or 0.5))
    delivery = SlackDelivery(Warehouse(args.db), make_client(args.token, args.api_url, timeout=args.timeout),
                             run_id, settings)
    print(f"ready {run_id}", flush=True)
    try:
        report = delivery.deliver_pending()
    except SlackAuthError as exc:
        print(f"python -m mlc_dagster.slack: {exc}", file=sys.stderr)
        return 3
    print(json.dumps({"run_id": run_id, "claimed": report.claimed, "posted": len(report.posted),
                      "messages": report.messages, "digests": report.digests, "failed": len(report.failed),
                      "released": report.released, "reconciled": report.reconciled,
                      "rate_limited": report.rate_limited}), flush=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
