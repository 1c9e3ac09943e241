"""A target path's wildcards, checked against the configuration before any rule uses them.

Snakemake matches a path to a rule by its shape: `.../loaded/clickhouse/nope.json` has the
shape of a load marker, so the rule's input functions would be handed a step `nope` and fail
deep inside a family. Here each wildcard is checked for what it names: an enabled source, a
cycle that is a time (for a forecast source, one of its cycle hours), a step of that source
(a forecast hour `fNNN`, or one of a scan or job source's products) and that step's format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridflow import paths
from gridflow.errors import UsageError
from gridflow.sources import source as source_of
from gridflow.sources.forecast import ForecastFamily


class NoSuchTarget(UsageError):
    """A target path whose wildcards name nothing the configuration has."""


@dataclass(frozen=True)
class Checked:
    source: str
    cycle: datetime
    step: int | str | None


def check(
    cfg: dict,
    source: str,
    cycle: str,
    step: str | None = None,
    fmt: str | None = None,
    job: bool = False,
) -> Checked:
    """The wildcards as values, or NoSuchTarget saying which one names nothing and what was
    expected; `job` for a job file's path (only a job source has those)."""
    if source not in cfg["sources"]:
        enabled = ", ".join(sorted(cfg["sources"])) or "none"
        raise NoSuchTarget(f"no source {source!r} is enabled (enabled: {enabled})")
    family = source_of(source, cfg)
    if job and not family.runs_jobs:
        raise NoSuchTarget(f"{source} has no jobs (only a job source's steps have job files)")
    when = _cycle(family, cycle)
    if step is None:
        return Checked(source, when, None)
    return Checked(source, when, _step(family, step, fmt))


def _cycle(family, text: str) -> datetime:
    try:
        when = paths.parse_cycle(text)
    except ValueError:
        raise NoSuchTarget(
            f"cycle {text!r} is not a time: a cycle id is YYYYMMDDHH, or YYYYMMDDHHMMSS for a scan"
        ) from None
    if isinstance(family, ForecastFamily):
        hours = sorted(family.src["cycles"])
        if when.minute or when.second or when.hour not in hours:
            listed = ", ".join(f"{h:02d}" for h in hours)
            raise NoSuchTarget(
                f"{family.name} has no cycle {text} (its cycles are at {listed} UTC, on the hour)"
            )
    return when


def _step(family, text: str, fmt: str | None) -> int | str:
    step = paths.parse_step(text)
    if isinstance(family, ForecastFamily):
        if not isinstance(step, int):
            raise NoSuchTarget(
                f"{family.name} has no step {text!r} (its steps are forecast hours fNNN, e.g. f003)"
            )
    else:
        known = getattr(family, "steps", None)  # a scan's or a job source's products
        if isinstance(known, list) and step not in known:
            raise NoSuchTarget(
                f"{family.name} has no step {text!r} (its steps: {', '.join(map(str, known))})"
            )
        if isinstance(step, int):
            raise NoSuchTarget(f"{family.name} has no step {text!r} (it has no forecast hours)")
    try:
        extension = family.extension_of(step)
    except (KeyError, ValueError):  # a family that tells its steps apart by name (MCFCD)
        raise NoSuchTarget(f"{family.name} has no step {text!r}") from None
    if fmt is not None and fmt != extension:
        raise NoSuchTarget(f"{family.name}'s {text} is a .{extension} file, not .{fmt}")
    return step
