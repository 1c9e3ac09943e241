"""Decode a raw GRIB file field by field into a long Parquet table (one row per grid point).

Streaming: one field is decoded, written as one row group and dropped before the next, so peak
memory is a few fields whatever the file size. Every field the inventory lists is written, or
the shred fails: nothing is dropped silently.
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

from gridflow import inventory
from gridflow.grib_read import InventoryMismatch, named_fields
from gridflow.gridgeo import coordinates

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
    """Per source: values that mean "missing" in-band (MRMS: -999, -99), and a bounding box
    [west, south, east, north] and stride (one point in k x k) that choose the rows kept."""

    missing_values: tuple[float, ...] = ()
    bbox: tuple[float, float, float, float] | None = None
    stride: int = 1

    @classmethod
    def from_source(cls, src: dict) -> ShredOptions:
        bbox = src.get("bbox")
        return cls(
            tuple(src.get("missing_values", ())),
            tuple(bbox) if bbox else None,
            src.get("stride", 1),
        )


@dataclass(frozen=True)
class ShredStats:
    fields: int
    rows: int


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


def field_table(
    handle,
    entry: inventory.IdxEntry,
    source: str,
    raw_file_id: str,
    raw_key: str,
    options: ShredOptions = ShredOptions(),
) -> pa.Table:
    eccodes.codes_set(handle, "missingValue", MISSING_SENTINEL)
    values = eccodes.codes_get_values(handle)
    lat, lon, cell = coordinates(handle)
    if len(values) != len(lat):
        raise ShredError(f"field {entry.line()} has {len(values)} values for {len(lat)} points")
    kept = _kept_points(handle, lat, lon, options)
    if kept is not None:
        values, lat, lon, cell = values[kept], lat[kept], lon[kept], cell[kept]
    ref, step = field_times(handle)
    n = len(values)
    valid = ref + timedelta(minutes=step)
    missing = values >= MISSING_SENTINEL * 0.999
    if options.missing_values:
        missing |= np.isin(values, options.missing_values)
    columns = {
        "source": _constant(source, n),
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
        "lat": pa.array(lat),
        "lon": pa.array(lon),
        "cell": pa.array(cell),
        "value": pa.array(values.astype(np.float32), mask=missing),
        "raw_file_id": _constant(raw_file_id, n),
        "raw_key": _constant(raw_key, n),
    }
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def shred(
    raw: Path, idx: Path, sidecar: Path, out: Path, options: ShredOptions = ShredOptions()
) -> ShredStats:
    """Write `out` (Parquet) from `raw`; `out` appears only when every field is written."""
    meta = json.loads(sidecar.read_text())
    entries = inventory.parse(idx.read_text(), str(idx))
    rows = 0
    pending: list[pa.Table] = []
    tmp = out.with_name(out.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with pq.ParquetWriter(tmp, SCHEMA, compression="zstd") as writer:
            for entry, handle in named_fields(raw, entries, str(idx)):
                table = field_table(
                    handle, entry, meta["source"], meta["run_id"], meta["raw_key"], options
                )
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
    except InventoryMismatch as exc:
        raise ShredError(str(exc)) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return ShredStats(fields=len(entries), rows=rows)
