"""Point and time-series queries: the nearest point from the grids' places, the series from
the values stored at it.

A field's grids are listed in `grid_fields` (one row per field a raw file loaded); the nearest
of their points is searched in `grid_points` in a box of 1-degree cells that grows until the
box is known to hold every point nearer than the best one found. The series is then every run
of the field at that place: the value where the run has one, null where its point is missing
(a point without a value is not a row of `grid_values`, but the run's field still says it
covered the point).

A place farther from its nearest point than the grid's spacing there is outside the grid
(`gridflow.geo.reach`): it is refused, never answered with a value from far away.

For notebooks: `open_store`, then `arrow` or `dataframe` run any read-only query (checked as
`gridflow sql` checks it) and give times as timezone-aware timestamps, where ClickHouse's Arrow
output gives a DateTime as plain uint32 seconds and clickhouse-connect's pandas a naive time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

import numpy as np

from gridflow.errors import GridflowError
from gridflow.geo import reach as grid_reach
from gridflow.query import readonly
from gridflow.rows import VALUE_SQL
from gridflow.sinks.clickhouse import FIELDS, POINTS, VALUES

EARTH_DEGREE_M = 6371008.8 * math.pi / 180  # ClickHouse greatCircleDistance's sphere
NEIGHBOURS = 24  # grid points read around the nearest one to tell the grid's spacing there


def cells_in_box(lat: float, lon: float, half: float) -> list[int] | None:
    """Cells covering lat ± half and the matching longitude span; None when that is most of
    the globe (then no cell filter is worth having)."""
    south, north = max(-90.0, lat - half), min(90.0, lat + half)
    widest = max(abs(south), abs(north))
    if widest >= 89.0 or half >= 45:
        return None
    lon_half = half / math.cos(math.radians(widest))
    if lon_half >= 180:
        return None
    rows = range(int(math.floor(south + 90)), min(179, int(math.floor(north + 90))) + 1)
    cols = {int(math.floor(x + 180)) % 360 for x in _frange(lon - lon_half, lon + lon_half)}
    return sorted(r * 360 + c for r in rows for c in cols)


def _frange(start: float, stop: float):
    x = math.floor(start)
    while x <= stop:
        yield x
        x += 1.0


@dataclass(frozen=True)
class Field:
    """Which field a place query reads; `descriptor` None means every descriptor (their rows
    are told apart by it), "" only plain fields."""

    source: str
    variable: str
    level: str
    descriptor: str | None = None

    def where(self) -> str:
        where = "source = %(s)s AND variable = %(v)s AND level = %(l)s"
        return where + (" AND descriptor = %(d)s" if self.descriptor is not None else "")

    def parameters(self) -> dict:
        return {"s": self.source, "v": self.variable, "l": self.level, "d": self.descriptor}


@dataclass(frozen=True)
class Period:
    """The valid times a series keeps, both ends included; None leaves that end open."""

    start: datetime | None = None
    end: datetime | None = None

    def where(self) -> tuple[str, dict]:
        clauses, params = [], {}
        valid = "ref_time + toIntervalMinute(step)"  # read inside each table's own subquery
        for name, op, at in (("t0", ">=", self.start), ("t1", "<=", self.end)):
            if at is not None:
                clauses.append(f" AND {valid} {op} toDateTime(%({name})s, 'UTC')")
                params[name] = int(at.timestamp())
        return "".join(clauses), params


class GridPoint(NamedTuple):
    """The grid point nearest a place: where it is, and which point of which grid."""

    lat: float
    lon: float
    cell: int
    distance_m: float
    grid: int
    point: int


class OutsideGrid(GridflowError):
    """A place farther from the field's nearest grid point than the grid's spacing there."""


def field_grids(client, field: Field) -> list[int]:
    """The grids the field's loaded runs lie on, newest run's first."""
    rows = readonly.query(
        client,
        f"SELECT grid FROM {FIELDS} WHERE {field.where()} GROUP BY grid "
        "ORDER BY max(ref_time) DESC",
        parameters=field.parameters(),
    ).result_rows
    return [r[0] for r in rows]


def nearest_point(
    client, field: Field, lat: float, lon: float, grids: list[int] | None = None
) -> GridPoint | None:
    """The grid point nearest to (lat, lon), or None when the field has no rows. The newest
    run's grid is searched first: another grid is searched only when it has no point.
    `grids` are the field's (`field_grids`), when the caller has them already."""
    grids = field_grids(client, field) if grids is None else grids
    if not grids:
        return None
    return _nearest(client, grids[:1], lat, lon) or (
        _nearest(client, grids, lat, lon) if len(grids) > 1 else None
    )


