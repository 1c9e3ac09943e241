"""Grid cells as polygons: each point's true footprint, from the grid's own geometry.

A cell's corners lie halfway between its point and its neighbours (extrapolated linearly at the
edges), computed from the real latitude/longitude of every point, so a Lambert or any other
projected grid gets its true quadrilaterals. With a stride k, one cell in k x k is kept and its
footprint covers the whole block.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely

from gridflow.errors import GridflowError


class CellError(GridflowError, ValueError):
    """A field that cannot be turned into cells."""


@dataclass
class Cells:
    timestamp: datetime
    variable: str
    wkb: np.ndarray  # EWKB polygons, SRID 4326
    value: np.ndarray
    severity: np.ndarray


def _corners(a: np.ndarray) -> np.ndarray:
    """(Nj, Ni) point values -> (Nj+1, Ni+1) corner values."""
    p = np.pad(a, 1, mode="reflect", reflect_type="odd")  # linear extrapolation at the edges
    return (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:]) / 4.0


def severity(values: np.ndarray, thresholds: list[float]) -> np.ndarray:
    """0 below the first threshold (moderate), 4 at or above the last (hazardous)."""
    return np.searchsorted(np.asarray(thresholds, dtype=float), values, side="right").astype(
        np.int16
    )


def _inside(lat: np.ndarray, lon: np.ndarray, bbox) -> np.ndarray | bool:
    """Which points lie in [west, south, east, north] (everything without a bbox)."""
    if not bbox:
        return True
    west, south, east, north = bbox
    lon = ((lon + 180) % 360) - 180
    return (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)


def grid_cells(
    lat: np.ndarray,
    lon: np.ndarray,
    values: np.ndarray,
    valid: np.ndarray,
    timestamp: datetime,
    variable: str,
    thresholds: list[float],
    bbox=None,
    stride: int = 1,
) -> Cells:
    """Cells of one 2-D field from the latitude/longitude of each of its points (any grid,
    projected or a satellite swath); `valid` marks the points that have a value."""
    lat, lon = lat[::stride, ::stride], lon[::stride, ::stride]
    keep = valid[::stride, ::stride] & _inside(lat, lon, bbox)  # on the points themselves
    lon = np.rad2deg(np.unwrap(np.deg2rad(((lon + 180) % 360) - 180), axis=1))
    return corner_cells(
        _corners(lat),
        _corners(lon),
        values[::stride, ::stride],
        keep,
        timestamp,
        variable,
        thresholds,
    )


def counter_clockwise(rings: np.ndarray) -> np.ndarray:
    """Closed rings (n, 5, 2) with the exterior counter-clockwise, as GeoJSON (RFC 7946) and
    the simple-features convention expect: a grid whose rows run north to south (a raster's
    transform) walks its corners clockwise, one whose rows run south to north the other way."""
    x, y = rings[..., 0], rings[..., 1]
    twice_area = (x[:, :-1] * y[:, 1:] - x[:, 1:] * y[:, :-1]).sum(axis=1)  # shoelace
    return np.where((twice_area < 0)[:, None, None], rings[:, ::-1], rings)


def corner_cells(
    clat: np.ndarray,
    clon: np.ndarray,
    values: np.ndarray,
    valid: np.ndarray,
    timestamp: datetime,
    variable: str,
    thresholds: list[float],
    bbox=None,
) -> Cells:
    """Cells from the (rows+1, cols+1) corners of a field's points (a raster's own transform
    gives them exactly)."""
    ring = np.stack(
        [
            np.stack([clon[:-1, :-1], clat[:-1, :-1]], axis=-1),
            np.stack([clon[:-1, 1:], clat[:-1, 1:]], axis=-1),
            np.stack([clon[1:, 1:], clat[1:, 1:]], axis=-1),
            np.stack([clon[1:, :-1], clat[1:, :-1]], axis=-1),
            np.stack([clon[:-1, :-1], clat[:-1, :-1]], axis=-1),
        ],
        axis=2,
    )  # (rows, cols, 5, 2)
    centre = ((clat[:-1, :-1] + clat[1:, 1:]) / 2, (clon[:-1, :-1] + clon[1:, 1:]) / 2)
    keep = valid & _inside(*centre, bbox)
    polygons = shapely.set_srid(shapely.polygons(counter_clockwise(ring[keep])), 4326)
    kept = values[keep]
    return Cells(
        timestamp=timestamp,
        variable=variable,
        wkb=shapely.to_wkb(polygons, include_srid=True),
        value=kept.astype(np.float64),
        severity=severity(kept, thresholds),
    )


def thresholds_for(name: str, variable: str, thresholds: dict[str, list[float]]) -> list[float]:
    """The severity thresholds of a field, by its full name (`MASSDEN:chemical=Ozone`) or its
    variable; a chosen field without any is a configuration error."""
    chosen = name if name in thresholds else variable
    if chosen not in thresholds:
        raise CellError(f"no severity thresholds for {name} (sinks.postgis.thresholds)")
    return thresholds[chosen]


def cell_variable(entry) -> str:
    """What a field's cells are called: its variable, with its descriptors when it has any
    (`MASSDEN:chemical=Ozone`), so constituents of one variable stay apart in PostGIS too."""
    return ":".join((entry.variable, *entry.extra))
