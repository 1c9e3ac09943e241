"""`gridflow status`: per source, what is loaded and what is not, from the plan (what upstream
has published in the window) and the data root's own files (markers, sidecars, logs, purge
reports). Nothing is queried in the stores, so it answers while a load holds the embedded one.

- newest complete cycle (its `cycle.json`, with something loaded) and its lag behind `now`;
- the window's files: loaded (a ClickHouse marker of a cycle in the window, whatever upstream
  says now), invalid (loaded, and a validator found something wrong), failed (a log ending in
  an error, no marker), pending (published, not loaded yet), waiting (not published, with the
  next due); of an unreachable source only what the data root holds is known, the rest is
  None (`-` in the table);
- the publication latency observed: first fetch minus the cycle's time, median of the files,
  on the run's clock (gridflow.sources.latency);
- the last purge (files, bytes, rows) and the last error, with its log.

A source whose upstream cannot be reached makes the exit code 3; otherwise one whose newest
complete cycle is older than its `stale_after_hours` (every shipped source sets one) makes it 1,
so cron or a probe can alert. The table prints numbers and times
in one format (gridflow.ops.human); `--json` gives the same in seconds and ISO times.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from gridflow import errors, paths
from gridflow.config import loading as config
from gridflow.net import host_health
from gridflow.ops import human
from gridflow.pipeline import purge
from gridflow.pipeline.load_marker import LoadMarker
from gridflow.pipeline.plan import Plan
from gridflow.pipeline.sidecar import Sidecar
from gridflow.sources import latency


@dataclass
class SourceStatus:
    source: str
    newest_complete: str | None = None
    lag_seconds: float | None = None
    loaded: int = 0
    # what upstream has published: unknown (None) while it cannot be reached
    pending: int | None = 0
    waiting: int | None = 0
    failed: int | None = 0
    invalid: int = 0  # loaded, and a validator found something wrong
    next_expected: str | None = None
    latency_seconds: float | None = None
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


def _has_loads(cycle_dir: Path) -> bool:
    """A cycle is complete when its `cycle.json` lists loads: one made for a cycle with
    nothing published (a backfill asked too early) is not."""
    try:
        return bool(json.loads((cycle_dir / "cycle.json").read_text()).get("markers"))
    except (OSError, ValueError, AttributeError):
        return False


def _newest_complete(folder: Path) -> datetime | None:
    cycles = sorted((c for c in folder.iterdir() if paths.cycle_of(c.name)), reverse=True)
    return next((paths.cycle_of(c.name) for c in cycles if _has_loads(c)), None)


def _latency(root: Path, source: str, now: datetime, limit: int = 200) -> float | None:
    """Median seconds from a cycle's time to its files' first fetch (the newest files), on the
    run's clock."""
    found = []
    for sidecar in sorted(paths.sidecars(root, source), reverse=True)[:limit]:
        cycle = paths.cycle_of(sidecar.parent.parent.name)
        try:
            fetched = datetime.fromisoformat(Sidecar.read(sidecar).fetched_at)
        except (OSError, ValueError, TypeError):  # TypeError: no fetched_at
            continue
        took = latency.on_the_clock(cycle, fetched, now) if cycle is not None else None
        if took is not None:
            found.append(took.total_seconds())
    return round(statistics.median(found)) if found else None


def _last_error(folder: Path) -> dict | None:
    logs = sorted(folder.glob("*/logs/**/*.log"), key=lambda p: p.stat().st_mtime, reverse=True)
    for log in logs[:500]:
        line = _error_line(log)
        if line:
            return {"log": str(log), "error": line}
    return None


def _markers_in_window(folder: Path, src: dict, now: datetime) -> set[Path]:
    """The load markers of the cycles in the source's window ([now - window_hours, now], as
    the plan's): what is loaded, whatever upstream says now or whether it answers at all."""
    if src.get("window_hours") is None or not folder.is_dir():
        return set()
    start = now - timedelta(hours=src["window_hours"])
    found = set()
    for cycle_dir in folder.iterdir():
        cycle = paths.cycle_of(cycle_dir.name)
        if cycle is not None and start <= cycle <= now:
            found.update(paths.cycle_clickhouse_markers(cycle_dir))
    return found


def _validation(marker: Path) -> dict | None:
    try:
        return LoadMarker.read(marker).validation
    except (OSError, ValueError, AttributeError):  # gone since it was listed (a purge)
        return None