def _nearest(client, grids: list[int], lat: float, lon: float) -> GridPoint | None:
    params = {"g": grids, "lat": lat, "lon": lon}
    half = 0.75
    while True:
        cells = cells_in_box(lat, lon, half)
        where = "grid IN %(g)s"
        if cells is not None:
            where += " AND cell IN %(cells)s"
            params["cells"] = cells
        rows = readonly.query(
            client,
            "SELECT lat, lon, cell, greatCircleDistance(lon, lat, %(lon)s, %(lat)s) AS d, "
            f"grid, point FROM {POINTS} WHERE {where} ORDER BY d LIMIT 1",
            parameters=params,
        ).result_rows
        if rows and (cells is None or rows[0][3] / EARTH_DEGREE_M <= half):
            return GridPoint(*rows[0])
        if cells is None:
            return None
        half *= 4


def neighbours(client, point: GridPoint) -> list[tuple[float, float]]:
    """Up to NEIGHBOURS points of `point`'s grid around it (and the point itself), nearest
    first in degrees: latitude/longitude grids are square there, at the pole too, where
    kilometres would crowd one row's points first."""
    params = {"g": point.grid, "plat": point.lat, "plon": point.lon}
    apart = "least(abs(lon - %(plon)s), 360 - abs(lon - %(plon)s))"
    half = 0.75
    while True:
        cells = cells_in_box(point.lat, point.lon, half)
        where = "grid = %(g)s"
        if cells is not None:
            where += " AND cell IN %(cells)s"
            params["cells"] = cells
        rows = readonly.query(
            client,
            f"SELECT lat, lon, pow(lat - %(plat)s, 2) + pow({apart}, 2) AS g "
            f"FROM {POINTS} WHERE {where} ORDER BY g LIMIT {NEIGHBOURS + 1}",
            parameters=params,
        ).result_rows
        # complete once the box holds them all: the last one lies within `half` degrees
        if cells is None or (len(rows) > NEIGHBOURS and rows[-1][2] <= half * half):
            return [(la, lo) for la, lo, _ in rows]
        half *= 4


def reach(client, lat: float, lon: float, point: GridPoint) -> grid_reach.Reach:
    """How far (lat, lon) is from `point`, and how far the grid's spacing there lets it be."""
    around = neighbours(client, point)
    return grid_reach.Reach(
        point.distance_m / 1000, grid_reach.spacing_km(point.lat, point.lon, around)
    )


def _same_place(client, grids: list[int], point: GridPoint) -> list[tuple[int, int]]:
    """(grid, point) of every grid of the field (`grids`) with a point exactly where `point`
    is: the field's runs on another grid answer too when it shares the place."""
    if grids == [point.grid]:
        return [(point.grid, point.point)]
    found = readonly.query(
        client,
        f"SELECT grid, point FROM {POINTS} WHERE grid IN %(g)s AND cell = %(c)s "
        "AND lat = toFloat32(%(plat)s) AND lon = toFloat32(%(plon)s)",
        parameters={
            "g": grids,
            "c": point.cell,
            "plat": point.lat,
            "plon": point.lon,
        },
    ).result_rows
    return [(g, p) for g, p in found] or [(point.grid, point.point)]


def series(
    client,
    field: Field,
    lat: float,
    lon: float,
    with_lineage: bool = False,
    latest: bool = False,
    period: Period = Period(),
) -> list[dict]:
    """Every stored value at the grid point nearest to (lat, lon) whose valid time lies in
    `period`, oldest run first; with `latest`, only the newest run's (or scan's) first value.
    Empty when the field has no rows (or none in the period); OutsideGrid when the place is
    off the grid."""
    grids = field_grids(client, field)
    point = nearest_point(client, field, lat, lon, grids)
    if point is None:
        return []
    found = reach(client, lat, lon, point)
    if not found.on_grid:
        raise OutsideGrid(
            f"{lat:g}, {lon:g} is outside the grid of {field.source} (nearest point "
            f"{found.distance_km:,.1f} km away, at {point.lat:.4f}, {point.lon:.4f}; the "
            f"grid's spacing there is {found.spacing_km:,.1f} km)"
        )
    places = _same_place(client, grids, point)
    in_period, period_params = period.where()
    # every run of the field on those grids, its value at the point where it has one (an
    # unmatched run reads v.valued as 0: join_use_nulls cannot be set under readonly)
    result = readonly.query(
        client,
        "SELECT f.ref_time, f.step, f.ref_time + toIntervalMinute(f.step), f.forecast, "
        f"if(v.valued = 1, {VALUE_SQL}, NULL), f.descriptor, f.raw_file_id, f.raw_key "
        f"FROM (SELECT * FROM {FIELDS} WHERE {field.where()} AND grid IN %(g)s{in_period}) AS f "
        "LEFT JOIN (SELECT ref_time, step, forecast, descriptor, raw_key, value, packed, "
        "1 AS valued "
        f"FROM {VALUES} WHERE {field.where()} AND (grid, point) IN %(places)s{in_period}) AS v "
        "ON v.ref_time = f.ref_time AND v.step = f.step AND v.forecast = f.forecast "
        "AND v.descriptor = f.descriptor AND v.raw_key = f.raw_key "
        + (
            "ORDER BY f.ref_time DESC, f.step LIMIT 1"
            if latest
            else "ORDER BY f.ref_time, f.step, f.forecast, f.descriptor"
        ),
        parameters={
            **field.parameters(),
            **period_params,
            "g": sorted({g for g, _ in places}),
            "places": places,
        },
    )
    return [
        {
            "ref_time": _iso(r[0]),
            "step": r[1],
            "valid_time": _iso(r[2]),
            "forecast": r[3],
            **({"descriptor": r[5]} if r[5] else {}),
            "value": stored(r[4]),
            "grid_lat": position(point.lat),
            "grid_lon": position(point.lon),
            "distance_km": kilometres(point.distance_m / 1000),
            **({"raw_file_id": r[6], "raw_key": r[7]} if with_lineage else {}),
        }
        for r in result.result_rows
    ]


