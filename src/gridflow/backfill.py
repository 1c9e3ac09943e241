"""`gridflow backfill`: fetch and load a range of a source's cycles (MCFCD water years, or any
source's cycles between two ids) in one Snakemake run that keeps going past a failed cycle.
Run it again and it resumes: what is loaded is not fetched again, what failed is tried again.
Requests to the host stay as far apart as the source asks (`min_request_interval_seconds`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from gridflow import paths, sources
from gridflow.errors import UsageError


def _range(text: str, what: str) -> tuple[str, str]:
    first, sep, last = text.partition("-") if "-" in text else (text, "", text)
    if not (first.strip() and last.strip()):
        raise UsageError(f"{what} {text!r}: give FIRST-LAST (or one value)")
    return first.strip(), last.strip()


def cycles(cfg: dict, source: str, water_years: str | None, between: str | None) -> list:
    """The cycles of `source` the backfill covers."""
    if source not in cfg["sources"]:
        raise UsageError(f"no source {source!r} (known: {', '.join(sorted(cfg['sources']))})")
    family = sources.source(source, cfg)
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
        raise UsageError("give --water-years FIRST-LAST or --cycles FIRST-LAST")
    if end < start:
        raise UsageError("the range ends before it starts")
    found = family.backfill_cycles(start, end)
    if not found:
        raise UsageError(f"{source} has no cycles in that range")
    return found


def targets(cfg: dict, source: str, found: list) -> list[str]:
    root = cfg["data_root"]
    return [paths.CYCLE.format(root=root, source=source, cycle=paths.cycle_id(c)) for c in found]


def report(source: str, wanted: list[str]) -> tuple[str, int]:
    """A line of what the backfill finished, and its exit code."""
    missing = [t for t in wanted if not Path(t).exists()]
    done = len(wanted) - len(missing)
    line = f"backfill {source}: {done} of {len(wanted)} cycles complete"
    if missing:
        names = ", ".join(Path(t).parent.name for t in missing)
        line += f"; not yet: {names} (run it again to retry what failed)"
    return line, 0 if not missing else 1
