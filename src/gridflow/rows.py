"""The rows gridflow stores, as Arrow: one schema per table, one way to build each.

Grid formats decode into `grid_data` (GRID), gauge formats into `gauge_observations` (GAUGES),
so the shred, the loads and the purge never ask what kind of file a row came from, only which
table its format fills. A field's identity is (variable, level, forecast, descriptor, ref_time,
step): two fields of one file never share it.

A grid is stored once (gridflow.geo.grids): a grid shred's rows are (field, point, value) for
the points that have a value, and the places of its grids' points go beside it
(`GRID_SCHEMA`, one file per shred). A row names its field by its index in the shred's field
list (`FIELDS_KEY` metadata: each field's identity, grid, size and extent), the raw file's
lineage (`LINEAGE`) rides in the metadata too, and the load expands both; what the store can
derive (`valid_time`) the store computes.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

_dict = pa.dictionary(pa.int32(), pa.string())
LINEAGE = ("source", "raw_file_id", "raw_key")  # the load adds these from the shred's metadata
LINEAGE_KEY = b"gridflow.lineage"
IDENTITY = ("variable", "level", "forecast", "descriptor", "ref_time", "step")
FIELDS_KEY = b"gridflow.fields"  # JSON: one ShredField.as_json per field, in index order
MAX_FIELDS = 2**16  # the `field` column is uint16

SCHEMA = pa.schema(
    [
        ("field", pa.uint16()),  # index into the shred's field list
        ("point", pa.uint32()),  # the point's number in its field's grid
        ("value", pa.float32()),  # never null: a point without a value is not a row; 0 if packed
        ("packed", pa.uint16()),  # the packed integer of a packed field (its Packing), else 0
    ]
)
PACKED_MAX = 2**16 - 1


@dataclass(frozen=True)
class Packing:
    """How a field's values are kept as 16-bit integers X, losing nothing: each value is
    float32((X * scale + reference) * decimal), the arithmetic and order of GRIB's simple and
    complex packing as eccodes decodes them (in double, then to the float32 gridflow keeps).
    A field is packed only when every value comes back bit for bit (`pack`); the store
    computes the same expression (`SQL`)."""

    reference: float
    scale: float  # 2 ** binary scale factor
    decimal: float  # 10 ** -decimal scale factor, as eccodes computes it

    def unpack(self, packed: np.ndarray) -> np.ndarray:
        wide = packed.astype(np.float64)
        np.multiply(wide, self.scale, out=wide)
        np.add(wide, self.reference, out=wide)
        if self.decimal != 1.0:  # times 1.0 changes no bit: NetCDF's scale and offset
            np.multiply(wide, self.decimal, out=wide)
        return wide.astype(np.float32)

    def pack(self, values: np.ndarray) -> np.ndarray | None:
        """The integers of float32 `values`, or None when any would not come back exactly."""
        if not len(values):
            return np.zeros(0, np.uint16)
        wide = values.astype(np.float64)
        if self.decimal != 1.0:
            np.divide(wide, self.decimal, out=wide)
        np.subtract(wide, self.reference, out=wide)
        np.divide(wide, self.scale, out=wide)
        np.rint(wide, out=wide)
        low, high = wide.min(), wide.max()  # NaN (a NaN value) fails both
        if not (low >= 0 and high <= PACKED_MAX):
            return None
        packed = wide.astype(np.uint16)
        return packed if np.array_equal(self.unpack(packed), values) else None

    def as_json(self) -> list[float]:
        return [self.reference, self.scale, self.decimal]


# A stored row's value: `v` its grid_values row, `f` its grid_fields row (gridflow.sinks)
VALUE_SQL = (
    "if(f.packed = 1, toFloat32((toFloat64(v.packed) * f.scale + f.reference) * f.decimal), "
    "v.value)"
)
GRID_SCHEMA = pa.schema(
    [
        ("grid", pa.uint64()),
        ("point", pa.uint32()),
        ("lat", pa.float32()),
        ("lon", pa.float32()),  # degrees east in [-180, 180)
    ]
)


@functools.lru_cache(maxsize=8)
def _zeros(n: int) -> pa.Array:
    return pa.array(np.zeros(n, dtype=np.int32))


def constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(_zeros(n), pa.array([value]))


def points(
    lat: np.ndarray, lon: np.ndarray, values: np.ndarray, missing: np.ndarray | None = None
) -> pa.Table:
    """The points of one field (or a block of it) as a format decodes them: every point of its
    grid in order, `missing` where it has no value. The shred keeps the grid's places once and
    the valued points as rows."""
    return pa.table(
        {
            "lat": pa.array(lat.astype(np.float32, copy=False)),
            "lon": pa.array(lon.astype(np.float32, copy=False)),
            "value": pa.array(values.astype(np.float32, copy=False), mask=missing),
        }
    )


@dataclass(frozen=True)
class ShredField:
    """What a shred says of one of its fields: who it is, its grid, how many of the grid's
    points have a value, where the grid lies (None for a grid of no point) and how its values
    are packed (None: kept as float32)."""

    identity: tuple  # (variable, level, forecast, descriptor, ref_time, step)
    grid: int  # gridflow.geo.grids id
    points: int  # the grid's points
    rows: int  # points with a value
    extent: tuple[float, float, float, float] | None  # west, south, east, north
    packing: Packing | None = None

    def as_json(self) -> list:
        variable, level, forecast, descriptor, ref, step = self.identity
        return [
            variable,
            level,
            forecast,
            descriptor,
            f"{ref:%Y-%m-%dT%H:%M:%SZ}",
            step,
            str(self.grid),  # a UInt64: JSON readers other than Python's round it
            self.points,
            self.rows,
            self.packing.as_json() if self.packing else None,
            *(self.extent or ()),
        ]

    @classmethod
    def from_json(cls, item: list) -> ShredField:
        variable, level, forecast, descriptor, ref, step, grid, n, rows, packing, *extent = item
        when = datetime.strptime(ref, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return cls(
            (variable, level, forecast, descriptor, when, step),
            int(grid),
            n,
            rows,
            tuple(extent) if extent else None,
            Packing(*packing) if packing else None,
        )


def fields_metadata(fields: list[ShredField]) -> bytes:
    """The FIELDS_KEY value for a shred's fields, in `field` index order."""
    return json.dumps([f.as_json() for f in fields], separators=(",", ":")).encode()


