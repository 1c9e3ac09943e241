"""Decode a raw file field by field into a long Parquet table (one row per valued point).

The raw file's format (named in its sidecar) does the decoding; this module streams the tables
into Parquet in row groups of about a million rows, so peak memory is a few fields whatever
the file size. A grid row is (field, point, value); the places of each grid the file's fields
lie on go once into the grids file beside it (`paths.grids_beside`), the fields' identities, grids
and the raw file's lineage into the shred's metadata (gridflow.rows), and `read_rows` gives
every point back with its place. Every field the inventory lists is written, or the shred
fails: nothing is dropped silently, and no two fields of one file may share an identity.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from gridflow import formats, inventory
from gridflow.errors import ShredError
from gridflow.geo import grid_cache
from gridflow.geo.grids import GridBuilder
from gridflow.paths import grids_beside
from gridflow.pipeline.sidecar import Sidecar
from gridflow.rows import (
    FIELDS_KEY,
    GRID_SCHEMA,
    LINEAGE_KEY,
    MAX_FIELDS,
    SCHEMA,
    Packing,
    ShredField,
    as_stored,
    fields_metadata,
    fields_of,
)

__all__ = [
    "SCHEMA",
    "ShredError",
    "ShredOptions",
    "ShredStats",
    "read_rows",
    "shred",
]


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


# No dictionary pages and no statistics: the columns are points and values (millions of
# distinct numbers) and a run-length `field` index, and trying either cost 45% of a full disk.
# LZ4, not ZSTD: a shred lives until its load, and ZSTD cost the GFS 2.5 degree shred 10-20%.
PARQUET_OPTIONS = {"compression": "lz4", "use_dictionary": False, "write_statistics": False}

# Small fields are buffered into row groups of about this many rows: one tiny row group per
# field costs more to write than the field costs to decode.
ROW_GROUP_ROWS = 1_000_000


def _indexed(fields, raw: Path, seen: dict[tuple, tuple[int, str]]):
    """(index, field) of each field, its index the order its identity was first `seen` in,
    refusing a second field with the identity of an earlier, different one."""
    for decoded in fields:
        index, first = seen.setdefault(decoded.identity, (len(seen), decoded.label))
        if first != decoded.label:
            variable, level, forecast, descriptor, ref, step = decoded.identity
            raise ShredError(
                f"{raw}: fields {first!r} and {decoded.label!r} share one identity (variable "
                f"{variable}, level {level!r}, forecast {forecast!r}, descriptor "
                f"{descriptor!r}, reference {ref:%Y-%m-%dT%H:%M:%SZ}, step {step} min): "
                "their rows could not be told apart"
            )
        if index >= MAX_FIELDS:
            raise ShredError(f"{raw}: more than {MAX_FIELDS} fields in one file")
        yield index, decoded


@dataclass
class _FieldGrid:
    """One field as its blocks arrive: its grid's places, its valued points and values."""

    identity: tuple
    index: int
    packing: Packing | None  # the source's, if it packed the field
    grid: GridBuilder = field(default_factory=GridBuilder)
    points: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)

    def add(self, table: pa.Table) -> None:
        """A block of the field's points (`rows.points`): its places, and its valued points."""
        first = self.grid.add(table.column("lat").to_numpy(), table.column("lon").to_numpy())
        value = table.column("value").combine_chunks()
        if value.null_count:
            valued = np.flatnonzero(np.asarray(value.is_valid()))
            value = value.take(pa.array(valued))
            point = (valued + first).astype(np.uint32)
        else:
            point = np.arange(first, first + len(value), dtype=np.uint32)
        self.points.append(point)
        self.values.append(value.to_numpy(zero_copy_only=False).astype(np.float32, copy=False))

    def rows(self) -> tuple[pa.Table, Packing | None]:
        """The field's shred rows, and its packing: the source's packed integers where every
        value comes back from them exactly, else the float32 values."""
        point = np.concatenate(self.points) if self.points else np.zeros(0, np.uint32)
        value = np.concatenate(self.values) if self.values else np.zeros(0, np.float32)
        packed = self.packing.pack(value) if self.packing is not None else None
        if packed is None:
            packed = np.zeros(len(point), np.uint16)
            packing = None
        else:
            value = np.zeros(len(point), np.float32)
            packing = self.packing
        table = pa.table(
            {
                "field": pa.array(np.full(len(point), self.index, dtype=np.uint16)),
                "point": pa.array(point),
                "value": pa.array(value),
                "packed": pa.array(packed),
            },
            schema=SCHEMA,
        )
        return table, packing


