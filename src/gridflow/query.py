"""Point and time-series queries against grid_data, using the 1-degree cell key.

The nearest grid point is searched in a box of cells that grows until the box is known to hold
every point nearer than the best one found; then the series is read from that one point. The
search looks at the source's newest day first: a query's cost grows with the day partitions
it opens (about half a millisecond each in chDB), and the newest day holds the field's current
grid. Only a field absent from that day is searched across every day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from gridflow import readonly
from gridflow.sinks.clickhouse import TABLE

EARTH_DEGREE_M = 6371008.8 * math.pi / 180  # ClickHouse greatCircleDistance's sphere


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


def nearest_point(client, field: Field, lat: float, lon: float):
    """(lat, lon, cell, distance in m) of the grid point nearest to (lat, lon), or None."""
    # the source's newest day: by source alone ClickHouse answers it from the parts' min-max
    # index (2 ms at 100 M rows); naming the field too would read every row of it
    newest_day = (
        " AND toYYYYMMDD(ref_time) = (SELECT toYYYYMMDD(max(ref_time)) FROM "
        f"{TABLE} WHERE source = %(s)s)"
    )
    return _nearest(client, field, lat, lon, newest_day) or _nearest(client, field, lat, lon, "")


def _nearest(client, field: Field, lat: float, lon: float, days: str):
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
            f"SELECT lat, lon, cell, greatCircleDistance(lon, lat, %(lon)s, %(lat)s) AS d "
            f"FROM {TABLE} WHERE {where} ORDER BY d LIMIT 1",
            parameters=params,
        ).result_rows
        if rows and (cells is None or rows[0][3] / EARTH_DEGREE_M <= half):
            return rows[0]
        if cells is None:
            return None
        half *= 4


def series(
    client,
    field: Field,
    lat: float,
    lon: float,
    with_lineage: bool = False,
    latest: bool = False,
) -> list[dict]:
    """Every stored value at the grid point nearest to (lat, lon), oldest run first; with
    `latest`, only the newest run's (or scan's) first value."""
    point = nearest_point(client, field, lat, lon)
    if point is None:
        return []
    plat, plon, cell, distance = point
    lineage = ", raw_file_id, raw_key" if with_lineage else ""
    result = readonly.query(
        client,
        # valid_time from its parts: one column less to read in every day partition
        "SELECT ref_time, step, ref_time + toIntervalMinute(step), forecast, value, descriptor"
        f"{lineage} FROM {TABLE} WHERE {field.where()} AND cell = %(c)s "
        "AND lat = toFloat32(%(plat)s) AND lon = toFloat32(%(plon)s) "
        + (
            "ORDER BY ref_time DESC, step LIMIT 1"
            if latest
            else "ORDER BY ref_time, step, forecast, descriptor"
        ),
        parameters={**field.parameters(), "c": cell, "plat": plat, "plon": plon},
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
            "value": r[4],
            "grid_lat": round(plat, 6),
            "grid_lon": round(plon, 6),
            "distance_km": round(distance / 1000, 3),
            **({"raw_file_id": r[6], "raw_key": r[7]} if with_lineage else {}),
        }
        for r in result.result_rows
    ]


def _iso(value) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)
