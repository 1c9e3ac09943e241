"""(c) Layouts for storing grids once (issue 27): bytes per value and point-series time of
today's `grid_data` (A) against a grid registry with sparse value rows (B: float values,
C: the source's packed integers with the field's scale), all in one chDB store.

Real fields from samples/ (GFS 0.25, HRRR Lambert, MRMS, the ERA5 week, GOES CMIP) are shredded
by gridflow's own shred. A is loaded as gridflow loads it (`clickhouse.load` after `migrate`).
For B and C each field's points (its shred rows, NULL-valued ones included) define its grid;
a grid's points are stored once in `grid_points` and value rows name (grid, point) for the
points that have a value. C stores X of value = (R + X * 2^E) * 10^-D (GRIB, read with
eccodes) or value = X * scale_factor + add_offset (NetCDF); the benchmark proves in the store
that C decodes to the same float32 bits as B at every valued point of every sample.

Bytes per value are per grid point of a field (A's rows): compressed column bytes from
system.parts_columns after OPTIMIZE FINAL, against the raw file's size over the same count
(MRMS as published, gzipped). Codec candidates are extra columns of one table holding the same
data, so each is measured on the same rows. The registry is reported apart: it is paid once
per grid, not per run.

Point series: the GFS field re-stamped to GRID_LAYOUTS_RUNS runs (four a day) in each layout;
p50 over random places of gridflow's own `query.series` (A) against one query that takes the
grid from the field's first row, the nearest point from `grid_points` and then the series (B,
C). The `grid_data` contract over B is measured as a view joining the registry and as a view
reading it through a dictionary, on a lat/lon box query, against A (and the same rows asked
by `(grid, point) IN` the registry's box, as a registry-aware caller would). Last, purging a
day: a dropped day partition against deletes inside a month partition.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import eccodes
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import REPO, SAMPLES, p50, report
from gridflow import inventory, rows
from gridflow.formats.abi import read as abi_read
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import ShredOptions, shred
from gridflow.query import grids as query
from gridflow.sinks import clickhouse

RUNS = int(os.environ.get("GRID_LAYOUTS_RUNS", "12"))  # 40: 15 min, 6 GB
PLACES = int(os.environ.get("GRID_LAYOUTS_PLACES", "31"))


@dataclass(frozen=True)
class Sample:
    source: str
    name: str
    format: str = "grib2"
    options: ShredOptions = ShredOptions()
    abi: tuple[str, str] | None = None  # (variable, level) of an ABI file's one field


MRMS = "MRMS_ReflectivityAtLowestAltitude_00.50_20230406-120039.grib2.gz"
CMIP = "OR_ABI-L2-CMIPM1-M3C01_G16_s20171931811268_e20171931811326_c20171931811382.nc"
ALL_SAMPLES = (
    Sample("gfs", "gfs.complex.grib2"),
    Sample("hrrr", "hrrr.t06z.wrfsfcf01-TMP.grib2"),
    Sample("mrms", MRMS, options=ShredOptions(missing_values=(-999.0, -99.0))),
    Sample("era5", "era5-2mt-2019-03-uk-week1.grib"),
    Sample("goes", CMIP, "abi_netcdf", abi=("CMI", "band 1")),
)
WANTED = os.environ.get("GRID_LAYOUTS_SOURCES")
SAMPLES_USED = tuple(s for s in ALL_SAMPLES if not WANTED or s.source in WANTED.split(","))
SERIES_SOURCE = "gfs-runs"  # the GFS field re-stamped RUNS times
SERIES_FIELD = ("HGT", "500 mb", "24 hour fcst")  # the GFS sample's one field

# half the box searched for the nearest point: two spacings of the GFS 0.25 degree grid (the
# registry knows each grid's spacing)
NEAREST_BOX_DEGREES = 0.5
REGISTRY_GRANULARITY = int(os.environ.get("GRID_LAYOUTS_REGISTRY_GRANULARITY", "8192"))
IDENTITY_COLUMNS = ("source", "variable", "level", "forecast", "descriptor", "ref_time", "step")
COMMON = (*IDENTITY_COLUMNS, "grid")

# Codec candidates: each column of a group holds the same data, so their sizes compare directly.
POINT_CODECS = {
    "point": "Delta, ZSTD(1)",
    "point_dd": "DoubleDelta, ZSTD(1)",
    "point_t64": "T64, ZSTD(1)",
    "point_zstd": "ZSTD(1)",
}
VALUE_CODECS = {
    "value": "ZSTD(3)",
    "value_delta": "Delta, ZSTD(3)",
    "value_gorilla": "Gorilla, ZSTD(3)",
    "value_lz4": "LZ4",
}
PACKED_CODECS = {
    "x": ("UInt32", "T64, ZSTD(3)"),
    "x_delta": ("UInt32", "Delta, ZSTD(3)"),
    "x_zstd": ("UInt32", "ZSTD(3)"),
    "x_dd": ("UInt32", "DoubleDelta, ZSTD(3)"),
    "x_dd9": ("UInt32", "DoubleDelta, ZSTD(9)"),
    # 0 where X needs more than 16 bits (the report says where it does)
    "x16": ("UInt16", "T64, ZSTD(3)"),
    "x16_delta": ("UInt16", "Delta, ZSTD(3)"),
    "x16_dd": ("UInt16", "DoubleDelta, ZSTD(3)"),
}
FIELD_KEY = "source, variable, level, forecast, descriptor"
SORT_KEYS = {
    "point": f"{FIELD_KEY}, grid, point, ref_time, step",
    "run": f"{FIELD_KEY}, ref_time, step, grid, point",
}
PARTITIONS = {"day": "(source, toYYYYMMDD(ref_time))", "month": "(source, toYYYYMM(ref_time))"}
# table: (packed values?, sort key, partitions)
LAYOUT_TABLES = {
    "b_point_month": (False, "point", "month"),
    "b_point_day": (False, "point", "day"),
    "b_run_month": (False, "run", "month"),
    "c_point_month": (True, "point", "month"),
    "c_run_month": (True, "run", "month"),
}


@dataclass
class FieldData:
    identity: tuple  # rows.IDENTITY
    lat: np.ndarray
    lon: np.ndarray
    value: np.ndarray  # float32, NaN where the shred row is NULL
    valid: np.ndarray  # bool
    scale: tuple[float, float, float] = (0.0, 1.0, 1.0)  # (r, s, d): value = (r + X s) d
    packed: np.ndarray | None = None  # X at the valid points
    grid: int = 0  # the registry's id of the field's grid


@dataclass
class SampleData:
    sample: Sample
    raw_bytes: int
    fields: list[FieldData]
    points: int = 0  # grid point values (A's rows)
    valued: int = 0  # of them with a value (B's rows)
    packed_bits: int = 0  # the widest packed integer X

    def __post_init__(self) -> None:
        self.points = sum(len(f.lat) for f in self.fields)
        self.valued = sum(int(f.valid.sum()) for f in self.fields)
        self.packed_bits = max(
            int(f.packed.max()).bit_length()
            for f in self.fields
            if f.packed is not None and len(f.packed)
        )


def _shred(sample: Sample, tmp: Path) -> tuple[Path, Path]:
    """(raw file as decoded, shred) of one sample, shredded as the workflow does."""
    raw = tmp / f"{sample.source}.raw"
    if sample.name.endswith(".gz"):
        with gzip.open(SAMPLES / sample.name) as packed, open(raw, "wb") as out:
            shutil.copyfileobj(packed, out)
    else:
        shutil.copyfile(SAMPLES / sample.name, raw)
    if sample.abi:
        entries = [inventory.IdxEntry("1", 0, "d=2017071218", *sample.abi, "anl")]
    else:
        entries = build_inventory(raw)
    idx, side, out = (tmp / f"{sample.source}.{ext}" for ext in ("idx", "json", "parquet"))
    idx.write_text(inventory.format_lines(entries))
    lineage = {"source": sample.source, "run_id": "b", "raw_key": f"raw/{sample.source}"}
    side.write_text(json.dumps({**lineage, "format": sample.format}))
    shred(raw, idx, side, out, sample.options)
    return raw, out


def _fields(parquet: Path) -> list[FieldData]:
    """A shred's fields, split on its `field` index (a field's rows are contiguous)."""
    table = pq.read_table(parquet)
    identities = rows.identities_of(pq.read_metadata(parquet).metadata)
    index = table.column("field").to_numpy()
    lat = table.column("lat").to_numpy()
    lon = table.column("lon").to_numpy()
    value_column = table.column("value").combine_chunks()
    valid = value_column.is_valid().to_numpy(zero_copy_only=False)
    value = value_column.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float32)
    bounds = [0, *(np.flatnonzero(np.diff(index)) + 1), len(index)]
    fields = []
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        n = int(index[first])
        assert (index[first:end] == n).all()
        part = slice(first, end)
        fields.append(FieldData(identities[n], lat[part], lon[part], value[part], valid[part]))
    return fields


def _power_of_ten(exponent: int) -> float:
    """10^exponent as eccodes computes it (repeated products, not pow)."""
    result = 1.0
    for _ in range(abs(exponent)):
        result = result * 10.0 if exponent > 0 else result / 10.0
    return result


def _pack_grib(raw: Path, fields: list[FieldData]) -> int:
    """Give each field its GRIB scale and packed integers; the count of valid points whose
    decode from X is not bit for bit eccodes' decoded float32 (and the shred's value)."""
    wrong = 0
    with open(raw, "rb") as fh:
        for field in fields:
            handle = eccodes.codes_grib_new_from_file(fh)
            try:
                decoded = eccodes.codes_get_values(handle)
                r = eccodes.codes_get_double(handle, "referenceValue")
                e = eccodes.codes_get_long(handle, "binaryScaleFactor")
                d = eccodes.codes_get_long(handle, "decimalScaleFactor")
            finally:
                eccodes.codes_release(handle)
            assert len(decoded) == len(field.lat), "one GRIB message per shred field, in order"
            s, ten = 2.0**e, _power_of_ten(-d)
            exact = decoded[field.valid]
            x = np.rint((exact / ten - r) / s)
            field.scale, field.packed = (r, s, ten), x.astype(np.uint32)
            back = ((x * s + r) * ten).astype(np.float32)
            wrong += int(
                np.count_nonzero(back.view(np.uint32) != exact.astype(np.float32).view(np.uint32))
            )
            shredded = field.value[field.valid]
            wrong += int(
                np.count_nonzero(
                    shredded.view(np.uint32) != exact.astype(np.float32).view(np.uint32)
                )
            )
    return wrong


def _pack_netcdf(raw: Path, sample: Sample, fields: list[FieldData]) -> int:
    """As _pack_grib for an ABI NetCDF: X is the stored short, value = X scale + offset."""
    with abi_read.open_abi(raw, str(raw)) as ds:
        packing = abi_read.Packing.of(abi_read.product_variable(ds, sample.abi[0], str(raw)))
    wrong = 0
    for field in fields:
        shredded = field.value[field.valid]
        x = np.rint((shredded.astype(np.float64) - packing.offset) / packing.scale)
        field.scale, field.packed = (
            (packing.offset / packing.scale, packing.scale, 1.0),
            x.astype(np.uint32),
        )
        back = packing.unpack(x.astype(packing.dtype))  # gridflow's own decode
        wrong += int(np.count_nonzero(back.view(np.uint32) != shredded.view(np.uint32)))
    return wrong


def _grid_id(field: FieldData) -> int:
    digest = hashlib.blake2b(field.lat.tobytes() + field.lon.tobytes(), digest_size=8)
    return int.from_bytes(digest.digest(), "little") >> 1  # fits Int64 readers too


def _value_rows(data: SampleData, grids: dict[int, FieldData]) -> pa.Table:
    """The sparse value rows of one sample (B's and C's columns together)."""
    parts = []
    for field in data.fields:
        grid = field.grid = _grid_id(field)
        grids.setdefault(grid, field)
        point = np.flatnonzero(field.valid).astype(np.uint32)
        n = len(point)
        variable, level, forecast, descriptor, ref, step = field.identity
        r, s, d = field.scale
        x = field.packed if field.packed is not None else np.zeros(n, np.uint32)
        parts.append(
            pa.table(
                {
                    "source": pa.array([data.sample.source] * n, pa.string()),
                    "variable": pa.array([variable] * n, pa.string()),
                    "level": pa.array([level] * n, pa.string()),
                    "forecast": pa.array([forecast] * n, pa.string()),
                    "descriptor": pa.array([descriptor] * n, pa.string()),
                    "ref_time": pa.array(
                        np.full(n, int(ref.timestamp()), np.int64), pa.timestamp("s", tz="UTC")
                    ),
                    "step": pa.array(np.full(n, step, np.int32)),
                    "grid": pa.array(np.full(n, grid, np.uint64)),
                    "point": pa.array(point),
                    "value": pa.array(field.value[field.valid]),
                    "r": pa.array(np.full(n, r)),
                    "s": pa.array(np.full(n, s)),
                    "d": pa.array(np.full(n, d)),
                    "x": pa.array(x),
                }
            )
        )
    return pa.concat_tables(parts)


def _points_rows(grid: int, field: FieldData) -> pa.Table:
    n = len(field.lat)
    return pa.table(
        {
            "grid": pa.array(np.full(n, grid, np.uint64)),
            "point": pa.array(np.arange(n, dtype=np.uint32)),
            "lat": pa.array(field.lat),
            "lon": pa.array(field.lon),
        }
    )


def _create_tables(client) -> None:
    wide = "SETTINGS min_bytes_for_wide_part = 0"  # per-column sizes even for small parts
    client.command(
        "CREATE TABLE grid_points (grid UInt64, point UInt32 CODEC(Delta, ZSTD(1)), "
        "lat Float32 CODEC(Delta, ZSTD(3)), lon Float32 CODEC(Delta, ZSTD(3)), "
        "lat_zstd Float32 CODEC(ZSTD(3)), lon_zstd Float32 CODEC(ZSTD(3)), "
        "INDEX lat_minmax lat TYPE minmax GRANULARITY 1, "
        "INDEX lon_minmax lon TYPE minmax GRANULARITY 1) "
        f"ENGINE = MergeTree PARTITION BY grid ORDER BY (grid, point) {wide}, "
        f"index_granularity = {REGISTRY_GRANULARITY}"
    )
    identity = (
        "source LowCardinality(String), variable LowCardinality(String), "
        "level LowCardinality(String), forecast LowCardinality(String), "
        "descriptor LowCardinality(String), ref_time DateTime('UTC') CODEC(Delta, ZSTD(1)), "
        "step Int32 CODEC(Delta, ZSTD(1)), grid UInt64 CODEC(ZSTD(1))"
    )
    points = ", ".join(f"{name} UInt32 CODEC({codec})" for name, codec in POINT_CODECS.items())
    floats = ", ".join(f"{name} Float32 CODEC({codec})" for name, codec in VALUE_CODECS.items())
    packed = ", ".join(f"{n} {t} CODEC({codec})" for n, (t, codec) in PACKED_CODECS.items())
    scale = "r Float64 CODEC(ZSTD(1)), s Float64 CODEC(ZSTD(1)), d Float64 CODEC(ZSTD(1))"
    for table, (is_packed, key, partition) in LAYOUT_TABLES.items():
        values = f"{scale}, {packed}" if is_packed else floats
        client.command(
            f"CREATE TABLE {table} ({identity}, {points}, {values}) ENGINE = MergeTree "
            f"PARTITION BY {PARTITIONS[partition]} ORDER BY ({SORT_KEYS[key]}) {wide}"
        )


def _file(path: Path) -> str:
    return f"file('{path}', Parquet)"


def _insert_values(client, table: str, parquet: Path) -> None:
    is_packed = LAYOUT_TABLES[table][0]
    columns = [*COMMON, *POINT_CODECS]
    select = [*COMMON, *("point" for _ in POINT_CODECS)]
    if is_packed:
        columns += ["r", "s", "d", *PACKED_CODECS]
        select += ["r", "s", "d"]
        select += [
            "if(x < 65536, toUInt16(x), 0)" if kind == "UInt16" else "x"
            for kind, _ in PACKED_CODECS.values()
        ]
    else:
        columns += list(VALUE_CODECS)
        select += ["value" for _ in VALUE_CODECS]
    client.command(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select)} FROM "
        f"{_file(parquet)}"
    )


def _restamp(client, table: str, columns: list[str], extra: dict[str, str]) -> None:
    """RUNS copies of the GFS rows as SERIES_SOURCE, four runs a day."""
    select = [extra.get(c, c) for c in columns]
    select[columns.index("source")] = f"'{SERIES_SOURCE}'"
    select[columns.index("ref_time")] = "ref_time + toIntervalHour(6 * r)"
    client.command(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(select)} FROM {table} "
        f"ARRAY JOIN range({RUNS}) AS r WHERE source = 'gfs'"
    )


def _column_bytes(client) -> dict[tuple[str, str, str], int]:
    """(table, source, column) -> compressed bytes of the active parts."""
    found = client.query(
        "SELECT table, partition, column, sum(column_data_compressed_bytes) FROM "
        "system.parts_columns WHERE database = currentDatabase() AND active "
        "GROUP BY table, partition, column"
    ).result_rows
    sizes: dict[tuple[str, str, str], int] = {}
    for table, partition, column, size in found:
        # partitions print as ('source',yyyymm) or as the grid id
        source = partition.split("'")[1] if partition.startswith("(") else partition
        key = (table, source, column)
        sizes[key] = sizes.get(key, 0) + int(size)
    return sizes


def _table_bytes(client, table: str, source: str) -> int:
    return int(
        client.command(
            "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = "
            f"currentDatabase() AND table = '{table}' AND active AND partition LIKE %(p)s",
            parameters={"p": f"('{source}',%"},
        )
    )


def _field_where(source: str) -> str:
    variable, level, forecast = SERIES_FIELD
    return (
        f"source = '{source}' AND variable = '{variable}' AND level = '{level}' "
        f"AND forecast = '{forecast}' AND descriptor = ''"
    )


def _nearest_sql(lat: float, lon: float, table: str) -> str:
    """The field's grid from its first row, the nearest point from the registry (a box of two
    grid spacings around the place, through the registry's min-max indexes, then the distance)."""
    where = _field_where(SERIES_SOURCE)
    half = NEAREST_BOX_DEGREES
    half_lon = min(180.0, half / max(0.02, np.cos(np.radians(lat))))
    return (
        f"(SELECT grid FROM {table} WHERE {where} LIMIT 1) AS g, "
        f"(SELECT point FROM grid_points WHERE grid = g "
        f"AND lat BETWEEN {lat - half} AND {lat + half} "
        f"AND lon BETWEEN {lon - half_lon} AND {lon + half_lon} "
        f"ORDER BY greatCircleDistance(lon, lat, {lon}, {lat}) LIMIT 1) AS p"
    )