def fields_of(metadata: dict) -> list[ShredField]:
    """The fields in a shred's metadata, in `field` index order."""
    return [ShredField.from_json(item) for item in json.loads(metadata[FIELDS_KEY])]


def as_stored(shred: pa.Table, fields: list[ShredField], lineage: dict) -> pa.Table:
    """A grid shred's rows as `grid_values` holds them: identity and grid columns from the
    field index, lineage columns as constants."""
    index = shred.column("field").combine_chunks().cast(pa.int32())
    columns = {}
    for n, name in enumerate(IDENTITY):
        values = [f.identity[n] for f in fields]
        if name == "ref_time":
            times = pa.array([t.replace(tzinfo=None) for t in values], pa.timestamp("s", tz="UTC"))
            columns[name] = times.take(index)
        elif name == "step":
            columns[name] = pa.array(values, pa.int32()).take(index)
        else:  # a dictionary of distinct values: ClickHouse refuses one with repeats
            per_field = pa.array(values, pa.string()).dictionary_encode()
            columns[name] = pa.DictionaryArray.from_arrays(
                per_field.indices.take(index), per_field.dictionary
            )
    columns["grid"] = pa.array([f.grid for f in fields], pa.uint64()).take(index)
    for name in ("point", "value", "packed"):
        columns[name] = shred.column(name)
    for name in LINEAGE:
        columns[name] = constant(lineage[name], shred.num_rows)
    return pa.table(columns)


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
    """A table of the store: its name, its shred's schema, the column retention is counted on."""

    name: str
    schema: pa.Schema
    time_column: str
    indexed: bool = False  # rows carry a `field` index (SCHEMA), fields in the metadata


GRID = Table("grid_data", SCHEMA, "ref_time", indexed=True)
GAUGES = Table("gauge_observations", GAUGE_SCHEMA, "time")
TABLES = (GRID, GAUGES)
