"""`gridflow backfill`: fetch and load a range of a source's cycles (MCFCD water years, or any
source's cycles between two ids) in one Snakemake run that keeps going past a failed cycle.
Run it again and it resumes: what is loaded is not fetched again, what failed is tried again.
Requests to the host stay as far apart as the source asks (`min_request_interval_seconds`).

Afterwards each cycle is judged from the data root and upstream: complete when every file of
the cycle is published and loaded; otherwise the files not loaded and those upstream has not
published (with why: not due yet, not listed yet, ...) are named, and the exit code is 1. A
cycle with nothing published gets a `cycle.json` with no loads: that is not complete.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gridflow import errors, paths, sources
from gridflow.errors import UsageError


def _range(text: str, what: str) -> tuple[str, str]:
    first, sep, last = text.partition("-") if "-" in text else (text, "", text)
    if not (first.strip() and last.strip()):
        raise UsageError(f"{what} {text!r}: give FIRST-LAST (or one value)")
    return first.strip(), last.strip()


def cycles(
    cfg: dict, source: str, water_years: str | None, between: str | None, project: Path
) -> list:
    """The cycles of `source` the backfill covers: water years for a gauge source, cycle ids
    for the others."""
    family = enabled_source(cfg, source, project)
    by_water_years = is_gauge_source(family)
    if water_years and not by_water_years:
        raise UsageError(
            f"--water-years is for gauge sources; {source} takes --cycles FIRST-LAST "
            "(cycle ids, like 2025031200-2025031318)"
        )
    if between and by_water_years:
        raise UsageError(
            f"--cycles is for sources with cycle ids; {source} takes --water-years FIRST-LAST "
            "(like 2015-2024)"
        )
    if water_years:
        first, last = _range(water_years, "--water-years")
        if not (re.fullmatch(r"\d{4}", first) and re.fullmatch(r"\d{4}", last)):
            raise UsageError(f"--water-years {water_years!r}: give years, like 2015-2024")
        start = datetime(int(first) - 1, 10, 1, tzinfo=UTC)
        end = datetime(int(last) - 1, 10, 1, tzinfo=UTC)
    elif between:
        first, last = _range(between, "--cycles")
        try:
            start, end = paths.parse_cycle(first), paths.parse_cycle(last)
        except ValueError:
            raise UsageError(f"--cycles {between!r}: give cycle ids, like 2025031200") from None
    else:
        option = "--water-years FIRST-LAST" if by_water_years else "--cycles FIRST-LAST"
        raise UsageError(f"give {option} for {source}")
    if end < start:
        raise UsageError("the range ends before it starts")
    found = family.backfill_cycles(start, end)
    if not found:
        raise UsageError(f"{source} has no cycles in that range")
    return found


def enabled_source(cfg: dict, source: str, project: Path):
    """The family object of `source`; a source the project ships but the configuration does
    not enable is told how to enable it."""
    if source in cfg["sources"]:
        return sources.source(source, cfg)
    shipped = Path(project) / "config" / "sources" / f"{source}.yaml"
    if not shipped.exists():
        known = ", ".join(sorted(cfg["sources"])) or "none enabled"
        raise UsageError(f"no source {source!r} (enabled: {known}; no file {shipped})")
    enabled = ",".join([*(cfg.get("sources_enabled") or []), source])
    how = f"add it to sources_enabled in a --configfile, or set GRIDFLOW_ENABLED_SOURCES={enabled}"
    if _ships_gauges(shipped):
        how += " (the gauge demo's config, demo-data/demo-gauges.yaml after `make demo`, has it)"
    raise UsageError(f"source {source!r} ({shipped}) is not enabled: {how}")


def _ships_gauges(shipped: Path) -> bool:
    """Whether a source file the configuration does not enable is of a gauge family."""
    import yaml

    try:
        family = (yaml.safe_load(shipped.read_text()) or {}).get("family")
        return is_gauge_source(sources.family_class(family)(shipped.stem, {}))
    except (UsageError, yaml.YAMLError, AttributeError, KeyError):
        return False


def is_gauge_source(family) -> bool:
    """Gauges load into the gauge table; their cycles are water years."""
    from gridflow import formats, rows

    return formats.registry()[family.raw_format].table is rows.GAUGES


def targets(cfg: dict, source: str, found: list) -> list[str]:
    root = cfg["data_root"]
    return [paths.CYCLE.format(root=root, source=source, cycle=paths.cycle_id(c)) for c in found]


@dataclass
class CycleResult:
    """One cycle of a backfill, as the data root and upstream show it afterwards."""

    source: str
    cycle: str
    complete: bool
    loaded: list[str] = field(default_factory=list)
    not_loaded: list[str] = field(default_factory=list)  # published: failed, or not run yet
    not_published: dict[str, list[str]] = field(default_factory=dict)  # why -> steps


def assess(cfg: dict, source: str, found: list[datetime], now: datetime) -> list[CycleResult]:
    from gridflow.config.loading import data_root
    from gridflow.pipeline import plan

    root = str(data_root(cfg))  # below --project when relative, as the run put it
    results = []
    for cycle in found:
        ready, waiting = plan.cycle_status(cfg, source, cycle, now)
        names = dict(root=root, source=source, cycle=paths.cycle_id(cycle))
        result = CycleResult(source, names["cycle"], complete=False)
        for target in ready:
            step = paths.step_id(target.step)
            marker = Path(paths.MARKER.format(**names, step=step))
            (result.loaded if marker.exists() else result.not_loaded).append(step)
        for target in waiting:
            result.not_published.setdefault(target.why or "waiting", []).append(
                paths.step_id(target.step)
            )
        result.complete = bool(
            Path(paths.CYCLE.format(**names)).exists()
            and result.loaded
            and not result.not_loaded
            and not result.not_published
        )
        results.append(result)
    return results


def is_dry_run(snakemake_args: list[str]) -> bool:
    for arg in snakemake_args:
        if arg in ("-n", "--dry-run", "--dryrun"):
            return True
        if re.fullmatch(r"-[a-zA-Z]*n[a-zA-Z]*", arg):  # -n among short flags, e.g. -np
            return True
    return False


def clock_override(snakemake_args: list[str]) -> str | None:
    """`now` when the Snakemake options pin it (`--config now=...`)."""
    taking = False
    for arg in snakemake_args:
        if arg in ("--config", "-C"):
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking and arg.startswith("now="):
            return arg.split("=", 1)[1]
    return None


def _steps(steps: list[str]) -> str:
    return ", ".join(steps[:12]) + (f" and {len(steps) - 12} more" if len(steps) > 12 else "")


def describe(result: CycleResult, dry_run: bool) -> list[str]:
    """What people read about a cycle that is not complete."""
    lines = []
    if result.not_loaded:
        what = "to fetch and load" if dry_run else "not loaded (see the cycle's logs/)"
        lines.append(f"  {result.cycle}: {what}: {_steps(result.not_loaded)}")
    for why, steps in result.not_published.items():
        lines.append(f"  {result.cycle}: not published upstream ({why}): {_steps(steps)}")
    if not (lines or result.complete):
        lines.append(f"  {result.cycle}: nothing of it is loaded")
    return lines


def report(source: str, results: list[CycleResult], dry_run: bool) -> list[str]:
    """Lines for people: how many cycles are complete, then what each other one lacks."""
    done = sum(r.complete for r in results)
    head = f"backfill {source}{' (dry run)' if dry_run else ''}: "
    head += f"{done} of {len(results)} cycles complete"
    missing = [r.cycle for r in results if not r.complete]
    if missing:
        head += f"; not yet: {_steps(missing)}"
        if not dry_run:
            head += " (run it again to retry what failed or was not published yet)"
    return [head, *(line for r in results if not r.complete for line in describe(r, dry_run))]


def json_lines(source: str, results: list[CycleResult], dry_run: bool, code: int) -> list[str]:
    summary = {
        "summary": True,
        "source": source,
        "cycles": len(results),
        "complete": sum(r.complete for r in results),
        "dry_run": dry_run,
        "exit_code": code,
    }
    return [*(json.dumps(asdict(r)) for r in results), json.dumps(summary)]


def exit_code(snakemake_code: int, results: list[CycleResult], dry_run: bool) -> int:
    """Snakemake's own failure first; then 1 while a cycle is not complete (not for a preview)."""
    if snakemake_code:
        return snakemake_code
    if dry_run:
        return 0
    return errors.FAILED if any(not r.complete for r in results) else 0
