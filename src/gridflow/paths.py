"""Where every output lives under the data root; the rules and the library share these patterns."""

from __future__ import annotations

import re
from datetime import UTC, datetime

# A raw file keeps its format's extension (grib2, nc); its inventory and sidecar are named after it
RAW = "{root}/raw/{source}/{cycle}/{step}.{fmt}"
RAW_IDX = "{root}/raw/{source}/{cycle}/{step}.{fmt}.idx"
SIDECAR = "{root}/raw/{source}/{cycle}/{step}.{fmt}.json"
RAW_FORMATS = ("grib2", "nc")
SHRED = "{root}/shred/{source}/{cycle}/{step}.parquet"
MARKER = "{root}/loaded/clickhouse/{source}/{cycle}/{step}.json"
PG_MARKER = "{root}/loaded/postgis/{source}/{cycle}/{step}.json"
ROUTES_MARKER = "{root}/loaded/routes/{source}/{cycle}/{step}.json"
CYCLE = "{root}/cycles/{source}/{cycle}.json"
LISTING_CACHE = "{root}/.cache/listing/{source}/{cycle}.json"


def cycle_id(cycle: datetime) -> str:
    """YYYYMMDDHH for a cycle on the hour; YYYYMMDDHHMMSS for a scan."""
    return cycle.strftime("%Y%m%d%H" if not (cycle.minute or cycle.second) else "%Y%m%d%H%M%S")


def parse_cycle(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%d%H" if len(text) == 10 else "%Y%m%d%H%M%S").replace(
        tzinfo=UTC
    )


def step_id(step: int | str) -> str:
    """f003 for a forecast hour; a scan source's product name as it is."""
    return f"f{step:03d}" if isinstance(step, int) else step


def parse_step(text: str) -> int | str:
    return int(text[1:]) if re.fullmatch(r"f\d{3}", text) else text


def raw_key(source: str, cycle: datetime, step: int | str, fmt: str) -> str:
    """The raw file's key relative to the data root (its identity in lineage and in grid_data)."""
    return f"raw/{source}/{cycle_id(cycle)}/{step_id(step)}.{fmt}"
