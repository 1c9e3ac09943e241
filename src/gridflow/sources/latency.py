"""Observed publication latency: how long after its cycle's time each file was first fetched
(its sidecar's `fetched_at`), per source and step. The plan's estimate for a file still waiting
is its cycle plus the median latency of that step in the newest cycles, when there are enough
of them, instead of the schedule's fixed delay. Fetches stamped after the plan's `now` (a run
with a pinned clock) say nothing about upstream and are left out.

`gridflow status` shows each source's latency on the run's clock: a fetch stamped after `now`
(the wall clock of a run whose clock was pinned) happened, for that run, at `now`.
"""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from pathlib import Path

from gridflow import paths
from gridflow.pipeline.sidecar import Sidecar
from gridflow.sources.targets import Target

SAMPLES = 3  # fewer observations than this: the schedule's delay stands
NEWEST = 12  # cycles looked at per source


def on_the_clock(cycle: datetime, fetched: datetime, now: datetime) -> timedelta | None:
    """How long after its cycle a file was fetched, on the run's clock; None for a fetch
    stamped before its cycle (a clock pinned after it, or a wrong stamp)."""
    taken = min(fetched, now)
    return taken - cycle if taken >= cycle else None


def observed(root: Path, source: str, now: datetime) -> dict[str, timedelta]:
    """Median first-fetch latency per step of the source's newest cycles."""
    folder = root / paths.SOURCES / source
    if not folder.is_dir():
        return {}
    cycles = sorted((c for c in folder.iterdir() if paths.cycle_of(c.name)), reverse=True)
    found: dict[str, list[float]] = {}
    for cycle_dir in cycles[:NEWEST]:
        cycle = paths.cycle_of(cycle_dir.name)
        for sidecar in paths.cycle_sidecars(cycle_dir):
            try:
                fetched = datetime.fromisoformat(Sidecar.read(sidecar).fetched_at)
            except (OSError, ValueError, TypeError):  # TypeError: no fetched_at
                continue
            if cycle <= fetched <= now:
                step = sidecar.name.split(".", 1)[0]
                found.setdefault(step, []).append((fetched - cycle).total_seconds())
    return {
        step: timedelta(seconds=statistics.median(seconds))
        for step, seconds in found.items()
        if len(seconds) >= SAMPLES
    }


def estimate(waiting: list[Target], root: Path, now: datetime) -> list[Target]:
    """The waiting targets, each expected at its cycle plus its step's observed latency."""
    by_source: dict[str, dict[str, timedelta]] = {}
    out = []
    for target in waiting:
        if target.source not in by_source:
            by_source[target.source] = observed(root, target.source, now)
        seen = by_source[target.source].get(paths.step_id(target.step))
        if seen is None or "upstream" in target.why:
            out.append(target)
            continue
        when = target.cycle + seen
        out.append(Target(target.source, target.cycle, target.step, when, target.why))
    return out
