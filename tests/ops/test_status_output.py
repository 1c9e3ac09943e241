"""`gridflow status` for people and machines: short durations and one number format, latency on
the run's clock (a pinned clock gives no nonsense), JSON lines, and a `stale_after_hours` that
every shipped source sets so the stale exit code means something."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests_support import REPO

from gridflow import paths, sources
from gridflow.config import loading as config
from gridflow.ops import human, status
from gridflow.pipeline.plan import Plan
from gridflow.sources.forecast import ForecastFamily
from gridflow.sources.job_service import JobFamily
from gridflow.sources.targets import Target

NOW = datetime(2025, 3, 12, 12, tzinfo=UTC)
WALL = datetime(2026, 12, 6, 2, 30, tzinfo=UTC)  # when the files were really fetched


def _cycle(root: Path, source: str, cycle: datetime, steps: list[str], fetched: datetime):
    """A cycle as a run leaves it: each step's sidecar and load marker, and the cycle.json."""
    names = dict(root=root, source=source, cycle=paths.cycle_id(cycle))
    markers = []
    for step in steps:
        sidecar = Path(paths.SIDECAR.format(**names, step=step, fmt="grib2"))
        sidecar.parent.mkdir(parents=True, exist_ok=True)
        sidecar.write_text(json.dumps({"fetched_at": fetched.isoformat(timespec="seconds")}))
        marker = Path(paths.MARKER.format(**names, step=step))
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(json.dumps({"table": "grid_data", "rows": 1234567}))
        markers.append(str(marker))
    summary = Path(paths.CYCLE.format(**names))
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text(json.dumps({"rows": {}, "markers": markers, "invalid": []}))


def _report(root: Path, now: datetime, settings: dict, p: Plan | None = None) -> dict:
    cfg = {"data_root": str(root), "sources": settings, "sources_enabled": list(settings)}
    return status.collect(cfg, p or Plan([], [], {}), now)


def test_a_pinned_clock_gives_short_times_not_nonsense(tmp_path):
    _cycle(tmp_path, "gfs", NOW - timedelta(hours=6), ["f000", "f003"], WALL)
    _cycle(tmp_path, "gfs", NOW - timedelta(hours=12), ["f000", "f003"], WALL)
    water_year = datetime(2024, 10, 1, tzinfo=UTC)
    _cycle(tmp_path, "mcfcd", water_year, ["workbook"], WALL)
    settings = {"gfs": {"stale_after_hours": 18}, "mcfcd": {"stale_after_hours": 8904}}
    cycles = (NOW - timedelta(hours=12), NOW - timedelta(hours=6))
    ready = [Target("gfs", c, step, c) for c in cycles for step in (0, 3)]
    due = NOW + timedelta(hours=3, minutes=45)
    p = Plan(ready, [Target("gfs", NOW, 0, due, "not due yet")], {})
    report = _report(tmp_path, NOW, settings, p)
    gfs = report["sources"][0]
    # fetched (on the wall clock) long after the pinned clock: for that run, at `now`
    assert gfs["latency_seconds"] == 9 * 3600  # median of 6 h and 12 h, not 912,845 minutes
    assert gfs["lag_seconds"] == 6 * 3600
    table = status.table(report)
    lines = table.splitlines()
    assert lines[0].split() == [
        "source", "newest", "complete", "lag", "loaded", "invalid", "pending", "waiting",
        "failed", "next", "due", "latency", "stale", "after",
    ]  # fmt: skip
    assert lines[1].split() == [
        "gfs", "2025-03-12", "06:00Z", "6h00m", "4", "0", "0", "1", "0", "2025-03-12",
        "15:45Z", "9h00m", "18h00m",
    ]  # fmt: skip
    gauges = lines[2].split()
    assert gauges[:4] == ["mcfcd", "2024-10-01", "00:00Z", "162d12h"]  # not 3,900 h
    assert gauges[-1] == "371d0h"
    assert not re.search(r"\d{4,}", table.replace("2025-03-12", "").replace("2024-10-01", ""))


def test_status_json_is_a_record_per_source_then_a_summary(tmp_path):
    _cycle(tmp_path, "gfs", NOW - timedelta(hours=30), ["f000"], WALL)
    report = _report(tmp_path, NOW, {"gfs": {"stale_after_hours": 18}, "hrrr": {}})
    lines = [json.loads(line) for line in status.json_lines(report)]
    assert [r.get("source") for r in lines[:-1]] == ["gfs", "hrrr"]
    assert lines[0]["stale"] and lines[0]["lag_seconds"] == 30 * 3600
    assert not lines[1]["stale"]  # no threshold: never stale
    assert lines[-1]["summary"] is True and lines[-1]["stale"] == ["gfs"]


def test_a_cycle_with_nothing_loaded_is_not_complete(tmp_path):
    _cycle(tmp_path, "gfs", NOW - timedelta(hours=6), ["f000"], WALL)
    _cycle(tmp_path, "gfs", NOW, [], WALL)  # what a backfill of an unpublished cycle leaves
    gfs = _report(tmp_path, NOW, {"gfs": {"stale_after_hours": 18}})["sources"][0]
    assert gfs["newest_complete"] == (NOW - timedelta(hours=6)).isoformat()
    nothing = _report(tmp_path / "empty", NOW, {"gfs": {"stale_after_hours": 18}})
    assert nothing["sources"][0]["stale"]  # nothing complete at all: stale


