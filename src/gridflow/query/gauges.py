"""Point queries of rain gauges: the gauge nearest a place (from the gauges' own positions, in
`gauges`), then its daily values.

A gauge network has no grid spacing to judge a place by: a gauge answers for places within
REACH_KM of it (a rain gauge's reading says little about rain farther away; MCFCD's gauges are a
few kilometres apart), and a place farther from every gauge is outside the network, refused as
a place off a grid is."""

from __future__ import annotations

from datetime import date

from gridflow.errors import GridflowError, UsageError
from gridflow.query import readonly
from gridflow.query.grids import kilometres, position, stored

REACH_KM = 25.0


class OutsideNetwork(GridflowError):
    """A place farther than REACH_KM from every gauge of the source."""


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
    if km > REACH_KM:
        raise OutsideNetwork(
            f"{lat:g}, {lon:g} is outside the gauge network of {source} (nearest gauge {gauge} "
            f"{name} {km:,.1f} km away, at {glat:.4f}, {glon:.4f}; a gauge answers within "
            f"{REACH_KM:g} km)"
        )
    return {
        "gauge": gauge,
        "name": name,
        "gauge_lat": position(glat),
        "gauge_lon": position(glon),
        "distance_km": kilometres(km),
    }


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
        {"day": str(day), "inches": stored(inches), "flags": flags, "origin": origin, **where}
        for day, inches, flags, origin in result
    ]