def _decoded(value: str = "x") -> str:
    return f"toFloat32((toFloat64({value}) * s + r) * d)"


def _series_sql(lat: float, lon: float, table: str) -> str:
    value = _decoded() if LAYOUT_TABLES[table][0] else "value"
    return (
        f"WITH {_nearest_sql(lat, lon, table)} SELECT ref_time, step, {value} FROM {table} "
        f"WHERE {_field_where(SERIES_SOURCE)} AND grid = g AND point = p ORDER BY ref_time, step"
    )


def _create_views(client) -> str | None:
    """grid_data over B: a join view and a dictionary view; the dictionary's error if any."""
    columns = (
        "v.source AS source, v.variable AS variable, v.level AS level, v.forecast AS forecast, "
        "v.descriptor AS descriptor, v.ref_time AS ref_time, v.step AS step, "
        "v.ref_time + toIntervalMinute(v.step) AS valid_time"
    )
    client.command(
        f"CREATE VIEW grid_data_join AS SELECT {columns}, p.lat AS lat, p.lon AS lon, "
        "v.value AS value FROM b_point_month AS v INNER JOIN grid_points AS p "
        "ON v.grid = p.grid AND v.point = p.point"
    )
    try:
        client.command(
            "CREATE DICTIONARY grid_points_dict (grid UInt64, point UInt32, lat Float32, "
            "lon Float32) PRIMARY KEY grid, point SOURCE(CLICKHOUSE(TABLE 'grid_points')) "
            "LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(0)"
        )
        client.command(
            f"CREATE VIEW grid_data_dict AS SELECT {columns}, "
            "dictGet('grid_points_dict', 'lat', (v.grid, v.point)) AS lat, "
            "dictGet('grid_points_dict', 'lon', (v.grid, v.point)) AS lon, "
            "v.value AS value FROM b_point_month AS v"
        )
    except Exception as exc:  # chDB builds without dictionaries: say so, measure the rest
        return str(exc).strip().splitlines()[0]
    return None