@pytest.mark.parametrize(
    "seconds, shown",
    [(0, "0s"), (59, "59s"), (600, "10m"), (7500, "2h05m"), (273600, "3d4h"), (-3600, "-1h00m")],
)
def test_durations_are_short(seconds, shown):
    assert human.duration(seconds) == shown


def test_sizes_and_counts_have_one_format():
    assert [human.size(n) for n in (512, 3400, 12_000_000, 1_234_000_000)] == [
        "512 B", "3.4 kB", "12.0 MB", "1.2 GB",
    ]  # fmt: skip
    assert human.count(1234567) == "1,234,567"


def _shipped() -> dict:
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    names = sorted(p.stem for p in (REPO / "config" / "sources").glob("*.yaml"))
    return config.resolve({**raw, "sources_enabled": names}, REPO)


def _healthy_lag(family) -> timedelta | None:
    """The largest lag a healthy source shows: its longest gap between cycles, plus the time
    until the last file of a cycle is published."""
    hours = sorted(family.src.get("cycles") or [])
    if not hours or not isinstance(family, ForecastFamily | JobFamily):
        return None
    gap = max((b - a) % 24 or 24 for a, b in zip(hours, [*hours[1:], hours[0]], strict=True))
    cycle = datetime(2025, 3, 12, hours[0], tzinfo=UTC)
    if isinstance(family, ForecastFamily):
        from gridflow.sources import timetable

        delay = max(timetable.expected_at(family.src, cycle, s) for s in family.steps(cycle))
    else:
        delay = family.due(cycle)
    return timedelta(hours=gap) + (delay - cycle)


def test_every_shipped_source_sets_a_stale_threshold_a_healthy_source_stays_under():
    cfg = _shipped()
    for name, src in cfg["sources"].items():
        threshold = src.get("stale_after_hours")
        assert threshold and threshold > 0, name
        healthy = _healthy_lag(sources.source(name, cfg))
        if healthy is not None:
            assert timedelta(hours=threshold) > healthy, (name, threshold, healthy)


def test_an_unreachable_source_shows_what_is_loaded_and_exits_3(tmp_path):
    """Upstream down: the loaded files are still counted from their markers, what upstream has
    published is unknown (not 0), the row says UNREACHABLE and the exit code is 3."""
    import subprocess

    root = tmp_path / "data"
    _cycle(root, "gfs", NOW - timedelta(hours=6), ["f000", "f003"], WALL)
    _cycle(root, "gfs", NOW - timedelta(hours=12), ["f000"], WALL)
    _cycle(root, "gfs", NOW - timedelta(hours=48), ["f000"], WALL)  # before the window
    settings = tmp_path / "c.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "data_root": str(root),
                "sources_enabled": ["gfs"],
                "sources": {"gfs": {"url": "file:///nonexistent", "window_hours": 12}},
            }
        )
    )
    args = ["gridflow", "status", "--configfile", str(settings), "--project", str(REPO)]
    args += ["--now", f"{NOW:%Y-%m-%dT%H:%M:%SZ}"]
    people = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert people.returncode == 3, people.stderr
    row = people.stdout.splitlines()[1].split()
    assert row[:2] == ["gfs", "UNREACHABLE"]
    assert row[5:10] == ["3", "0", "-", "-", "-"]  # loaded, invalid, pending, waiting, failed
    machine = subprocess.run([*args, "--json"], capture_output=True, text=True, timeout=120)
    assert machine.returncode == 3, machine.stderr
    gfs, summary = (json.loads(line) for line in machine.stdout.splitlines())
    assert (gfs["loaded"], gfs["pending"], gfs["waiting"], gfs["failed"]) == (3, None, None, None)
    assert "nonexistent" in gfs["unreachable"] and summary["unreachable"] == ["gfs"]
    # the metrics give what is known: loaded, not a pending count of 0
    from prometheus_client import generate_latest

    from gridflow.ops import metric_counts, metrics

    text = generate_latest(metrics.registry(metric_counts.Counts(), {"sources": [gfs]})).decode()
    assert 'gridflow_files{source="gfs",state="loaded"} 3.0' in text
    assert 'state="pending"' not in text


def test_loaded_files_count_whatever_the_listing_says(tmp_path):
    """A loaded file upstream no longer lists (the plan did not return it) is still loaded."""
    _cycle(tmp_path, "gfs", NOW - timedelta(hours=6), ["f000", "f003"], WALL)
    cycle = NOW - timedelta(hours=6)
    p = Plan([Target("gfs", cycle, 0, cycle), Target("gfs", cycle, 6, cycle)], [], {})
    settings = {"gfs": {"stale_after_hours": 18, "window_hours": 12}}
    gfs = _report(tmp_path, NOW, settings, p)["sources"][0]
    assert (gfs["loaded"], gfs["pending"]) == (2, 1)  # f000 and f003 loaded, f006 not yet
    assert status.exit_code({"sources": [gfs]}) == 0
