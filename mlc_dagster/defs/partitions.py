"""Time partitions, in UTC: transactional windows of 5-60 minutes (hourly by default), daily reference."""

from __future__ import annotations

import os

import dagster as dg

PARTITIONS_START = os.environ.get("MLC_PARTITIONS_START", "2026-01-01")


def window_minutes() -> int:
    raw = os.environ.get("MLC_WINDOW_MINUTES", "60")
    try:
        minutes = int(raw)
    except ValueError:
        raise ValueError(f"MLC_WINDOW_MINUTES={raw!r}: expected a whole number of minutes from 5 to 60") from None
    if not 5 <= minutes <= 60 or 60 % minutes:
        raise ValueError(f"MLC_WINDOW_MINUTES={minutes}: expected 5 to 60 minutes dividing the hour "
                         "(5, 10, 15, 20, 30 or 60)")
    return minutes


def transactional_partitions() -> dg.TimeWindowPartitionsDefinition:
    minutes = window_minutes()
    cron = "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"
    return dg.TimeWindowPartitionsDefinition(
        start=f"{PARTITIONS_START}-00:00", fmt="%Y-%m-%d-%H:%M", cron_schedule=cron, timezone="UTC"
    )


def reference_partitions() -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=PARTITIONS_START, timezone="UTC")


TRANSACTIONAL = transactional_partitions()
REFERENCE = reference_partitions()
