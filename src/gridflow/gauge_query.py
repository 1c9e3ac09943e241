"""Point queries of rain gauges: the gauge nearest a place (from the gauges' own positions, in
`gauges`), then its daily values. A place a few hundred gauges away from any is still answered,
with the distance, as `gridflow point` does for grids."""

from __future__ import annotations

from datetime import date

from gridflow import readonly
from gridflow.errors import UsageError


class NoGauges(UsageError):
    """No gauge positions are loaded for the source."""


def nearest(client, source: str, lat: float, lon: float) -> dict:
    rows = readonly.query(
        client,
        "SELECT gauge, name, lat, lon, greatCircleDistance(lon, lat, %(lon)s, %(lat)s) / 1000 "
        "AS km FROM gauges FINAL WHERE source = %(s)s ORDER BY km LIMIT 1",
        parameters={"s": source, "lat": lat, "lon": lon},
    ).result_rows
    if not rows:
        raise NoGauges(
            f"no gauge positions of {source} are loaded: they come with a gauge's period-of-"
            "record workbook (list the gauge under `gauges:` in the source's config)"
        )
    gauge, name, glat, glon, km = rows[0]
    return {"gauge": gauge, "name": name, "gauge_lat": glat, "gauge_lon": glon, "distance_km": km}


def daily(
    client,
    source: str,
    lat: float,
    lon: float,
    start: date | None = None,
    end: date | None = None,
    latest: bool = False,
) -> list[dict]:
    """The nearest gauge's daily values (newest last), or its newest one."""
    where = nearest(client, source, lat, lon)
    clauses = ["source = %(s)s", "gauge = %(g)s", "kind = 'daily'"]
    params = {"s": source, "g": where["gauge"]}
    if start:
        clauses.append("day >= %(d0)s")
        params["d0"] = start
    if end:
        clauses.append("day <= %(d1)s")
        params["d1"] = end
    if latest:
        clauses.append("inches IS NOT NULL")
    order = "day DESC LIMIT 1" if latest else "day"
    result = readonly.query(
        client,
        f"SELECT day, inches, flags, origin FROM gauge_observations WHERE {' AND '.join(clauses)} "
        f"ORDER BY {order}",
        parameters=params,
    ).result_rows
    return [
        {"day": str(day), "inches": inches, "flags": flags, "origin": origin, **where}
        for day, inches, flags, origin in result
    ]
