"""What the PostgreSQL catalog records of a raw file's ClickHouse load, carried by its marker.

The ClickHouse load never talks to PostgreSQL (the embedded store must not wait on a database):
it writes the fields it put in the store into its marker, and the PostGIS step, which runs
after it for the same raw file, records that load in `catalog.loads` and `catalog.fields`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

# One field as loaded: its identity, its rows and the extent of its points.
FIELDS_QUERY = """
SELECT variable, level, forecast, descriptor, ref_time, step, count(),
       min(lon), min(lat), max(lon), max(lat)
FROM {table} WHERE source = %(s)s AND raw_key = %(k)s
GROUP BY variable, level, forecast, descriptor, ref_time, step
ORDER BY variable, level, forecast, descriptor, ref_time, step
"""


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
        variable, level, forecast, descriptor, ref, step, rows, *extent = item
        ref_time = datetime.fromisoformat(ref)
        return cls(variable, level, forecast, descriptor, ref_time, step, rows, *extent)


def loaded_fields(client, table: str, source: str, raw_key: str) -> list[LoadedField]:
    """The fields of one raw file in a grid table, as the store holds them."""
    result = client.query(FIELDS_QUERY.format(table=table), parameters={"s": source, "k": raw_key})
    return [
        LoadedField(v, lvl, fc, d, _utc(ref), int(step), int(n), *(float(x) for x in extent))
        for v, lvl, fc, d, ref, step, n, *extent in result.result_rows
    ]


def _utc(when: datetime) -> datetime:
    # the column is DateTime('UTC'); a client may hand it back without its zone
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ClickhouseLoad:
    """A ClickHouse load as its marker tells it."""

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
        content = json.loads(marker.read_text())
    except FileNotFoundError:
        return None
    validation = content.get("validation")
    fields = content.get("fields")
    return ClickhouseLoad(
        raw_file_id=content["raw_file_id"],
        sink=f"clickhouse.{content['table']}",
        rows=int(content["rows"]),
        status="invalid" if validation and not validation["passed"] else "loaded",
        loaded_at=datetime.fromisoformat(content["loaded_at"]),
        fields=None if fields is None else [LoadedField.from_json(f) for f in fields],
    )
