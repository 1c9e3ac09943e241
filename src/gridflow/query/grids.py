"""Point and time-series queries against grid_data, using the 1-degree cell key.

The nearest grid point is searched in a box of cells that grows until the box is known to hold
every point nearer than the best one found; then the series is read from that one point. The
search looks at the source's newest day first: a query's cost grows with the day partitions
it opens (about half a millisecond each in chDB), and the newest day holds the field's current
grid. Only a field absent from that day is searched across every day.

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
from gridflow.sinks.clickhouse import TABLE

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
        valid = "ref_time + toIntervalMinute(step)"
        for name, op, at in (("t0", ">=", self.start), ("t1", "<=", self.end)):
            if at is not None:
                clauses.append(f" AND {valid} {op} toDateTime(%({name})s, 'UTC')")
                params[name] = int(at.timestamp())
        return "".join(clauses), params


class GridPoint(NamedTuple):
    """The grid point nearest a place, and which field of which run one of its rows is of."""

    lat: float
    lon: float
    cell: int
    distance_m: float
    ref_seconds: int
    step: int
    forecast: str
    descriptor: str


class OutsideGrid(GridflowError):
    """A place farther from the field's nearest grid point than the grid's spacing there."""


def nearest_point(client, field: Field, lat: float, lon: float) -> GridPoint | None:
    """The grid point nearest to (lat, lon), or None when the field has no rows."""
    # the source's newest day: by source alone ClickHouse answers it from the parts' min-max
    # index (2 ms at 100 M rows); naming the field too would read every row of it
    newest_day = (
        " AND toYYYYMMDD(ref_time) = (SELECT toYYYYMMDD(max(ref_time)) FROM "
        f"{TABLE} WHERE source = %(s)s)"
    )
    return _nearest(client, field, lat, lon, newest_day) or _nearest(client, field, lat, lon, "")


def _nearest(client, field: Field, lat: float, lon: float, days: str) -> GridPoint | None:
    params = {**field.parameters(), "lat": lat, "lon": lon}
    half = 0.75
    while True:
        cells = cells_in_box(lat, lon, half)
        where = field.where() + days
        if cells is not None:
            where += " AND cell IN %(cells)s"
            params["cells"] = cells
        rows = readonly.query(
            client,
            "SELECT lat, lon, cell, greatCircleDistance(lon, lat, %(lon)s, %(lat)s) AS d, "
            f"toUnixTimestamp(ref_time), step, forecast, descriptor FROM {TABLE} WHERE {where} "
            "ORDER BY d LIMIT 1",
            parameters=params,
        ).result_rows
        if rows and (cells is None or rows[0][3] / EARTH_DEGREE_M <= half):
            return GridPoint(*rows[0])
        if cells is None:
            return None
        half *= 4


def neighbours(client, field: Field, point: GridPoint) -> list[tuple[float, float]]:
    """Up to NEIGHBOURS grid points around `point` (and the point itself) in the one field of
    one run it was found in, nearest first in degrees: latitude/longitude grids are square
    there, at the pole too, where kilometres would crowd one row's points first."""
    frame = {"r": point.ref_seconds, "st": point.step, "fc": point.forecast, "de": point.descriptor}
    params = {**field.parameters(), **frame, "plat": point.lat, "plon": point.lon}
    apart = "least(abs(lon - %(plon)s), 360 - abs(lon - %(plon)s))"
    half = 0.75
    while True:
        cells = cells_in_box(point.lat, point.lon, half)
        where = (
            f"{field.where()} AND ref_time = toDateTime(%(r)s) AND step = %(st)s "
            "AND forecast = %(fc)s AND descriptor = %(de)s"
        )
        if cells is not None:
            where += " AND cell IN %(cells)s"
            params["cells"] = cells
        rows = readonly.query(
            client,
            f"SELECT lat, lon, pow(lat - %(plat)s, 2) + pow({apart}, 2) AS g "
            f"FROM {TABLE} WHERE {where} ORDER BY g LIMIT {NEIGHBOURS + 1}",
            parameters=params,
        ).result_rows
        # complete once the box holds them all: the last one lies within `half` degrees
        if cells is None or (len(rows) > NEIGHBOURS and rows[-1][2] <= half * half):
            return [(la, lo) for la, lo, _ in rows]
        half *= 4


def reach(client, field: Field, lat: float, lon: float, point: GridPoint) -> grid_reach.Reach:
    """How far (lat, lon) is from `point`, and how far the grid's spacing there lets it be."""
    around = neighbours(client, field, point)
    return grid_reach.Reach(
        point.distance_m / 1000, grid_reach.spacing_km(point.lat, point.lon, around)
    )


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
    point = nearest_point(client, field, lat, lon)
    if point is None:
        return []
    found = reach(client, field, lat, lon, point)
    if not found.on_grid:
        raise OutsideGrid(
            f"{lat:g}, {lon:g} is outside the grid of {field.source} (nearest point "
            f"{found.distance_km:,.1f} km away, at {point.lat:.4f}, {point.lon:.4f}; the "
            f"grid's spacing there is {found.spacing_km:,.1f} km)"
        )
    lineage = ", raw_file_id, raw_key" if with_lineage else ""
    in_period, period_params = period.where()
    result = readonly.query(
        client,
        # valid_time from its parts: one column less to read in every day partition
        "SELECT ref_time, step, ref_time + toIntervalMinute(step), forecast, value, descriptor"
        f"{lineage} FROM {TABLE} WHERE {field.where()} AND cell = %(c)s "
        f"AND lat = toFloat32(%(plat)s) AND lon = toFloat32(%(plon)s){in_period} "
        + (
            "ORDER BY ref_time DESC, step LIMIT 1"
            if latest
            else "ORDER BY ref_time, step, forecast, descriptor"
        ),
        parameters={
            **field.parameters(),
            **period_params,
            **{"c": point.cell, "plat": point.lat, "plon": point.lon},
        },
        # the key already narrows each part to a granule; a PREWHERE pass costs more than it saves
        settings={"optimize_move_to_prewhere": 0},
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
    """Whether the store holds any row of `source`."""
    found = readonly.query(
        client, f"SELECT 1 FROM {TABLE} WHERE source = %(s)s LIMIT 1", parameters={"s": source}
    )
    return bool(found.result_rows)


def descriptors(client, field: Field) -> list[str]:
    """The descriptors the field's rows carry (whatever `field.descriptor` says)."""
    rows = readonly.query(
        client,
        f"SELECT DISTINCT descriptor FROM {TABLE} WHERE source = %(s)s AND variable = %(v)s "
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