# One rule for every row `point`, `latest` and `trace` print, grids and gauges alike: a value
# as the store keeps it (a Float32, at its own precision), places to 6 decimals (0.1 m),
# distances to 3 (a metre).


def stored(value: float | None) -> float | None:
    """A Float32 of the store at its own precision: 0.11811, not 0.11811000108718872 (the
    shortest decimal that reads back as the same Float32)."""
    return None if value is None else float(str(np.float32(value)))


def position(degrees: float) -> float:
    return round(float(degrees), 6)


def kilometres(km: float) -> float:
    return round(float(km), 3)


def has_source(client, source: str) -> bool:
    """Whether the store holds any field of `source`."""
    found = readonly.query(
        client, f"SELECT 1 FROM {FIELDS} WHERE source = %(s)s LIMIT 1", parameters={"s": source}
    )
    return bool(found.result_rows)


def descriptors(client, field: Field) -> list[str]:
    """The descriptors the field's rows carry (whatever `field.descriptor` says)."""
    rows = readonly.query(
        client,
        f"SELECT DISTINCT descriptor FROM {FIELDS} WHERE source = %(s)s AND variable = %(v)s "
        "AND level = %(l)s ORDER BY descriptor",
        parameters=field.parameters(),
    ).result_rows
    return [r[0] for r in rows]


def _iso(value) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def open_store(dsn: str | None = None, configfiles: list[str] = (), project: str = "."):
    """A client of the store (`dsn`, or the one the configuration names) for the reading
    functions below; an embedded store that does not exist is an error, never created."""
    from gridflow.config import loading as config
    from gridflow.sinks import clickhouse

    if dsn is None:
        dsn = config.load_files(list(configfiles), project)["sinks"]["clickhouse"]["dsn"]
    return clickhouse.connect(dsn, create=False)


_DATETIME = re.compile(r"^(?:Nullable\()?DateTime(?:\('([^']+)'\))?\)?$")


def arrow(client, sql: str, parameters: dict | None = None):
    """The rows of one read-only query as an Arrow table, each DateTime column as a
    timestamp in its own time zone (UTC for grid_data's times)."""
    import pyarrow as pa

    from gridflow.query import sql_guard

    sql_guard.check(client, sql, parameters)
    table = client.query_arrow(sql, parameters=parameters, settings=readonly.SETTINGS)
    if not any(pa.types.is_uint32(f.type) for f in table.schema):
        return table
    described = readonly.query(client, f"DESCRIBE ({sql})", parameters=parameters).result_rows
    zones = {}
    for name, kind, *_ in described:
        match = _DATETIME.match(kind)
        if match:
            zones[name] = match.group(1)
    if None in zones.values():  # a DateTime without a zone is in the store's
        server = readonly.query(client, "SELECT timezone()").result_rows[0][0]
        zones = {name: zone or server for name, zone in zones.items()}
    for at, field in enumerate(table.schema):
        if field.name in zones and pa.types.is_uint32(field.type):
            seconds = table.column(at).cast(pa.int64())
            stamped = seconds.cast(pa.timestamp("s", tz=zones[field.name]))
            table = table.set_column(
                at, pa.field(field.name, stamped.type, field.nullable), stamped
            )
    return table


def dataframe(client, sql: str, parameters: dict | None = None):
    """`arrow`'s table as a pandas DataFrame: times as timezone-aware datetime64."""
    return arrow(client, sql, parameters).to_pandas()