def _box_sql(view: str, lat: float, lon: float) -> str:
    return (
        f"SELECT ref_time, step, lat, lon, value FROM {view} WHERE "
        f"{_field_where(SERIES_SOURCE)} AND lat BETWEEN {lat - 0.13} AND {lat + 0.13} "
        f"AND lon BETWEEN {lon - 0.13} AND {lon + 0.13}"
    )


def _box_in_sql(lat: float, lon: float) -> str:
    """The box query as a registry-aware caller would write it (no view)."""
    return (
        f"SELECT ref_time, step, value FROM b_point_month WHERE {_field_where(SERIES_SOURCE)} "
        "AND (grid, point) IN (SELECT grid, point FROM grid_points WHERE "
        f"lat BETWEEN {lat - 0.13} AND {lat + 0.13} AND lon BETWEEN {lon - 0.13} AND {lon + 0.13})"
    )


def _load_samples(client, tmp: Path) -> tuple[list[SampleData], dict[int, int], int]:
    """Every sample into A, B and C: (samples, points of each grid, valued points whose packed
    integers do not decode to the source's float32)."""
    data, grids, wrong = [], {}, 0
    sizes: dict[int, int] = {}  # grid -> points
    for sample in SAMPLES_USED:
        raw, parquet = _shred(sample, tmp)
        clickhouse.load(client, parquet, sample.source, f"raw/{sample.source}")
        fields = _fields(parquet)
        if sample.abi:
            wrong += _pack_netcdf(raw, sample, fields)
        else:
            wrong += _pack_grib(raw, fields)
        one = SampleData(sample, (SAMPLES / sample.name).stat().st_size, fields)
        values = tmp / f"{sample.source}.values.parquet"
        known = set(grids)
        pq.write_table(_value_rows(one, grids), values)
        for table in LAYOUT_TABLES:
            _insert_values(client, table, values)
        for grid in set(grids) - known:
            points = tmp / f"{grid}.points.parquet"
            pq.write_table(_points_rows(grid, grids[grid]), points)
            client.command(
                "INSERT INTO grid_points (grid, point, lat, lon, lat_zstd, lon_zstd) "
                f"SELECT grid, point, lat, lon, lat, lon FROM {_file(points)}"
            )
        sizes.update((grid, len(grids[grid].lat)) for grid in set(grids) - set(sizes))
        for field in fields:  # keep only what the report needs
            field.lat = field.lon = field.value = field.packed = np.empty(0)
        data.append(one)
        raw.unlink()
    return data, sizes, wrong


