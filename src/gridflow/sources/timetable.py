"""When a source's files exist: its cycles, forecast hours, publication times and retention.

The catch-up window and the retention cutoff come from the same clock (`config.now`), so what the
schedule asks for and what the purge removes can never overlap.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gridflow.errors import UsageError

# No schedule forecasts further (ECMWF's extended range is 1104 h); a bound keeps a typo such as
# `0-99999999999` from building a list that exhausts memory.
LAST_HOUR = 9999


def parse_hours(spec: str) -> list[int]:
    """ "0-120,123-384/3" -> [0, 1, ..., 120, 123, 126, ..., 384]; a part that names no hour
    (`10-2`, `0-120/0`, an empty one) or one past LAST_HOUR is a configuration error."""
    hours: set[int] = set()
    for part in str(spec).split(","):
        span, _, stride = part.partition("/")
        first, _, last = span.partition("-")
        try:
            start, end, step = int(first), int(last or first), int(stride or 1)
        except ValueError:
            what = "is not HOUR, FIRST-LAST or FIRST-LAST/STEP"
            raise UsageError(f"hours {spec!r}: {part!r} {what}") from None
        if step < 1 or end < start:
            raise UsageError(f"hours {spec!r}: {part!r} names no hour")
        if end > LAST_HOUR:
            raise UsageError(f"hours {spec!r}: {part!r} goes past hour {LAST_HOUR}")
        hours.update(range(start, end + 1, step))
    return sorted(hours)


def forecast_hours(src: dict, cycle: datetime) -> list[int]:
    by_cycle = src.get("forecast_hours_by_cycle") or {}
    return parse_hours(by_cycle.get(str(cycle.hour), src["forecast_hours"]))


def cycles_in_window(src: dict, now: datetime) -> list[datetime]:
    """Cycles whose time lies in [now - window_hours, now], oldest first."""
    start = now - timedelta(hours=src["window_hours"])
    hour = now.replace(minute=0, second=0, microsecond=0)
    cycles = []
    while hour >= start:
        if hour.hour in src["cycles"]:
            cycles.append(hour)
        hour -= timedelta(hours=1)
    return sorted(cycles)


def expected_at(src: dict, cycle: datetime, step: int) -> datetime:
    minutes = src["publish_delay_minutes"] + step * src.get("publish_minutes_per_step", 0)
    return cycle + timedelta(minutes=minutes)


def retention_cutoff(src: dict, now: datetime) -> datetime:
    """Cycles older than this are past retention."""
    return now - timedelta(hours=src["retention_hours"])
