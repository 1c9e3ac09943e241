"""Real latitude and longitude of every grid point.

eccodes computes coordinates for every grid it knows (regular lat/lon, Lambert conformal,
Gaussian, polar stereographic). They are cached per grid definition: all fields of a file usually
share one grid, and Lambert coordinates are the expensive part of a shred.
"""

from __future__ import annotations

import eccodes
import numpy as np


def normalise_lon(lon: np.ndarray) -> np.ndarray:
    return ((lon + 180.0) % 360.0) - 180.0


_by_grid: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def coordinates(handle) -> tuple[np.ndarray, np.ndarray]:
    """(lat float32, lon float32 in [-180, 180)) for the handle's grid."""
    key = eccodes.codes_get(handle, "md5GridSection")
    if key not in _by_grid:
        lat64 = eccodes.codes_get_array(handle, "latitudes")
        lon64 = normalise_lon(eccodes.codes_get_array(handle, "longitudes"))
        if len(_by_grid) >= 4:
            _by_grid.pop(next(iter(_by_grid)))
        _by_grid[key] = (lat64.astype(np.float32), lon64.astype(np.float32))
    return _by_grid[key]


def regular_axes(handle) -> tuple[np.ndarray, np.ndarray] | None:
    """(latitudes of the rows, longitudes of the columns) of a regular lat/lon grid stored row
    by row, or None for any other grid. Lets a bbox or stride pick points without computing all
    of them (an MRMS field is 24.5 M points)."""
    get = eccodes.codes_get
    if get(handle, "gridType") != "regular_ll":
        return None
    if get(handle, "jPointsAreConsecutive", int) or get(handle, "alternativeRowScanning", int):
        return None
    ni, nj = get(handle, "Ni", int), get(handle, "Nj", int)
    lat0 = get(handle, "latitudeOfFirstGridPointInDegrees", float)
    lon0 = get(handle, "longitudeOfFirstGridPointInDegrees", float)
    dlat = get(handle, "jDirectionIncrementInDegrees", float)
    dlon = get(handle, "iDirectionIncrementInDegrees", float)
    dlat = dlat if get(handle, "jScansPositively", int) else -dlat
    dlon = -dlon if get(handle, "iScansNegatively", int) else dlon
    return lat0 + dlat * np.arange(nj), normalise_lon(lon0 + dlon * np.arange(ni))