def _in_store_round_trip(client) -> tuple[int, int]:
    """(B rows, rows of C whose decoded value differs from B's in any bit or is missing)."""
    on = ", ".join(COMMON + ("point",))
    total = int(client.command("SELECT count() FROM b_point_month"))
    differ = int(
        client.command(
            f"SELECT count() FROM b_point_month AS b LEFT JOIN c_point_month AS c USING ({on}) "
            f"WHERE reinterpretAsUInt32(b.value) != reinterpretAsUInt32({_decoded('c.x')}) "
            "OR c.d = 0",
            settings={"join_use_nulls": 0},
        )
    )
    return total, differ


def main() -> None:
    rng = random.Random(17)
    places = [(rng.uniform(-80, 80), rng.uniform(-180, 180)) for _ in range(PLACES)]
    with tempfile.TemporaryDirectory() as tmp:
        client = clickhouse.connect(f"chdb://{tmp}/ch")
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        _create_tables(client)
        start = time.perf_counter()
        data, grids, wrong = _load_samples(client, Path(tmp))
        loading = time.perf_counter() - start
        checked, differ = _in_store_round_trip(client)
        series = any(s.source == "gfs" for s in SAMPLES_USED)
        if series:
            a_columns = [
                "source", "variable", "level", "forecast", "descriptor", "ref_time", "step",
                "lat", "lon", "value", "raw_file_id", "raw_key",
            ]  # fmt: skip
            _restamp(client, "grid_data", a_columns, {"raw_key": "concat('raw/run', toString(r))"})
            for table, (is_packed, _, _) in LAYOUT_TABLES.items():
                names = [*COMMON, *POINT_CODECS]
                names += ["r", "s", "d", *PACKED_CODECS] if is_packed else list(VALUE_CODECS)
                _restamp(client, table, names, {})
        for table in ("grid_data", "grid_points", *LAYOUT_TABLES):
            client.command(f"OPTIMIZE TABLE {table} FINAL")
        sizes = _column_bytes(client)
        _report_sizes(client, data, grids, sizes, wrong, checked, differ, loading)
        if series:
            _report_series(client, places)
        client.close()


