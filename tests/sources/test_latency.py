"""The waiting estimate learns from the files fetched: a step's median first-fetch latency in
the newest cycles replaces the schedule's fixed delay, once there are enough of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from gridflow import paths
from gridflow.sources import latency
from gridflow.sources.targets import Target

NOW = datetime(2025, 3, 12, 20, tzinfo=UTC)


def _fetched(root, cycle: datetime, step: str, after: timedelta) -> None:
    raw = root / paths.SOURCES / "gfs" / paths.cycle_id(cycle) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    stamp = (cycle + after).isoformat(timespec="seconds")
    (raw / f"{step}.grib2.json").write_text(json.dumps({"fetched_at": stamp}))


def test_a_waiting_file_is_expected_after_the_latency_seen(tmp_path):
    cycles = [datetime(2025, 3, 11, h, tzinfo=UTC) for h in (0, 6, 12, 18)]
    for cycle, minutes in zip(cycles, (230, 250, 240, 245), strict=True):
        _fetched(tmp_path, cycle, "f000", timedelta(minutes=minutes))
    _fetched(tmp_path, cycles[0], "f003", timedelta(minutes=300))  # one sample: not enough
    nxt = datetime(2025, 3, 12, 18, tzinfo=UTC)
    waiting = [
        Target("gfs", nxt, 0, nxt + timedelta(hours=3, minutes=45), "not due yet"),
        Target("gfs", nxt, 3, nxt + timedelta(hours=3, minutes=50), "not due yet"),
    ]
    first, second = latency.estimate(waiting, tmp_path, NOW)
    assert first.expected_at == nxt + timedelta(minutes=242.5)  # the median of the four
    assert second.expected_at == waiting[1].expected_at  # the schedule's delay stands


def test_fetches_after_a_pinned_now_say_nothing(tmp_path):
    cycles = [datetime(2025, 3, 11, h, tzinfo=UTC) for h in (0, 6, 12)]
    for cycle in cycles:
        _fetched(tmp_path, cycle, "f000", timedelta(days=600))  # fetched long after `now`
    nxt = datetime(2025, 3, 12, 18, tzinfo=UTC)
    waiting = [Target("gfs", nxt, 0, nxt + timedelta(hours=3, minutes=45), "not due yet")]
    assert latency.estimate(waiting, tmp_path, NOW) == waiting
