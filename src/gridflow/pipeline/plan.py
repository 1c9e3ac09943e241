"""What a run should do now: the published files of each source's catch-up window.

Each source's family answers which targets exist for `now` (a forecast schedule checked against
upstream's listing, or scans found by listing); this module asks every enabled source and
reports. Files not published yet, or still being written, are waiting and are not targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridflow import paths
from gridflow.config import loading as config
from gridflow.net import host_health
from gridflow.net.transport import Remote, Settings, TransportError
from gridflow.sources import latency
from gridflow.sources import source as source_of
from gridflow.sources.targets import Lister, Target

__all__ = ["Plan", "Target", "cycle_status", "plan"]


@dataclass
class Plan:
    ready: list[Target]
    waiting: list[Target]
    unreachable: dict[str, str]

    def summary(self) -> str:
        """For people: counts, then per source the next file waited for, and what failed."""
        lines = [
            f"{len(self.ready)} file(s) published in the catch-up window, "
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


def lister(cfg: dict, family, keep: bool = False) -> Lister:
    """How one plan looks at a source: few retries (a plan must not hang on a dead mirror);
    with `keep` (a run that fetches, never a preview) complete cycles' listings are kept."""
    where = family.operating(cfg["fetch"])
    settings = Settings(
        **{**where["settings"], "max_retries": min(where["settings"]["max_retries"], 2)}
    )
    return Lister(
        Remote(where["url"], settings, health=host_health.record(config.data_root(cfg))),
        cfg["fetch"].get("settle_seconds", 0),
        config.data_root(cfg),
        keep,
    )


def cycle_status(cfg: dict, name: str, cycle: datetime, now: datetime, keep: bool = False):
    """(ready, waiting) of one cycle (or scan) of one source: a rebuild asked for by name."""
    family = source_of(name, cfg)
    return family.cycle(cycle, now, lister(cfg, family, keep))


def plan(cfg: dict, now: datetime, keep: bool = False) -> Plan:
    """What is published and what is waiting; `keep` only for a run that fetches."""
    result = Plan([], [], {})
    for name in cfg["sources_enabled"]:
        try:
            family = source_of(name, cfg)
            ready, waiting = family.window(now, lister(cfg, family, keep))
        except TransportError as exc:
            result.unreachable[name] = str(exc)
            continue
        result.ready += ready
        result.waiting += latency.estimate(waiting, config.data_root(cfg), now)
    return result
