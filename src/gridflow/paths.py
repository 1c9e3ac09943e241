"""Where every output lives under the data root; the rules and the library share these patterns."""

from __future__ import annotations

from datetime import UTC, datetime

RAW = "{root}/raw/{source}/{cycle}/{step}.grib2"
RAW_IDX = "{root}/raw/{source}/{cycle}/{step}.grib2.idx"
SIDECAR = "{root}/raw/{source}/{cycle}/{step}.json"
SHRED = "{root}/shred/{source}/{cycle}/{step}.parquet"
MARKER = "{root}/loaded/clickhouse/{source}/{cycle}/{step}.json"
PG_MARKER = "{root}/loaded/postgis/{source}/{cycle}/{step}.json"
ROUTES_MARKER = "{root}/loaded/routes/{source}/{cycle}/{step}.json"
CYCLE = "{root}/cycles/{source}/{cycle}.json"
LISTING_CACHE = "{root}/.cache/listing/{source}/{cycle}.json"


def cycle_id(cycle: datetime) -> str:
    return cycle.strftime("%Y%m%d%H")


def parse_cycle(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H").replace(tzinfo=UTC)


def step_id(step: int) -> str:
    return f"f{step:03d}"


def parse_step(text: str) -> int:
    return int(text.lstrip("f"))


def raw_key(source: str, cycle: datetime, step: int) -> str:
    """The raw file's key relative to the data root (its identity in lineage and in grid_data)."""
    return f"raw/{source}/{cycle_id(cycle)}/{step_id(step)}.grib2"
