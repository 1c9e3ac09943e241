"""Where every output lives under the data root; the rules, the library and the purge share
these patterns.

Everything of one cycle, logs included, lives in one folder, `cycles/<source>/<cycle>/`, so
the purge expires a cycle by deleting that folder. A raw file keeps its format's extension; its
inventory and sidecar are named after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

SOURCES = "cycles"  # below the data root: one folder per source, one below it per cycle
CYCLE_DIR = "{root}/" + SOURCES + "/{source}/{cycle}"
RAW = CYCLE_DIR + "/raw/{step}.{fmt}"
RAW_IDX = RAW + ".idx"
SIDECAR = RAW + ".json"
SHRED = CYCLE_DIR + "/shred/{step}.parquet"
SHRED_GRIDS = CYCLE_DIR + "/shred/{step}-grids.parquet"  # the places of the shred's grids
MARKER = CYCLE_DIR + "/loaded/clickhouse/{step}.json"
PG_MARKER = CYCLE_DIR + "/loaded/postgis/{step}.json"
ROUTES_MARKER = CYCLE_DIR + "/loaded/routes/{step}.json"
CYCLE = CYCLE_DIR + "/cycle.json"
JOB = CYCLE_DIR + "/job/{step}.submitted.json"  # a job on an asynchronous service
JOB_RESULTS = CYCLE_DIR + "/job/{step}.results.json"
LOG = CYCLE_DIR + "/logs/{rule}/{step}.log"
FETCH_LOG = CYCLE_DIR + "/logs/fetch/{step}.{fmt}.log"  # its output's wildcards, fmt too
CYCLE_LOG = CYCLE_DIR + "/logs/cycle.log"
# Every rule output of one step (Snakemake keeps a record of each, even of a deleted shred)
STEP_OUTPUTS = (
    RAW,
    RAW_IDX,
    SIDECAR,
    SHRED,
    SHRED_GRIDS,
    MARKER,
    PG_MARKER,
    ROUTES_MARKER,
    JOB,
    JOB_RESULTS,
)
# Relative to the data root: written by the plan (not a rule) for complete cycles.
LISTING_CACHE = SOURCES + "/{source}/{cycle}/listing.json"
CYCLE_NAME = re.compile(r"[0-9]{10}|[0-9]{14}")  # ASCII digits only


# The records a run leaves, found on disk (every source's with source="*"), unsorted. Given a
# cycle's folder instead, the same records of that one cycle.
def sidecars(root: Path, source: str = "*") -> Iterator[Path]:
    return Path(root).glob(f"{SOURCES}/{source}/*/raw/*.json")


def clickhouse_markers(root: Path, source: str = "*") -> Iterator[Path]:
    return Path(root).glob(f"{SOURCES}/{source}/*/loaded/clickhouse/*.json")


def load_markers(root: Path, source: str = "*") -> Iterator[Path]:
    """The markers of every sink (ClickHouse, PostGIS, routes)."""
    return Path(root).glob(f"{SOURCES}/{source}/*/loaded/*/*.json")


def cycle_sidecars(cycle_dir: Path) -> Iterator[Path]:
    return Path(cycle_dir).glob("raw/*.json")


def cycle_clickhouse_markers(cycle_dir: Path) -> Iterator[Path]:
    return Path(cycle_dir).glob("loaded/clickhouse/*.json")


def cycle_id(cycle: datetime) -> str:
    """YYYYMMDDHH for a cycle on the hour; YYYYMMDDHHMMSS for a scan."""
    return cycle.strftime("%Y%m%d%H" if not (cycle.minute or cycle.second) else "%Y%m%d%H%M%S")


def parse_cycle(text: str) -> datetime:
    """A cycle id as a time; ValueError for anything else (strptime alone would take
    `202503121` as well, its fields need not be zero-padded)."""
    if not CYCLE_NAME.fullmatch(text):
        raise ValueError(f"{text!r} is not YYYYMMDDHH or YYYYMMDDHHMMSS")
    return datetime.strptime(text, "%Y%m%d%H" if len(text) == 10 else "%Y%m%d%H%M%S").replace(
        tzinfo=UTC
    )


def cycle_of(name: str) -> datetime | None:
    """The cycle a folder name stands for, or None when it is not a cycle's folder."""
    if not CYCLE_NAME.fullmatch(name):
        return None
    try:
        return parse_cycle(name)
    except ValueError:
        return None


def steps_of(raw_names: list[str], extensions: list[str]) -> list[tuple[str, str]]:
    """(step, fmt) of every sidecar `<step>.<fmt>.json` among a cycle's raw file names."""
    found = []
    for name in raw_names:
        for ext in extensions:
            if name.endswith(f".{ext}.json"):
                found.append((name[: -len(f".{ext}.json")], ext))
    return found


def cycle_outputs(root: str, source: str, cycle: str, steps: list[tuple[str, str]]) -> list[str]:
    """Every rule output a cycle with these steps has or had, as the rules spell them."""
    names = dict(root=root, source=source, cycle=cycle)
    outputs = [CYCLE.format(**names)]
    for step, fmt in steps:
        outputs += [p.format(**names, step=step, fmt=fmt) for p in STEP_OUTPUTS]
    return outputs


def step_id(step: int | str) -> str:
    """f003 for a forecast hour; a scan source's product name as it is."""
    return f"f{step:03d}" if isinstance(step, int) else step


def parse_step(text: str) -> int | str:
    return int(text[1:]) if re.fullmatch(r"f\d{3}", text) else text


def raw_key(source: str, cycle: datetime, step: int | str, fmt: str) -> str:
    """The raw file's key relative to the data root (its identity in lineage and in grid_data)."""
    path = RAW.format(root="", source=source, cycle=cycle_id(cycle), step=step_id(step), fmt=fmt)
    return path.lstrip("/")


def migration_files(folder: Path) -> list[Path]:
    """A store's migrations in the order they apply: SQL files and Python modules by name."""
    return sorted([*folder.glob("*.sql"), *folder.glob("*.py")], key=lambda p: p.name)


def grids_beside(shred: Path) -> Path:
    """Where a shred's grids file lies: beside it, `<step>-grids.parquet` (SHRED_GRIDS; a step
    has no hyphen, so no path is both)."""
    return shred.with_name(shred.stem + "-grids.parquet")


def write_whole(path: Path, text: str) -> None:
    """`text` into `path`, whole or not at all: written beside, then renamed into place, so a
    reader (or Snakemake) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