def _extent(grid: GridBuilder) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of a grid's places; None for a grid of no point."""
    if not grid.points:
        return None
    with np.errstate(invalid="ignore"):
        lats = [f(b[0]) for b in grid.blocks if len(b[0]) for f in (np.nanmin, np.nanmax)]
        lons = [f(b[1]) for b in grid.blocks if len(b[1]) for f in (np.nanmin, np.nanmax)]
    return (float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats)))


def _grid_table(grid: int, first: int, lat: np.ndarray, lon: np.ndarray) -> pa.Table:
    return pa.table(
        {
            "grid": pa.array(np.full(len(lat), grid, dtype=np.uint64)),
            "point": pa.array(np.arange(first, first + len(lat), dtype=np.uint32)),
            "lat": pa.array(lat),
            "lon": pa.array(lon),
        },
        schema=GRID_SCHEMA,
    )


class _Grids:
    """The grids file being written: each grid once, however many fields lie on it. A shred
    whose fields all lie on one large grid another shred wrote before links that shred's
    grids file (gridflow.geo.grid_cache) instead of writing the places again."""

    def __init__(self, writer: pq.ParquetWriter):
        self.writer, self.written = writer, []  # (grid id, points) in the order written
        self.linked: tuple[int, Path] | None = None  # a kept grids file standing for ours
        # the previous field's grid, id and extent: most fields of a file share one grid
        self.last: tuple[GridBuilder, int, tuple | None] | None = None

    def finish(self, building: _FieldGrid) -> tuple[ShredField, pa.Table]:
        """The field's description and rows, its grid written if new."""
        last, grid = self.last, building.grid
        if last is not None and grid.same_places(last[0]):
            grid_id, extent = last[1], last[2]
        else:
            grid_id, extent = grid.grid_id(), _extent(grid)
        if grid_id not in self._grids():
            self._place(grid_id, grid)
        if last is not None and last[0] is not grid:
            last[0].blocks.clear()  # keep the places of one field only
        self.last = (grid, grid_id, extent)
        table, packing = building.rows()
        described = ShredField(
            building.identity, grid_id, grid.points, table.num_rows, extent, packing
        )
        return described, table

    def _grids(self) -> set[int]:
        return {g for g, _ in self.written} | ({self.linked[0]} if self.linked else set())

    def _place(self, grid_id: int, grid: GridBuilder) -> None:
        kept = None
        if not self.written and grid.points >= grid_cache.MIN_POINTS:
            kept = grid_cache.kept_grids_file(grid_id)
        if kept is not None:
            self.linked = (grid_id, kept)
            return
        if self.linked is not None:  # a second grid: the file holds both after all
            self.writer.write_table(pq.read_table(self.linked[1], schema=GRID_SCHEMA))
            self.written.append((self.linked[0], 0))
            self.linked = None
        start = 0
        for lat, lon in grid.blocks:
            self.writer.write_table(_grid_table(grid_id, start, lat, lon))
            start += len(lat)
        self.written.append((grid_id, grid.points))

    def close(self, written: Path, grids: Path) -> None:
        """Put the grids file in place from `written` (the writer's, closed): the kept file
        it stands for, or it, kept for later shreds when it holds one large grid."""
        if self.linked is not None:
            written.unlink()
            try:
                grid_cache.link_or_copy(self.linked[1], written)
            except OSError:  # trimmed from the cache meanwhile: the last field's places stand
                grid, grid_id, _ = self.last
                with pq.ParquetWriter(written, GRID_SCHEMA, **PARQUET_OPTIONS) as again:
                    start = 0
                    for lat, lon in grid.blocks:
                        again.write_table(_grid_table(grid_id, start, lat, lon))
                        start += len(lat)
        os.replace(written, grids)
        if len(self.written) == 1 and self.written[0][1] >= grid_cache.MIN_POINTS:
            grid_cache.keep_grids_file(self.written[0][0], grids)


