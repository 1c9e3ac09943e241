"""The counters behind gridflow's Prometheus metrics, kept between runs.

A textfile (or a push) is rewritten by every run, so a counter's running total lives in a small
state file in the data root, `metrics-state.json`. The counts come from the records the run
leaves anyway (sidecars, load markers, purge reports, Snakemake's job records): each record is
counted once, by its path and modification time, so a record that is rewritten (a file fetched
or loaded again) counts again, and writing the metrics twice counts nothing twice. A record the
purge deletes leaves its contribution in the totals. Deleting the state file starts every
counter again from what the data root holds (Prometheus takes it as a counter reset).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from gridflow import paths
from gridflow.pipeline import purge
from gridflow.pipeline.load_marker import LoadMarker
from gridflow.pipeline.sidecar import Sidecar

STATE = "metrics-state.json"
OLD_RUNS = "metrics-runs.json"  # runs by outcome, as releases before the state file kept them
# a run takes seconds (nothing to do) to hours (a backfill): upper bounds, in seconds
DURATION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
OUTCOMES = ("success", "error")


@dataclass(frozen=True)
class Added:
    """What one record adds to one counter."""

    metric: str
    labels: tuple[str, ...]
    amount: float


@dataclass
class Durations:
    """The run-duration histogram: a count per bucket (the last one past every bound)."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        place = next((i for i, b in enumerate(DURATION_BUCKETS) if seconds <= b), -1)
        self.counts[place] += 1
        self.total += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        from prometheus_client.utils import floatToGoString  # how the client writes bounds

        bounds = [*(floatToGoString(b) for b in DURATION_BUCKETS), "+Inf"]
        running, out = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


