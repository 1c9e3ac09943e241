"""Load markers: written once a load is in (atomically: a marker that exists is whole), and
what the PostgreSQL catalog records of a raw file's ClickHouse load, carried by its marker.

The ClickHouse load never talks to PostgreSQL (the embedded store must not wait on a database):
it writes the fields it put in the store into its marker, and the PostGIS step, which runs
after it for the same raw file, records that load in `catalog.loads` and `catalog.fields`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, astuple, dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq

from gridflow import paths, rows


@dataclass(frozen=True)
class LoadedField:
    variable: str
    level: str
    forecast: str
    descriptor: str
    ref_time: datetime
    step: int  # minutes
    rows: int
    west: float
    south: float
    east: float
    north: float

    def as_json(self) -> list:
        return [
            self.variable,
            self.level,
            self.forecast,
            self.descriptor,
            self.ref_time.isoformat(),
            self.step,
            self.rows,
            self.west,
            self.south,
            self.east,
            self.north,
        ]

    @classmethod
    def from_json(cls, item: list) -> LoadedField:
        variable, level, forecast, descriptor, ref, step, n, *extent = item
        return cls(
            variable, level, forecast, descriptor, datetime.fromisoformat(ref), step, n, *extent
        )


def shred_fields(parquet: Path) -> list[LoadedField]:
    """The fields a grid shred holds rows of (a field without a valid point has none), each
    with its rows and its grid's extent, from the shred's field list: what its load puts in
    the store."""
    file = pq.ParquetFile(parquet)
    listed = rows.fields_of(file.metadata.metadata or {})
    return sorted(
        (LoadedField(*f.identity, f.rows, *f.extent) for f in listed if f.rows and f.extent),
        key=lambda field: astuple(field)[:6],
    )


def shred_points(parquet: Path) -> int:
    """The grid points a grid shred's fields cover, with a value or without."""
    return sum(f.points for f in rows.fields_of(pq.ParquetFile(parquet).metadata.metadata or {}))


@dataclass(frozen=True)
class LoadMarker:
    """A load as its marker tells it: a ClickHouse load (grid points or gauge records) or a
    PostGIS one. A key the marker lacks (an older or hand-made one) reads as None; a None is
    not written, so each kind keeps the keys it always had."""

    table: str | None = None
    dsn: str | None = None  # redacted
    rows: int | None = None
    # a grid load's points, valued or not (rows are the valued ones); None in markers of
    # stores before grids were stored once, whose rows counted every point
    points: int | None = None
    source: str | None = None
    raw_key: str | None = None
    raw_file_id: str | None = None  # the fetch's run id: the raw file's id in the catalog
    run_id: str | None = None  # ClickHouse only: the same run id
    parquet: str | None = None  # ClickHouse only: the shred loaded
    loaded_at: str | None = None  # ISO 8601
    # a ClickHouse grid load's fields, as LoadedField.as_json lists (read: `loaded_fields`)
    fields: list[list] | None = None
    validation: dict | None = None  # a ClickHouse grid load's checks: passed, problems, ...

    @property
    def invalid(self) -> bool:
        """Its validators found a problem (the rows are kept)."""
        return bool(self.validation) and not self.validation["passed"]

    @property
    def loaded_fields(self) -> list[LoadedField] | None:
        return None if self.fields is None else [LoadedField.from_json(f) for f in self.fields]

    @classmethod
    def from_dict(cls, data: dict) -> LoadMarker:
        named = {f.name for f in dataclass_fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in named})

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def read(cls, path: Path) -> LoadMarker:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        write(path, self.to_dict())


@dataclass(frozen=True)
class ClickhouseLoad:
    """A ClickHouse load as the PostgreSQL catalog records it."""

    raw_file_id: str
    sink: str  # clickhouse.<table>
    rows: int
    status: str  # loaded, or invalid (its validators found a problem; the rows are kept)
    loaded_at: datetime
    fields: list[LoadedField] | None  # None: a table without fields (gauges)

    @property
    def field_count(self) -> int | None:
        return None if self.fields is None else len(self.fields)


def marker_beside(postgis_marker: Path) -> Path:
    """The ClickHouse load marker of the raw file a PostGIS marker is for (gridflow.paths:
    `loaded/clickhouse/<step>.json` beside `loaded/postgis/<step>.json`)."""
    return postgis_marker.parent.parent / "clickhouse" / postgis_marker.name


def read_load(marker: Path) -> ClickhouseLoad | None:
    """The load a ClickHouse marker records; None when there is no marker."""
    try:
        found = LoadMarker.read(marker)
    except FileNotFoundError:
        return None
    return ClickhouseLoad(
        raw_file_id=found.raw_file_id,
        sink=f"clickhouse.{found.table}",
        rows=int(found.rows),
        status="invalid" if found.invalid else "loaded",
        loaded_at=datetime.fromisoformat(found.loaded_at),
        fields=found.loaded_fields,
    )


def write(path: Path, content: dict) -> None:
    """A marker, whole or not at all."""
    paths.write_whole(path, json.dumps(content, indent=1) + "\n")
