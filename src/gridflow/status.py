"""`gridflow status`: per source, what is loaded and what is not, from the plan (what upstream
has published in the window) and the data root's own files (markers, sidecars, logs, purge
reports). Nothing is queried in the stores, so it answers while a load holds the embedded one.

- newest complete cycle (its `cycle.json`) and its lag behind `now`;
- the window's files: loaded (a ClickHouse marker), invalid (loaded, and a validator found
  something wrong), failed (a log ending in an error, no marker), pending (published, not
  loaded yet), waiting (not published, with the next due);
- the publication latency observed: first fetch minus the cycle's time, median of the files;
- the last purge (files, bytes, rows) and the last error, with its log.

A source whose newest complete cycle is older than its `stale_after_hours` makes the exit code
1, so cron or a probe can alert.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from gridflow import host_health, paths, purge
from gridflow.plan import Plan


@dataclass
class SourceStatus:
    source: str
    newest_complete: str | None = None
    lag_hours: float | None = None
    loaded: int = 0
    pending: int = 0
    waiting: int = 0
    failed: int = 0
    invalid: int = 0  # loaded, and a validator found something wrong
    next_expected: str | None = None
    latency_minutes: float | None = None
    stale_after_hours: float | None = None
    stale: bool = False
    unreachable: str | None = None
    last_error: dict | None = None
    failures: list[dict] = field(default_factory=list)
    invalid_files: list[dict] = field(default_factory=list)


def _error_line(log: Path) -> str | None:
    try:
        lines = log.read_text(errors="replace").strip().splitlines()
    except OSError:
        return None
    found = [line for line in lines if ": error:" in line or line.startswith("Error")]
    return found[-1] if found else None


def _newest_complete(folder: Path) -> datetime | None:
    done = [paths.cycle_of(c.name) for c in folder.glob("*") if (c / "cycle.json").exists()]
    done = [c for c in done if c is not None]
    return max(done) if done else None


def _latency(folder: Path, limit: int = 200) -> float | None:
    """Median minutes from a cycle's time to its files' first fetch (the newest files)."""
    found = []
    for sidecar in sorted(folder.glob("*/raw/*.json"), reverse=True)[:limit]:
        cycle = paths.cycle_of(sidecar.parent.parent.name)
        try:
            fetched = datetime.fromisoformat(json.loads(sidecar.read_text())["fetched_at"])
        except (OSError, ValueError, KeyError):
            continue
        if cycle is not None:
            found.append((fetched - cycle).total_seconds() / 60)
    return round(statistics.median(found), 1) if found else None


def _last_error(folder: Path) -> dict | None:
    logs = sorted(folder.glob("*/logs/**/*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for log in logs[:500]:
        line = _error_line(log)
        if line:
            return {"log": str(log), "error": line}
    return None


def of_source(name: str, src: dict, root: Path, p: Plan, now: datetime) -> SourceStatus:
    folder = root / paths.SOURCES / name
    status = SourceStatus(name, stale_after_hours=src.get("stale_after_hours"))
    status.unreachable = p.unreachable.get(name)
    newest = _newest_complete(folder) if folder.is_dir() else None
    if newest is not None:
        status.newest_complete = newest.isoformat()
        status.lag_hours = round((now - newest).total_seconds() / 3600, 2)
    for target in (t for t in p.ready if t.source == name):
        names = dict(root=root, source=name, cycle=paths.cycle_id(target.cycle))
        step = paths.step_id(target.step)
        marker = Path(paths.MARKER.format(**names, step=step))
        if marker.exists():
            status.loaded += 1
            checked = json.loads(marker.read_text()).get("validation")
            if checked and not checked["passed"]:
                status.invalid += 1
                status.invalid_files.append(
                    {"marker": str(marker), "problems": checked["problems"]}
                )
            continue
        logs = Path(paths.CYCLE_DIR.format(**names)) / "logs"
        errors = [(log, _error_line(log)) for log in logs.glob(f"*/{step}.*log")]
        errors = [(log, line) for log, line in errors if line]
        if errors:
            status.failed += 1
            log, line = errors[0]
            status.failures.append({"cycle": names["cycle"], "step": step, "log": str(log)})
        else:
            status.pending += 1
    waiting = [t for t in p.waiting if t.source == name]
    status.waiting = len(waiting)
    if waiting:
        status.next_expected = min(t.expected_at for t in waiting).isoformat()
    if folder.is_dir():
        status.latency_minutes = _latency(folder)
        status.last_error = _last_error(folder)
    threshold = status.stale_after_hours
    status.stale = bool(threshold) and (status.lag_hours is None or status.lag_hours > threshold)
    return status


def last_purge(root: Path) -> dict | None:
    reports = sorted((root / purge.REPORTS).glob("*.json"))
    if not reports:
        return None
    report = json.loads(reports[-1].read_text())
    keys = ("purged_at", "files_deleted", "bytes_freed", "rows_deleted", "partitions_dropped")
    return {k: report.get(k) for k in keys} | {"failures": len(report.get("failures", []))}


def collect(cfg: dict, p: Plan, now: datetime) -> dict:
    root = Path(cfg["data_root"]).resolve()
    sources = [
        asdict(of_source(name, cfg["sources"][name], root, p, now))
        for name in cfg["sources_enabled"]
    ]
    host_health.use_data_root(root)
    hosts = host_health.hosts()
    return {
        "now": now.isoformat(),
        "sources": sources,
        "hosts": hosts,
        "last_purge": last_purge(root),
    }


def table(report: dict) -> str:
    """The report for people: one line per source, then what needs a look."""
    head = (
        "source",
        "newest complete",
        "lag h",
        "loaded",
        "invalid",
        "pending",
        "waiting",
        "failed",
        "next due",
        "latency min",
    )
    rows = [head]
    for s in report["sources"]:
        rows.append(
            (
                s["source"] + (" STALE" if s["stale"] else ""),
                s["newest_complete"] or "-",
                "-" if s["lag_hours"] is None else f"{s['lag_hours']:g}",
                str(s["loaded"]),
                str(s["invalid"]),
                str(s["pending"]),
                str(s["waiting"]),
                str(s["failed"]),
                s["next_expected"] or "-",
                "-" if s["latency_minutes"] is None else f"{s['latency_minutes']:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for s in report["sources"]:
        if s["unreachable"]:
            lines.append(f"{s['source']}: upstream unreachable: {s['unreachable']}")
        for bad in s["invalid_files"][:3]:
            lines.append(f"{s['source']}: invalid: {bad['marker']}: {'; '.join(bad['problems'])}")
        if s["last_error"]:
            lines.append(f"{s['source']}: last error: {s['last_error']['error']}")
            lines.append(f"  log: {s['last_error']['log']}")
    for host in report.get("hosts", []):
        if host["paused"]:
            lines.append(
                f"host {host['host']}: PAUSED until {host['open_until']} after "
                f"{host['failures']} failures in a row (last: {host['last_error']})"
            )
        elif host["retries"]:
            lines.append(f"host {host['host']}: {host['retries']} retries so far")
    purged = report["last_purge"]
    if purged:
        lines.append(
            f"last purge {purged['purged_at']}: {purged['files_deleted']} files, "
            f"{purged['bytes_freed']} bytes, {purged['rows_deleted']} rows"
            + (f", {purged['failures']} failed" if purged["failures"] else "")
        )
    else:
        lines.append("no purge has run yet")
    return "\n".join(lines)