@dataclass
class Counts:
    values: dict[str, dict[tuple[str, ...], float]] = field(default_factory=dict)
    # per kind of record: the records counted (path and mtime) -> a tag (a job's id)
    seen: dict[str, dict[str, str]] = field(default_factory=dict)
    durations: Durations = field(default_factory=Durations)
    last_run: dict[str, float] = field(default_factory=dict)  # outcome -> when it ended

    def add(self, metric: str, labels: tuple[str, ...], amount: float) -> None:
        by_labels = self.values.setdefault(metric, {})
        by_labels[labels] = by_labels.get(labels, 0) + amount

    def of(self, metric: str) -> dict[tuple[str, ...], float]:
        return self.values.get(metric, {})

    def to_json(self) -> str:
        return json.dumps(
            {
                "values": {m: [[list(k), v] for k, v in d.items()] for m, d in self.values.items()},
                "seen": self.seen,
                "durations": {"counts": self.durations.counts, "sum": self.durations.total},
                "last_run": self.last_run,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Counts:
        data = json.loads(text)
        durations = Durations()
        kept = data.get("durations", {})
        if len(kept.get("counts", [])) == len(durations.counts):  # other buckets: start again
            durations = Durations(kept["counts"], kept.get("sum", 0.0))
        return cls(
            {m: {tuple(k): v for k, v in pairs} for m, pairs in data.get("values", {}).items()},
            data.get("seen", {}),
            durations,
            data.get("last_run", {}),
        )


def wire_bytes(sidecar: Sidecar) -> int:
    """Bytes a fetch received: the sidecar says so; older sidecars' fetches are worked out
    (ranged GETs: their ranges; otherwise the whole object as it travels, gzipped or not)."""
    if sidecar.wire_bytes is not None:
        return sidecar.wire_bytes
    if sidecar.idx_url:
        return sum(end - start + 1 for start, end in sidecar.byte_ranges)
    return sidecar.upstream_size or sidecar.size


def _fetch(path: Path) -> list[Added]:
    meta = Sidecar.read(path)
    source = (meta.source or path.parts[-4],)
    wire = wire_bytes(meta)
    return [
        Added("fetched_bytes", source, wire),
        Added("upstream_object_bytes", source, meta.upstream_size or wire),
        Added("fetch_retries", source, meta.retries),
    ]


def _load(path: Path) -> list[Added]:
    meta = LoadMarker.read(path)  # of any sink: the routes marker has neither rows nor table
    source, sink = path.parts[-5], path.parts[-2]
    added = [Added("files_ingested", (source,), 1)] if sink == "clickhouse" else []
    if meta.rows is not None and meta.table is not None:
        added.append(Added("rows_loaded", (source, meta.table), meta.rows))
    return added


def _purge(path: Path) -> list[Added]:
    report = json.loads(path.read_text())
    added = []
    # an older report has no per-source part: its deletions are not counted
    for source, done in (report.get("sources") or {}).items():
        added.append(Added("purge_files_deleted", (source,), done.get("files", 0)))
        added.append(Added("purge_bytes_freed", (source,), done.get("bytes", 0)))
        added.append(Added("purge_rows_deleted", (source,), done.get("rows", 0)))
    for failure in report.get("failures", []):
        added.append(Added("purge_failures", (failure.get("source", ""),), 1))
    return added


def _job(path: Path) -> tuple[str, list[Added]]:
    """A Snakemake record (one per output): its job's id, and what the job adds."""
    meta = json.loads(path.read_text())
    job = f"{meta['rule']}:{meta['job_hash']}:{meta['endtime']}"  # outputs differ in start
    seconds = max(0.0, float(meta["endtime"]) - float(meta["starttime"]))
    rule = (meta["rule"],)
    return job, [Added("rule_jobs", rule, 1), Added("rule_seconds", rule, seconds)]


def _stamped(files: Iterable[Path], base: Path) -> Iterator[tuple[str, Path]]:
    for path in files:
        with contextlib.suppress(OSError):  # gone since it was listed (a purge)
            yield f"{path.relative_to(base)}:{path.stat().st_mtime_ns}", path


def _count_records(
    counts: Counts, kind: str, files: Iterable[Path], base: Path, read: Callable
) -> None:
    """Add what each record not counted yet adds; forget the records that are gone."""
    before, now = counts.seen.get(kind, {}), {}
    for key, path in _stamped(files, base):
        if key in before:
            now[key] = before[key]
            continue
        try:
            added = read(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written or foreign: counted when it is whole
        now[key] = ""
        for a in added:
            counts.add(a.metric, a.labels, a.amount)
    counts.seen[kind] = now


def _count_jobs(counts: Counts, workdir: Path) -> None:
    """Snakemake keeps one record per output: a job with several outputs counts once."""
    folder = workdir / ".snakemake" / "metadata"
    before, now = counts.seen.get("job", {}), {}
    files = folder.iterdir() if folder.is_dir() else []
    fresh = []
    for key, path in _stamped(files, folder):
        if key in before:
            now[key] = before[key]
        else:
            fresh.append((key, path))
    known = set(now.values())
    for key, path in fresh:
        try:
            job, added = _job(path)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        now[key] = job
        if job not in known:
            known.add(job)
            for a in added:
                counts.add(a.metric, a.labels, a.amount)
    counts.seen["job"] = now


def _first_counts(root: Path) -> Counts:
    counts = Counts()
    old = root / OLD_RUNS
    with contextlib.suppress(OSError, ValueError):
        for outcome, n in json.loads(old.read_text()).items():
            counts.add("runs", (outcome,), n)
    return counts


@contextlib.contextmanager
def _locked(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / (STATE + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def update(
    root: Path, workdir: Path, outcome: str | None = None, seconds: float | None = None
) -> Counts:
    """Count a run that ended (with its outcome and duration, when given) and every record
    not counted yet; returns the totals, saved for the next run."""
    with _locked(root):
        path = root / STATE
        try:
            counts = Counts.from_json(path.read_text())
        except (OSError, ValueError, KeyError, TypeError):
            counts = _first_counts(root)
        if outcome:
            counts.add("runs", (outcome,), 1)
            counts.last_run[outcome] = time.time()
            if seconds is not None:
                counts.durations.observe(seconds)
        counts_of = (
            ("fetch", paths.sidecars(root), _fetch),
            ("load", paths.load_markers(root), _load),
            ("purge", (root / purge.REPORTS).glob("*.json"), _purge),
        )
        for kind, files, read in counts_of:
            _count_records(counts, kind, files, root, read)
        _count_jobs(counts, workdir)
        paths.write_whole(path, counts.to_json())
        return counts


def when(text: str | None) -> float | None:
    """An ISO time of a record as seconds since the epoch."""
    try:
        return datetime.fromisoformat(text).timestamp() if text else None
    except ValueError:
        return None
