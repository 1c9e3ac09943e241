"""The rows of `grid_data` as Arrow: one schema, one way to build a field's columns.

Every format decodes into these columns, so the shred, the loads and the queries never ask what
kind of file a row came from. A field's identity is (variable, level, forecast, descriptor,
ref_time, step): two fields of one file never share it.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

_dict = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        ("source", _dict),
        ("variable", _dict),
        ("level", _dict),
        ("forecast", _dict),
        ("descriptor", _dict),
        ("ref_time", pa.timestamp("s", tz="UTC")),
        ("step", pa.int32()),
        ("valid_time", pa.timestamp("s", tz="UTC")),
        ("lat", pa.float32()),
        ("lon", pa.float32()),
        ("cell", pa.uint32()),
        ("value", pa.float32()),
        ("raw_file_id", _dict),
        ("raw_key", _dict),
    ]
)


@functools.lru_cache(maxsize=8)
def _zeros(n: int) -> pa.Array:
    return pa.array(np.zeros(n, dtype=np.int32))


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(_zeros(n), pa.array([value]))


def _times(value: datetime, n: int) -> pa.Array:
    return pa.array(
        np.full(n, np.datetime64(value.replace(tzinfo=None), "s")), pa.timestamp("s", tz="UTC")
    )


def field_table(
    meta: dict,
    field: tuple[str, str, str, str],
    ref: datetime,
    step: int,
    lat: np.ndarray,
    lon: np.ndarray,
    cell: np.ndarray,
    values: np.ndarray,
    missing: np.ndarray | None = None,
) -> pa.Table:
    """The rows of one field (or a block of it): `field` is (variable, level, forecast,
    descriptor), `step` the lead in minutes, `meta` the raw file's sidecar."""
    n = len(values)
    variable, level, forecast, descriptor = field
    columns = {
        "source": _constant(meta["source"], n),
        "variable": _constant(variable, n),
        "level": _constant(level, n),
        "forecast": _constant(forecast, n),
        "descriptor": _constant(descriptor, n),
        "ref_time": _times(ref, n),
        "step": pa.array(np.full(n, step, dtype=np.int32)),
        "valid_time": _times(ref + timedelta(minutes=step), n),
        "lat": pa.array(lat.astype(np.float32, copy=False)),
        "lon": pa.array(lon.astype(np.float32, copy=False)),
        "cell": pa.array(cell),
        "value": pa.array(values.astype(np.float32, copy=False), mask=missing),
        "raw_file_id": _constant(meta["run_id"], n),
        "raw_key": _constant(meta["raw_key"], n),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)
