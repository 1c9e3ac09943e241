"""Whether a place lies on a grid, judged from the grid's own points around the nearest one.

The nearest grid point answers for a place only when the place is no farther from it than
the grid's spacing there. The spacing is read from the points themselves, so it holds for any
grid the store keeps (regular latitude/longitude, Lambert, the geostationary disk, a grid
thinned by a stride or with holes): around the nearest point P, the plane is cut into four
quarters by bearing, each quarter's nearest neighbour of P is found, and the spacing is the
farthest of those. Inside a grid every quarter holds a neighbour, so the spacing is the long
side of a cell or its diagonal, and a place inside a cell is at most half the diagonal from
its nearest corner: half the allowance at worst. Past the grid's edge, or off the
geostationary disk, the quarters facing away are empty; the allowance is then the spacing
along the edge, so a place is answered up to about one cell beyond the last points and
refused farther out. The farthest quarter, not the nearest neighbour, keeps stretched cells
fair: near the pole a latitude/longitude cell is 0.1 km wide and 28 km tall, and a place
halfway between two rows is 14 km from the nearest point, well inside the grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EARTH_RADIUS_KM = 6371.0088  # ClickHouse greatCircleDistance's sphere
SAME_PLACE_KM = 1e-3  # neighbours closer than this are P again (the pole row, duplicates)


@dataclass(frozen=True)
class Reach:
    """How far a place is from its nearest grid point, and how far the grid lets it be."""

    distance_km: float
    spacing_km: float

    @property
    def on_grid(self) -> bool:
        return self.distance_km <= self.spacing_km


def _unit(lat, lon) -> np.ndarray:
    la, lo = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def spacing_km(lat: float, lon: float, neighbours: list[tuple[float, float]]) -> float:
    """The grid's spacing at the point (lat, lon), from the grid points around it (0 when
    there are none): the farthest of the nearest neighbours in each quarter by bearing."""
    if not neighbours:
        return 0.0
    p = _unit(lat, lon)
    q = _unit(*np.asarray(neighbours, float).T)
    km = EARTH_RADIUS_KM * np.arccos(np.clip(q @ p, -1.0, 1.0))
    # bearings in the plane tangent at P; its east and north axes exist at the pole too
    east = np.array([-np.sin(np.radians(lon)), np.cos(np.radians(lon)), 0.0])
    north = np.cross(p, east)
    bearing = np.degrees(np.arctan2(q @ east, q @ north)) % 360.0
    apart = km > SAME_PLACE_KM
    if not apart.any():
        return 0.0
    quarter = (bearing[apart] // 90).astype(int)
    nearest = [km[apart][quarter == k].min() for k in range(4) if (quarter == k).any()]
    return float(max(nearest))