def shred(
    raw: Path,
    idx: Path,
    sidecar: Path,
    out: Path,
    options: ShredOptions = ShredOptions(),
    grids: Path | None = None,
) -> ShredStats:
    """Write `out` (Parquet) from `raw`, and the places of its grids into `grids` (default
    `grids_beside(out)`); `out` appears only when every field is written."""
    grids = grids or grids_beside(out)
    meta = Sidecar.read(sidecar)
    entries = inventory.parse(idx.read_text(), str(idx))
    fmt = formats.get(meta.format)
    lineage = {"source": meta.source, "raw_file_id": meta.run_id, "raw_key": meta.raw_key}
    schema = fmt.table.schema.with_metadata({LINEAGE_KEY: json.dumps(lineage)})
    rows = 0
    seen: dict[tuple, tuple[int, str]] = {}  # identity -> (field index, label)
    done: dict[int, ShredField] = {}  # field index -> what its rows came to
    building: _FieldGrid | None = None
    pending: list[pa.Table] = []
    tmp = out.with_name(out.name + ".partial")
    grids_tmp = grids.with_name(grids.name + ".partial")
    out.parent.mkdir(parents=True, exist_ok=True)
    grids.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            pq.ParquetWriter(tmp, schema, **PARQUET_OPTIONS) as writer,
            pq.ParquetWriter(grids_tmp, GRID_SCHEMA, **PARQUET_OPTIONS) as grid_writer,
        ):
            written = _Grids(grid_writer)

            def take(table: pa.Table) -> None:
                nonlocal pending, rows
                pending.append(table)
                rows += table.num_rows
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending).unify_dictionaries())
                    pending = []

            def finish(building: _FieldGrid) -> None:
                done[building.index], table = written.finish(building)
                take(table)

            for index, field_rows in _indexed(fmt.fields(raw, entries, options), raw, seen):
                if not fmt.table.indexed:
                    take(field_rows.table)
                    continue
                if building is None or index != building.index:
                    if building is not None:
                        finish(building)
                    if index in done:
                        raise ShredError(
                            f"{raw}: the blocks of field {field_rows.label!r} came apart"
                        )
                    building = _FieldGrid(field_rows.identity, index, field_rows.packing)
                building.add(field_rows.table)
            if building is not None:
                finish(building)
            if pending:
                writer.write_table(pa.concat_tables(pending).unify_dictionaries())
            if fmt.table.indexed:
                listed = [done[i] for i in range(len(done))]
                writer.add_key_value_metadata({FIELDS_KEY: fields_metadata(listed)})
        written.close(grids_tmp, grids)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        grids_tmp.unlink(missing_ok=True)
    return ShredStats(fields=len(entries), rows=rows)


def read_grids(path: Path) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The places of each grid in a grids file: grid id -> (lat, lon) in point order."""
    table = pq.read_table(path)
    found = {}
    grid = table.column("grid").to_numpy()
    for gid in np.unique(grid):
        mine = table.filter(pa.array(grid == gid))
        order = np.argsort(mine.column("point").to_numpy())
        found[int(gid)] = tuple(mine.column(c).to_numpy()[order] for c in ("lat", "lon"))
    return found


def read_rows(path: Path, with_missing: bool = False) -> pa.Table:
    """A grid shred's rows as people read `grid_data`: each valued point with its place,
    identity and lineage; `with_missing` adds the points of each field's grid without a
    value (value null), so a field reads as its whole grid."""
    file = pq.ParquetFile(path)
    metadata = file.metadata.metadata or {}  # the footer's: the field list is written last
    if FIELDS_KEY not in metadata or LINEAGE_KEY not in metadata:
        raise ShredError(f"{path}: not a gridflow grid shred (no field list or lineage)")
    lineage = json.loads(metadata[LINEAGE_KEY])
    fields = fields_of(metadata)
    places = read_grids(grids_beside(path))
    stored = file.read()
    field_index = stored.column("field").to_numpy()
    parts = []
    nowhere = (np.empty(0, np.float32), np.empty(0, np.float32))
    for index, described in enumerate(fields):
        lat, lon = places.get(described.grid, nowhere)  # a grid of no point is not written
        mine = stored.filter(pa.array(field_index == index))
        point = mine.column("point").to_numpy()
        given = mine.column("value").to_numpy()
        if described.packing is not None:
            given = described.packing.unpack(mine.column("packed").to_numpy())
        if with_missing:
            values = np.full(len(lat), np.nan, dtype=np.float32)
            valued = np.zeros(len(lat), dtype=bool)
            values[point], valued[point] = given, True
            point = np.arange(len(lat), dtype=np.uint32)
            value = pa.array(values, mask=~valued)
        else:
            value = pa.array(given, pa.float32())
        whole = pa.table(
            {
                "field": pa.array(np.full(len(point), index, dtype=np.uint16)),
                "point": pa.array(point, pa.uint32()),
                "value": value,
                "packed": pa.array(np.zeros(len(point), np.uint16)),
            }
        )
        parts.append(
            as_stored(whole, fields, lineage)
            .drop_columns(["packed"])
            .append_column("lat", pa.array(lat[point]))
            .append_column("lon", pa.array(lon[point]))
        )
    if not parts:
        empty = as_stored(stored, fields, lineage).drop_columns(["packed"])
        return empty.append_column("lat", pa.array([], pa.float32())).append_column(
            "lon", pa.array([], pa.float32())
        )
    return pa.concat_tables(parts)