def _bytes(sizes, table: str, source: str, columns) -> int:
    return sum(sizes.get((table, source, c), 0) for c in columns)


def _best(sizes, table: str, source: str, codecs) -> tuple[str, int]:
    return min(((c, _bytes(sizes, table, source, [c])) for c in codecs), key=lambda t: t[1])


def _report_sizes(client, data, grids, sizes, wrong, checked, differ, loading) -> None:
    print(f"grid layouts: loaded {len(data)} samples into A, B and C in {loading:.0f} s")
    packed = sum(s.valued for s in data)
    print(
        f"packed integers round trip: {packed - wrong:,} of {packed:,} valued points decode to "
        f"eccodes' / netCDF's float32 bit for bit; in the store C = B at {checked - differ:,} "
        f"of {checked:,} rows"
    )
    # not the re-stamped GFS copies: identical runs would flatter every codec along a series
    runs = [
        (s.sample.source, s.points, s.valued, s.raw_bytes, len(s.fields), s.packed_bits)
        for s in data
    ]
    grid_of = {}
    for sample in data:
        grid_of[sample.sample.source] = {f.grid for f in sample.fields}
    for source, points, valued, raw_bytes, nfields, bits in runs:
        raw = raw_bytes / points
        a = _table_bytes(client, "grid_data", source) / points
        line = []
        best = {}
        packed = [c for c, (kind, _) in PACKED_CODECS.items() if bits <= 16 or kind != "UInt16"]
        for table, (is_packed, _, _) in LAYOUT_TABLES.items():
            codecs = packed if is_packed else VALUE_CODECS
            p_name, p_bytes = _best(sizes, table, source, POINT_CODECS)
            v_name, v_bytes = _best(sizes, table, source, codecs)
            common = _bytes(sizes, table, source, COMMON + (("r", "s", "d") if is_packed else ()))
            best[table] = (common + p_bytes + v_bytes) / points
            line.append(f"{table} {best[table]:.3f} ({p_name}, {v_name})")
        report(
            f"B bytes per value / A bytes per value, {source}",
            best["b_point_month"] / a,
            f"{nfields} field(s), {points:,} grid point values, {valued:,} valued; raw "
            f"{raw:.3f} B/value, A grid_data {a:.3f} ({a / raw:.2f}x raw), "
            + ", ".join(line)
            + f"; C/raw {best['c_point_month'] / raw:.2f}; X up to {bits} bits",
        )
        for table in ("b_point_month", "b_run_month", "c_point_month", "c_run_month"):
            codecs = packed if LAYOUT_TABLES[table][0] else VALUE_CODECS
            each = ", ".join(
                f"{c} {_bytes(sizes, table, source, [c]) / max(valued, 1):.3f}"
                for c in (*POINT_CODECS, *codecs)
            )
            print(f"  {source} {table} bytes per valued row by column: {each}")
    for source, keys in grid_of.items():
        registry = sum(
            sum(sizes.get(("grid_points", str(k), c), 0) for c in ("grid", "point", "lat", "lon"))
            for k in keys
        )
        plain = sum(
            sum(sizes.get(("grid_points", str(k), c), 0) for c in ("lat_zstd", "lon_zstd"))
            for k in keys
        )
        points = sum(grids[k] for k in keys)
        print(
            f"  registry {source}: {len(keys)} grid(s) of {points:,} points, {registry:,} bytes "
            f"once ({registry / points:.3f} B per point, lat and lon Delta+ZSTD; with plain "
            f"ZSTD lat+lon {plain / points:.3f})"
        )
    mrms = next((s for s in data if s.sample.source == "mrms"), None)
    if mrms:
        in_a = int(client.command("SELECT count() FROM grid_data WHERE source = 'mrms'"))
        in_b = int(client.command("SELECT count() FROM b_point_month WHERE source = 'mrms'"))
        report(
            "MRMS rows B / A",
            in_b / in_a,
            f"{in_a:,} rows in grid_data (NULL points included), {in_b:,} in B",
        )


