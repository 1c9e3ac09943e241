"""What a run should do now: the published files of each source's catch-up window.

A file is ready when upstream lists it (and its `.idx`) and it has settled (old enough not to be
still being written). Files the schedule does not expect yet, or that are late, are waiting and
are reported with the time they are expected; they are not targets. The listing of a complete
cycle is cached, so later runs of a finished cycle ask upstream nothing.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridflow import paths, schedule
from gridflow.sources import source as source_of
from gridflow.transport import NotPublished, Remote, Settings, TransportError


@dataclass(frozen=True)
class Target:
    source: str
    cycle: datetime
    step: int | str  # a forecast hour, or a product for scan sources
    expected_at: datetime
    why: str = ""  # for a waiting target: not due yet, not listed yet, or still being written


@dataclass
class Plan:
    ready: list[Target]
    waiting: list[Target]
    unreachable: dict[str, str]

    def summary(self) -> str:
        lines = [
            f"gridflow plan: {len(self.ready)} file(s) published in the catch-up window, "
            f"{len(self.waiting)} waiting"
        ]
        by_source: dict[str, list[Target]] = {}
        for t in self.waiting:
            by_source.setdefault(t.source, []).append(t)
        for name, targets in sorted(by_source.items()):
            first = min(targets, key=lambda t: t.expected_at)
            lines.append(
                f"  {name}: {len(targets)} waiting; next {paths.cycle_id(first.cycle)} "
                f"{paths.step_id(first.step)} expected at "
                f"{first.expected_at:%Y-%m-%dT%H:%M}Z ({first.why})"
            )
        for name, why in sorted(self.unreachable.items()):
            lines.append(f"  {name}: UNREACHABLE: {why}")
        return "\n".join(lines)


def _remote(cfg: dict, name: str) -> Remote:
    src = cfg["sources"][name]
    return Remote(
        src["url"],
        Settings(
            timeout_seconds=cfg["fetch"].get("timeout_seconds", 60),
            max_retries=min(cfg["fetch"].get("max_retries", 5), 2),
            anonymous=src.get("anonymous", True),
        ),
    )


def _listing(remote: Remote, keys: list[str], prefix: str, memo: dict | None = None) -> dict:
    """What upstream holds; `memo` keeps one listing per prefix for the whole plan (HRRR's hourly
    cycles share a day folder)."""
    if remote.can_list:
        if memo is None:
            return remote.list(prefix)
        if prefix not in memo:
            memo[prefix] = remote.list(prefix)
        return memo[prefix]
    found = {}
    for key in keys:  # a plain HTTP mirror has no listing: ask for each object
        with contextlib.suppress(NotPublished):
            found[key] = remote.head(key)
    return found


def scan_status(
    cfg: dict, name: str, start: datetime, end: datetime, remote: Remote | None = None
) -> list[Target]:
    """The published, settled scans of every product with a scan time in [start, end]."""
    src = source_of(name, cfg)
    remote = remote or _remote(cfg, name)
    if not remote.can_list:
        raise TransportError(
            f"{remote.url}: scan sources need a location that can be listed (s3:// or file://)"
        )
    settle = timedelta(seconds=cfg["fetch"].get("settle_seconds", 0))
    wall = datetime.now(UTC)
    ready = set()  # a scan published twice (reprocessed) is one target
    for step in src.steps:
        for prefix in src.listing_prefixes(step, start, end):
            try:
                listed = remote.list(prefix)
            except NotPublished:
                continue
            for key, info in listed.items():
                scan = src.scan_time(step, key)
                settled = not info.last_modified or wall - info.last_modified >= settle
                if scan and start <= scan <= end and settled:
                    ready.add(Target(name, scan, step, scan))
    return sorted(ready, key=lambda t: (t.cycle, str(t.step)))


def cycle_status(
    cfg: dict,
    name: str,
    cycle: datetime,
    now: datetime,
    remote: Remote | None = None,
    memo: dict | None = None,
) -> tuple[list[Target], list[Target]]:
    """(ready, waiting) for one cycle (or scan) of one source."""
    src = source_of(name, cfg)
    if src.scans:
        return scan_status(cfg, name, cycle, cycle, remote), []
    root = cfg["data_root"]
    due, waiting = [], []
    for step in src.steps(cycle):
        at = schedule.expected_at(src.src, cycle, step)
        (due if at <= now else waiting).append(Target(name, cycle, step, at, "not due yet"))
    if not due:
        return [], waiting
    cache = Path(paths.LISTING_CACHE.format(root=root, source=name, cycle=paths.cycle_id(cycle)))
    all_steps = len(due) + len(waiting)
    if cache.exists() and json.loads(cache.read_text()).get("steps") == all_steps:
        return due, waiting
    remote = remote or _remote(cfg, name)
    wanted = {
        t.step: [k for k in (src.key(cycle, t.step), src.idx_key(cycle, t.step)) if k] for t in due
    }
    listed = _listing(
        remote, [k for ks in wanted.values() for k in ks], src.listing_prefix(cycle), memo
    )
    settle = timedelta(seconds=cfg["fetch"].get("settle_seconds", 0))
    wall = datetime.now(UTC)
    ready = []
    for t in due:
        infos = [listed.get(k) for k in wanted[t.step]]
        if any(i is None for i in infos):
            waiting.append(Target(name, cycle, t.step, t.expected_at, "late: not listed yet"))
        elif any(i.last_modified and wall - i.last_modified < settle for i in infos):
            waiting.append(Target(name, cycle, t.step, t.expected_at, "still being written"))
        else:
            ready.append(t)
    if len(ready) == all_steps:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"steps": all_steps, "keys": sorted(listed)}) + "\n")
    return ready, sorted(waiting, key=lambda t: (t.cycle, t.step))


def plan(cfg: dict, now: datetime) -> Plan:
    result = Plan([], [], {})
    for name in cfg["sources_enabled"]:
        try:
            remote = _remote(cfg, name)
            src = cfg["sources"][name]
            if source_of(name, cfg).scans:
                start = now - timedelta(hours=src["window_hours"])
                result.ready += scan_status(cfg, name, start, now, remote)
                continue
            memo: dict = {}
            for cycle in schedule.cycles_in_window(src, now):
                ready, waiting = cycle_status(cfg, name, cycle, now, remote, memo)
                result.ready += ready
                result.waiting += waiting
        except TransportError as exc:
            result.unreachable[name] = str(exc)
    return result
