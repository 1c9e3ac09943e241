"""Real latitude and longitude of a GRIB field's points, and which of them a bbox and stride keep.

eccodes computes coordinates for every grid it knows (regular lat/lon, Lambert conformal,
Gaussian, polar stereographic). They are cached per grid definition: all fields of a file usually
share one grid, and Lambert coordinates are the expensive part of a shred.
"""

from __future__ import annotations

from dataclasses import dataclass

import eccodes
import numpy as np

from gridflow.errors import ShredError
from gridflow.geo.longitude import normalise_lon

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


def field_coordinates(handle):
    """(lat, lon) of every point, or a ShredError naming a grid eccodes cannot place."""
    try:
        return coordinates(handle)
    except eccodes.CodesInternalError as exc:
        template = eccodes.codes_get(handle, "gridDefinitionTemplateNumber", int)
        grid = eccodes.codes_get(handle, "gridType", str)
        raise ShredError(
            f"grid definition template {template} ({grid}): eccodes cannot compute its "
            f"latitudes and longitudes ({exc})"
        ) from None


def _kept_points(handle, lat, lon, options) -> np.ndarray | None:
    """Indices of the points the bbox and stride keep (None: all of them)."""
    if options.stride == 1 and options.bbox is None:
        return None
    index = np.arange(len(lat))
    if options.stride > 1:
        ni, nj = eccodes.codes_get(handle, "Ni", int), eccodes.codes_get(handle, "Nj", int)
        if ni * nj != len(lat):
            raise ShredError("a stride needs a full 2-D grid (Ni x Nj)")
        index = index.reshape(nj, ni)[:: options.stride, :: options.stride].ravel()
    if options.bbox is not None:
        west, south, east, north = options.bbox
        la, lo = lat[index], lon[index]
        index = index[(la >= south) & (la <= north) & (lo >= west) & (lo <= east)]
    return index


def _kept_on_axes(lats: np.ndarray, lons: np.ndarray, options):
    """(indices, lat, lon) of the points a stride and bbox keep on a regular grid: both are
    separable, so rows and columns are chosen on the axes."""
    rows_ = np.arange(0, len(lats), options.stride)
    cols = np.arange(0, len(lons), options.stride)
    if options.bbox is not None:
        west, south, east, north = options.bbox
        rows_ = rows_[(lats[rows_] >= south) & (lats[rows_] <= north)]
        cols = cols[(lons[cols] >= west) & (lons[cols] <= east)]
    index = (rows_[:, np.newaxis] * len(lons) + cols[np.newaxis, :]).ravel()
    lat = np.repeat(lats[rows_], len(cols))
    lon = np.tile(lons[cols], len(rows_))
    return index, lat, lon


@dataclass(frozen=True)
class KeptPoints:
    """The points of a field a bbox and stride keep: their indices among the field's values
    (None: every point) and their coordinates."""

    index: np.ndarray | None
    lat: np.ndarray
    lon: np.ndarray

    def values(self, values: np.ndarray) -> np.ndarray:
        return values if self.index is None else values[self.index]


def kept_points(handle, n_values: int, options) -> KeptPoints:
    """Where a field's kept points are. On a regular lat/lon grid a bbox or stride is chosen on
    the axes, so coordinates are computed only for kept points (an MRMS field is 24.5 M)."""
    axes = regular_axes(handle) if options.stride > 1 or options.bbox else None
    if axes is not None:
        if n_values != len(axes[0]) * len(axes[1]):
            raise ShredError(f"{n_values} values for its grid")
        return KeptPoints(*_kept_on_axes(*axes, options))
    lat, lon = field_coordinates(handle)
    if n_values != len(lat):
        raise ShredError(f"{n_values} values for {len(lat)} points")
    kept = _kept_points(handle, lat, lon, options)
    return KeptPoints(None, lat, lon) if kept is None else KeptPoints(kept, lat[kept], lon[kept])