def _report_series(client, places) -> None:
    field = query.Field(SERIES_SOURCE, *SERIES_FIELD[:2])
    rows_a = int(client.command("SELECT count() FROM grid_data"))

    def ours(lat, lon):
        assert len(query.series(client, field, lat, lon)) == RUNS

    def layout(table):
        def run(lat, lon):
            assert len(client.query(_series_sql(lat, lon, table)).result_rows) == RUNS

        return run

    def nearest(lat, lon):
        return client.query(
            f"WITH {_nearest_sql(lat, lon, 'b_point_month')} SELECT g, p"
        ).result_rows[0]

    known = {place: nearest(*place) for place in places}

    def known_point(lat, lon):
        grid, point = known[(lat, lon)]
        found = client.query(
            f"SELECT ref_time, step, value FROM b_point_month WHERE "
            f"{_field_where(SERIES_SOURCE)} AND grid = {grid} AND point = {point} "
            "ORDER BY ref_time, step"
        ).result_rows
        assert len(found) == RUNS

    floor = p50(lambda la, lo: client.query("SELECT 1"), places)
    ours(*places[0])
    t_a = p50(ours, places)
    times = {}
    for table in LAYOUT_TABLES:
        layout(table)(*places[0])
        times[table] = p50(layout(table), places)
    t_nearest = p50(nearest, places)
    t_known = p50(known_point, places)
    detail = ", ".join(f"{t} {s * 1000:.1f} ms" for t, s in times.items())
    report(
        "point series B / A",
        times["b_point_month"] / t_a,
        f"{RUNS} runs of the GFS 0.25 field ({rows_a:,} rows in A, {RUNS // 4} days); p50 over "
        f"{len(places)} places: A gridflow point {t_a * 1000:.1f} ms, {detail}; of B: the "
        f"nearest point from the registry {t_nearest * 1000:.1f} ms, the series of a known "
        f"point {t_known * 1000:.1f} ms; a query's floor (SELECT 1) {floor * 1000:.1f} ms",
    )
    _report_views(client, places[:5])
    _report_purge(client)


