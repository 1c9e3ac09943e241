"""The rows gridflow stores, as Arrow: one schema per table, one way to build each.

Grid formats decode into `grid_data` (GRID), gauge formats into `gauge_observations` (GAUGES),
so the shred, the loads and the purge never ask what kind of file a row came from, only which
table its format fills. A field's identity is (variable, level, forecast, descriptor, ref_time,
step): two fields of one file never share it.

A shred holds only what varies within its file. What is the same for every row (the source and
the raw file's lineage, `LINEAGE`) rides in the Parquet's metadata and the load adds it; what the
store can derive (`valid_time`, the `cell` key) the store computes. Each such column cost a
shred as much to write as the values themselves.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa

_dict = pa.dictionary(pa.int32(), pa.string())
LINEAGE = ("source", "raw_file_id", "raw_key")  # the load adds these from the shred's metadata
LINEAGE_KEY = b"gridflow.lineage"

SCHEMA = pa.schema(
    [
        ("variable", _dict),
        ("level", _dict),
        ("forecast", _dict),
        ("descriptor", _dict),
        ("ref_time", pa.timestamp("s", tz="UTC")),
        ("step", pa.int32()),
        ("lat", pa.float32()),
        ("lon", pa.float32()),
        ("value", pa.float32()),
    ]
)


@functools.lru_cache(maxsize=8)
def _zeros(n: int) -> pa.Array:
    return pa.array(np.zeros(n, dtype=np.int32))


def constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(_zeros(n), pa.array([value]))


def _times(value: datetime, n: int) -> pa.Array:
    return pa.array(
        np.full(n, np.datetime64(value.replace(tzinfo=None), "s")), pa.timestamp("s", tz="UTC")
    )


def field_table(
    field: tuple[str, str, str, str],
    ref: datetime,
    step: int,
    lat: np.ndarray,
    lon: np.ndarray,
    values: np.ndarray,
    missing: np.ndarray | None = None,
) -> pa.Table:
    """The rows of one field (or a block of it): `field` is (variable, level, forecast,
    descriptor), `step` the lead in minutes."""
    n = len(values)
    variable, level, forecast, descriptor = field
    columns = {
        "variable": constant(variable, n),
        "level": constant(level, n),
        "forecast": constant(forecast, n),
        "descriptor": constant(descriptor, n),
        "ref_time": _times(ref, n),
        "step": pa.array(np.full(n, step, dtype=np.int32)),
        "lat": pa.array(lat.astype(np.float32, copy=False)),
        "lon": pa.array(lon.astype(np.float32, copy=False)),
        "value": pa.array(values.astype(np.float32, copy=False), mask=missing),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


GAUGE_SCHEMA = pa.schema(
    [
        ("gauge", pa.uint32()),
        ("kind", _dict),  # daily (inches that Arizona day), increment (since the row before)
        ("day", pa.date32()),  # the Arizona calendar day
        ("time", pa.timestamp("s", tz="UTC")),  # a daily value: the end of its day, in UTC
        ("inches", pa.float32()),  # null: no value (outage, not reported)
        ("flags", _dict),  # outage, footnote=N, estimated, annual_total_differs, ...
        ("origin", _dict),  # water_year_workbook, monthly_pdf, fopr, alert_page
    ]
)


def gauge_table(readings) -> pa.Table:
    """The rows of a gauge reader's `Readings` (gridflow.gauges.readings)."""
    n = len(readings)
    values = np.array([np.nan if v is None else v for v in readings.inches], dtype=np.float32)
    columns = {
        "gauge": pa.array(readings.gauge, pa.uint32()),
        "kind": constant(readings.kind, n),
        "day": pa.array(readings.day, pa.date32()),
        "time": pa.array(
            [t.replace(tzinfo=None) for t in readings.time], pa.timestamp("s", tz="UTC")
        ),
        "inches": pa.array(values, mask=np.isnan(values)),
        "flags": pa.array(readings.flags, pa.string()).dictionary_encode(),
        "origin": constant(readings.origin, n),
    }
    return pa.Table.from_pydict(columns, schema=GAUGE_SCHEMA)


@dataclass(frozen=True)
class Table:
    """A table of the store: its name, its rows' schema, the column retention is counted on."""

    name: str
    schema: pa.Schema
    time_column: str


GRID = Table("grid_data", SCHEMA, "ref_time")
GAUGES = Table("gauge_observations", GAUGE_SCHEMA, "time")
TABLES = (GRID, GAUGES)