def of_source(name: str, src: dict, root: Path, p: Plan, now: datetime) -> SourceStatus:
    folder = root / paths.SOURCES / name
    status = SourceStatus(name, stale_after_hours=src.get("stale_after_hours"))
    status.unreachable = p.unreachable.get(name)
    newest = _newest_complete(folder) if folder.is_dir() else None
    if newest is not None:
        status.newest_complete = newest.isoformat()
        status.lag_seconds = round((now - newest).total_seconds())
    loaded = _markers_in_window(folder, src, now)
    for target in (t for t in p.ready if t.source == name):
        names = dict(root=root, source=name, cycle=paths.cycle_id(target.cycle))
        step = paths.step_id(target.step)
        marker = Path(paths.MARKER.format(**names, step=step))
        if marker.exists():
            loaded.add(marker)
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
    for marker in sorted(loaded):
        status.loaded += 1
        checked = _validation(marker)
        if checked and not checked["passed"]:
            status.invalid += 1
            status.invalid_files.append({"marker": str(marker), "problems": checked["problems"]})
    waiting = [t for t in p.waiting if t.source == name]
    status.waiting = len(waiting)
    if waiting:
        status.next_expected = min(t.expected_at for t in waiting).isoformat()
    if status.unreachable:  # no plan: what upstream has published is not known
        status.pending = status.waiting = status.failed = None
    if folder.is_dir():
        status.latency_seconds = _latency(root, name, now)
        status.last_error = _last_error(folder)
    threshold = status.stale_after_hours
    status.stale = bool(threshold) and (
        status.lag_seconds is None or status.lag_seconds > threshold * 3600
    )
    return status


def exit_code(report: dict) -> int:
    """3 when a source's upstream cannot be reached, else 1 when a source is stale, else 0."""
    if any(s["unreachable"] for s in report["sources"]):
        return errors.UNREACHABLE
    return errors.FAILED if any(s["stale"] for s in report["sources"]) else 0


def last_purge(root: Path) -> dict | None:
    reports = sorted((root / purge.REPORTS).glob("*.json"))
    if not reports:
        return None
    report = json.loads(reports[-1].read_text())
    keys = ("purged_at", "files_deleted", "bytes_freed", "rows_deleted", "partitions_dropped")
    found = {k: report.get(k) for k in keys} | {"failures": len(report.get("failures", []))}
    by_source = report.get("sources")
    if by_source:  # what the metrics count; a report of an older purge gave folders as files
        for key, what in (("files_deleted", "files"), ("bytes_freed", "bytes")):
            found[key] = sum(t.get(what, 0) for t in by_source.values())
    return found


def collect(cfg: dict, p: Plan, now: datetime) -> dict:
    root = config.data_root(cfg).resolve()
    sources = [
        asdict(of_source(name, cfg["sources"][name], root, p, now))
        for name in cfg["sources_enabled"]
    ]
    hosts = host_health.record(root).hosts()
    return {
        "now": now.isoformat(),
        "sources": sources,
        "hosts": hosts,
        "last_purge": last_purge(root),
    }


def _or_dash(value, show) -> str:
    return "-" if value is None else show(value)


HEAD = (
    "source",
    "newest complete",
    "lag",
    "loaded",
    "invalid",
    "pending",
    "waiting",
    "failed",
    "next due",
    "latency",
    "stale after",
)


def cells(s: dict) -> tuple[str, ...]:
    """A source's figures for people, after its name (HEAD[1:]); unknown ones are `-`."""
    return (
        _or_dash(s.get("newest_complete"), human.moment),
        _or_dash(s.get("lag_seconds"), human.duration),
        *(
            _or_dash(s.get(k, 0), human.count)
            for k in ("loaded", "invalid", "pending", "waiting", "failed")
        ),
        _or_dash(s.get("next_expected"), human.moment),
        _or_dash(s.get("latency_seconds"), human.duration),
        _or_dash(s.get("stale_after_hours"), lambda h: human.duration(h * 3600)),
    )


def table(report: dict) -> str:
    """The report for people: one line per source, then what needs a look."""
    head = HEAD
    rows = [head]
    for s in report["sources"]:
        name = (
            s["source"]
            + (" STALE" if s["stale"] else "")
            + (" UNREACHABLE" if s["unreachable"] else "")
        )
        rows.append((name, *cells(s)))
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
                f"host {host['host']}: PAUSED until {human.moment(host['open_until'])} after "
                f"{human.count(host['failures'])} failures in a row (last: {host['last_error']})"
            )
        elif host["retries"]:
            lines.append(f"host {host['host']}: {human.count(host['retries'])} retries so far")
    purged = report["last_purge"]
    if purged:
        lines.append(
            f"last purge {human.moment(purged['purged_at'])}: "
            f"{human.count(purged['files_deleted'] or 0)} files, "
            f"{human.size(purged['bytes_freed'] or 0)}, "
            f"{human.count(purged['rows_deleted'] or 0)} rows"
            + (f", {human.count(purged['failures'])} failed" if purged["failures"] else "")
        )
    else:
        lines.append("no purge has run yet")
    return "\n".join(lines)


def json_lines(report: dict) -> list[str]:
    """`--json`: a record per source, then a summary (hosts, the last purge, what is stale)."""
    records = [json.dumps(s, default=str) for s in report["sources"]]
    summary = {
        "summary": True,
        "now": report["now"],
        "sources": len(report["sources"]),
        "stale": [s["source"] for s in report["sources"] if s["stale"]],
        "unreachable": [s["source"] for s in report["sources"] if s["unreachable"]],
        "hosts": report.get("hosts", []),
        "last_purge": report["last_purge"],
    }
    return [*records, json.dumps(summary, default=str)]
