"""Decode a raw file field by field into a long Parquet table (one row per grid point).

GRIB fields are decoded by eccodes (every grid point a row, missing points NULL); ABI NetCDF
variables by `abi_read` (valid pixels on the disk only). Streaming: tables are written in row
groups of about a million rows and dropped, so peak memory is a few fields whatever the file
size. Every field the inventory lists is written, or the shred fails: nothing is dropped silently.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import eccodes
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gridflow import abi_read, inventory
from gridflow.grib_read import InventoryMismatch, named_fields
from gridflow.gridgeo import cell_key, coordinates, regular_axes

# A value no packed field holds; eccodes writes it where a bitmap or in-band marker says missing.
MISSING_SENTINEL = 9.0e36

_dict = pa.dictionary(pa.int32(), pa.string())
SCHEMA = pa.schema(
    [
        ("source", _dict),
        ("variable", _dict),
        ("level", _dict),
        ("forecast", _dict),
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


class ShredError(ValueError):
    """A raw file whose fields do not match its inventory, or that eccodes cannot decode."""


@dataclass(frozen=True)
class ShredOptions:
    """Per source: values that mean "missing" in-band (MRMS: -999, -99), a bounding box
    [west, south, east, north] and stride (one point in k x k) that choose the rows kept, and
    for ABI files the data-quality flag values whose pixels are kept (None: all)."""

    missing_values: tuple[float, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    stride: int = 1
    dqf_keep: tuple[int, ...] | None = None

    @classmethod
    def from_source(cls, src: dict) -> ShredOptions:
        bbox, dqf = src.get("bbox"), src.get("dqf_keep")
        return cls(
            tuple(src.get("missing_values", ())),
            tuple(bbox) if bbox else None,
            src.get("stride", 1),
            tuple(dqf) if dqf is not None else None,
        )


@dataclass(frozen=True)
class ShredStats:
    fields: int
    rows: int


# Dictionary pages only where values repeat: trying them on coordinates and values (millions of
# distinct floats) and keeping statistics nobody reads cost 45% of a full-disk shred.
PARQUET_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": [
        "source",
        "variable",
        "level",
        "forecast",
        "ref_time",
        "step",
        "valid_time",
        "cell",
        "raw_file_id",
        "raw_key",
    ],
    "write_statistics": ["ref_time", "step", "lat", "lon", "cell"],
}

# Small fields are buffered into row groups of about this many rows: one tiny row group per
# field costs more to write than the field costs to decode.
ROW_GROUP_ROWS = 1_000_000


@functools.lru_cache(maxsize=8)
def _zeros(n: int) -> pa.Array:
    return pa.array(np.zeros(n, dtype=np.int32))


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(_zeros(n), pa.array([value]))


def field_times(handle) -> tuple[datetime, int]:
    """(reference time, lead in minutes). The reference time keeps its seconds (MRMS scans
    carry them; `dataTime` would drop them)."""
    parts = [
        eccodes.codes_get(handle, k, int)
        for k in ("year", "month", "day", "hour", "minute", "second")
    ]
    ref = datetime(*parts, tzinfo=UTC)
    eccodes.codes_set(handle, "stepUnits", "m")
    step_minutes = eccodes.codes_get(handle, "endStep", int)
    return ref, step_minutes


def _kept_points(handle, lat, lon, options: ShredOptions) -> np.ndarray | None:
    """Indices of the points the bbox and stride keep (None: all of them)."""
    if options.stride == 1 and options.bbox is None:
        return None
    index = np.arange(len(lat))
    if options.stride > 1:
        ni, nj = eccodes.codes_get(handle, "Ni", int), eccodes.codes_get(handle, "Nj", int)
        if ni * nj != len(lat):
            raise ShredError("a stride needs a full 2-D grid (Ni x Nj)")
        index = index.reshape(nj, ni)[:: options.stride, :: options.stride].ravel()
    if options.bbox is not None:
        west, south, east, north = options.bbox
        la, lo = lat[index], lon[index]
        index = index[(la >= south) & (la <= north) & (lo >= west) & (lo <= east)]
    return index


def _kept_on_axes(lats: np.ndarray, lons: np.ndarray, options: ShredOptions):
    """(indices, lat, lon) of the points a stride and bbox keep on a regular grid: both are
    separable, so rows and columns are chosen on the axes."""
    rows = np.arange(0, len(lats), options.stride)
    cols = np.arange(0, len(lons), options.stride)
    if options.bbox is not None:
        west, south, east, north = options.bbox
        rows = rows[(lats[rows] >= south) & (lats[rows] <= north)]
        cols = cols[(lons[cols] >= west) & (lons[cols] <= east)]
    index = (rows[:, np.newaxis] * len(lons) + cols[np.newaxis, :]).ravel()
    lat = np.repeat(lats[rows], len(cols))
    lon = np.tile(lons[cols], len(rows))
    return index, lat, lon


def field_table(
    handle, entry: inventory.IdxEntry, meta: dict, options: ShredOptions = ShredOptions()
) -> pa.Table:
    eccodes.codes_set(handle, "missingValue", MISSING_SENTINEL)
    values = eccodes.codes_get_values(handle)
    axes = regular_axes(handle) if options.stride > 1 or options.bbox else None
    if axes is not None:  # a subset of a regular grid: coordinates of kept points only
        kept, lat, lon = _kept_on_axes(*axes, options)
        if len(values) != len(axes[0]) * len(axes[1]):
            raise ShredError(f"field {entry.line()} has {len(values)} values for its grid")
        values, cell = values[kept], cell_key(lat, lon)
        lat, lon = lat.astype(np.float32), lon.astype(np.float32)
    else:
        lat, lon, cell = coordinates(handle)
        if len(values) != len(lat):
            raise ShredError(f"field {entry.line()} has {len(values)} values for {len(lat)} points")
        kept = _kept_points(handle, lat, lon, options)
        if kept is not None:
            values, lat, lon, cell = values[kept], lat[kept], lon[kept], cell[kept]
    ref, step = field_times(handle)
    missing = values >= MISSING_SENTINEL * 0.999
    if options.missing_values:
        missing |= np.isin(values, options.missing_values)
    columns = _columns(entry, meta, ref, step, lat, lon, cell, values, missing)
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def _grib_tables(raw: Path, entries, idx: Path, meta: dict, options: ShredOptions):
    for entry, handle in named_fields(raw, entries, str(idx)):
        yield field_table(handle, entry, meta, options)


def _columns(entry, meta: dict, ref: datetime, step: int, lat, lon, cell, values, missing=None):
    """The rows of one field, as Arrow columns of SCHEMA."""
    n = len(values)
    valid = ref + timedelta(minutes=step)
    return {
        "source": _constant(meta["source"], n),
        "variable": _constant(entry.variable, n),
        "level": _constant(entry.level, n),
        "forecast": _constant(entry.forecast, n),
        "ref_time": pa.array(
            np.full(n, np.datetime64(ref.replace(tzinfo=None), "s")), pa.timestamp("s", tz="UTC")
        ),
        "step": pa.array(np.full(n, step, dtype=np.int32)),
        "valid_time": pa.array(
            np.full(n, np.datetime64(valid.replace(tzinfo=None), "s")), pa.timestamp("s", tz="UTC")
        ),
        "lat": pa.array(lat.astype(np.float32, copy=False)),
        "lon": pa.array(lon.astype(np.float32, copy=False)),
        "cell": pa.array(cell),
        "value": pa.array(values.astype(np.float32, copy=False), mask=missing),
        "raw_file_id": _constant(meta["run_id"], n),
        "raw_key": _constant(meta["raw_key"], n),
    }


def _abi_tables(raw: Path, entries, idx: Path, meta: dict, options: ShredOptions):
    with abi_read.open_abi(raw, str(raw)) as ds:
        ref = abi_read.scan_start(ds, str(raw))
        for entry in entries:
            for px in abi_read.valid_pixels(
                ds, entry.variable, str(raw), options.stride, options.bbox, options.dqf_keep
            ):
                cell = cell_key(px.lat, px.lon)
                columns = _columns(entry, meta, ref, 0, px.lat, px.lon, cell, px.value)
                yield pa.Table.from_pydict(columns, schema=SCHEMA)


def shred(
    raw: Path, idx: Path, sidecar: Path, out: Path, options: ShredOptions = ShredOptions()
) -> ShredStats:
    """Write `out` (Parquet) from `raw`; `out` appears only when every field is written."""
    meta = json.loads(sidecar.read_text())
    entries = inventory.parse(idx.read_text(), str(idx))
    tables = _abi_tables if meta.get("format") == "nc" else _grib_tables
    rows = 0
    pending: list[pa.Table] = []
    tmp = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with pq.ParquetWriter(tmp, SCHEMA, **PARQUET_OPTIONS) as writer:
            for table in tables(raw, entries, idx, meta, options):
                pending.append(table)
                rows += table.num_rows
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending).unify_dictionaries())
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending).unify_dictionaries())
        os.replace(tmp, out)
    except eccodes.CodesInternalError as exc:
        raise ShredError(f"{raw}: eccodes cannot decode the file: {exc}") from exc
    except (InventoryMismatch, abi_read.AbiError) as exc:
        raise ShredError(str(exc)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return ShredStats(fields=len(entries), rows=rows)
