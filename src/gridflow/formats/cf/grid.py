"""The horizontal grid a CF NetCDF data variable lies on: 1-D latitude and longitude axes (a
regular grid), or 2-D latitude and longitude variables named by its `coordinates` attribute (a
curvilinear grid such as a rotated pole or a projection, or a satellite swath).

Latitude and longitude are recognised as CF says (`standard_name`, or `units` of
degrees_north/east), or by the names `latitude`/`lat` and `longitude`/`lon`. A point whose
latitude or longitude is missing (a swath's fill) has no place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gridflow.geo.longitude import normalise_lon

LAT_NAMES, LON_NAMES = ("latitude", "lat"), ("longitude", "lon")
LAT_UNITS = {"degrees_north", "degree_north", "degree_N", "degrees_N", "degreeN", "degreesN"}
LON_UNITS = {"degrees_east", "degree_east", "degree_E", "degrees_E", "degreeE", "degreesE"}


@dataclass(frozen=True)
class Grid:
    lat: np.ndarray  # 2-D, in the data's dimension order; NaN where a point has no place
    lon: np.ndarray  # in [-180, 180)
    dims: tuple[str, str]  # the data variable's dimensions the grid spans, in its order

    @property
    def placed(self) -> np.ndarray:
        return np.isfinite(self.lat) & np.isfinite(self.lon)


def _kind(var) -> str | None:
    standard = getattr(var, "standard_name", "")
    units = str(getattr(var, "units", ""))
    if standard == "latitude" or units in LAT_UNITS or var.name in LAT_NAMES:
        return "lat"
    if standard == "longitude" or units in LON_UNITS or var.name in LON_NAMES:
        return "lon"
    return None


def is_coordinate(var) -> bool:
    """A latitude or longitude variable (never a field of its own)."""
    return _kind(var) is not None


def _degrees(var) -> np.ndarray:
    return np.ma.filled(np.ma.masked_invalid(np.ma.asarray(var[:], dtype=np.float64)), np.nan)


def _candidates(ds, var) -> dict[str, object]:
    """The latitude and longitude variables a data variable names, its `coordinates` first,
    then its dimensions' own coordinate variables."""
    names = str(getattr(var, "coordinates", "")).split() + list(var.dimensions)
    found: dict[str, object] = {}
    for name in names:
        if name in ds.variables and (kind := _kind(ds.variables[name])):
            found.setdefault(kind, ds.variables[name])
    return found


def _curvilinear(lat, lon, var) -> Grid | None:
    if lat.dimensions != lon.dimensions or not set(lat.dimensions) <= set(var.dimensions):
        return None
    la, lo = _degrees(lat), _degrees(lon)
    dims = tuple(d for d in var.dimensions if d in lat.dimensions)
    if dims != lat.dimensions:
        la, lo = la.T, lo.T
    return Grid(la, normalise_lon(lo), dims)


def _regular(lat, lon, var) -> Grid | None:
    dims = (lat.dimensions[0], lon.dimensions[0])
    if dims[0] == dims[1] or not set(dims) <= set(var.dimensions):
        return None
    la, lo = np.meshgrid(_degrees(lat), normalise_lon(_degrees(lon)), indexing="ij")
    if var.dimensions.index(dims[0]) > var.dimensions.index(dims[1]):
        la, lo, dims = la.T, lo.T, dims[::-1]
    return Grid(la, lo, dims)


def grid_of(ds, var, cache: dict | None = None) -> Grid | None:
    """The grid `var` lies on, or None when it has no latitude and longitude."""
    found = _candidates(ds, var)
    if set(found) != {"lat", "lon"}:
        return None
    lat, lon = found["lat"], found["lon"]
    key = (lat.name, lon.name, var.dimensions)
    if cache is not None and key in cache:
        return cache[key]
    grid = None
    if lat.ndim == 2 and lon.ndim == 2:
        grid = _curvilinear(lat, lon, var)
    elif lat.ndim == 1 and lon.ndim == 1:
        grid = _regular(lat, lon, var)
    if cache is not None:
        cache[key] = grid
    return grid