def _report_views(client, places) -> None:
    error = _create_views(client)
    box = {"grid_data": p50(lambda la, lo: client.query(_box_sql("grid_data", la, lo)), places)}
    box["view joining grid_points"] = p50(
        lambda la, lo: client.query(_box_sql("grid_data_join", la, lo)), places
    )
    if error is None:
        client.query(_box_sql("grid_data_dict", *places[0]))  # loads the dictionary
        box["view with dictGet"] = p50(
            lambda la, lo: client.query(_box_sql("grid_data_dict", la, lo)), places
        )
    box["B by (grid, point) IN the registry's box"] = p50(
        lambda la, lo: client.query(_box_in_sql(la, lo)), places
    )
    detail = ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in box.items())
    report(
        "grid_data view over B / A, lat-lon box of one field",
        box["view joining grid_points"] / box["grid_data"],
        f"p50 over {len(places)} places: {detail}"
        + (f"; dictionary not available: {error}" if error else ""),
    )


def _report_purge(client) -> None:
    """Purging the oldest days of the series: a dropped day partition against a delete inside
    the month partition (lightweight, as gridflow's load deletes, and as a rewriting
    mutation); the faster of two days, as a merge still running slows the first."""
    days = [
        int(day)
        for (day,) in client.query(
            f"SELECT DISTINCT toYYYYMMDD(ref_time) AS day FROM b_point_day "
            f"WHERE source = '{SERIES_SOURCE}' ORDER BY day LIMIT 2"
        ).result_rows
    ]
    ways = {
        "drop day partition": ("ALTER TABLE b_point_day DROP PARTITION ('{s}', {d})", {}),
        "lightweight delete in the month": (
            "DELETE FROM b_point_month WHERE {where}",
            {"lightweight_deletes_sync": 2},
        ),
        "rewriting delete in the month (C)": (
            "ALTER TABLE c_point_month DELETE WHERE {where}",
            {"mutations_sync": 2},
        ),
    }
    timed = {}
    for name, (sql, settings) in ways.items():
        times = []
        for day in days:
            where = f"source = '{SERIES_SOURCE}' AND toYYYYMMDD(ref_time) = {day}"
            start = time.perf_counter()
            client.command(sql.format(s=SERIES_SOURCE, d=day, where=where), settings=settings)
            times.append(time.perf_counter() - start)
        timed[name] = min(times)
    purged = f"source = '{SERIES_SOURCE}' AND toYYYYMMDD(ref_time) IN ({days[0]}, {days[-1]})"
    assert int(client.command(f"SELECT count() FROM b_point_month WHERE {purged}")) == 0
    detail = ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in timed.items())
    report(
        "purge of one day: month-partition lightweight delete / day-partition drop",
        timed["lightweight delete in the month"] / timed["drop day partition"],
        detail,
    )


if __name__ == "__main__":
    main()
