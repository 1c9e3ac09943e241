"""One GRIB field into `grid_data` rows: values, real coordinates, times and identity.

The bbox and stride choose points; on a regular lat/lon grid they are chosen on the grid's axes
so that coordinates are computed only for kept points (an MRMS field is 24.5 M points).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import eccodes
import numpy as np
import pyarrow as pa

from gridflow import rows
from gridflow.errors import ShredError
from gridflow.formats.grib.descriptors import descriptors
from gridflow.formats.grib.times import period_minutes, reference_time
from gridflow.geo.coordinates import coordinates, regular_axes

# A value no packed field holds; eccodes writes it where a bitmap or in-band marker says missing.
MISSING_SENTINEL = 9.0e36


@dataclass(frozen=True)
class DecodedField:
    identity: tuple
    table: pa.Table


def field_times(handle) -> tuple[datetime, int]:
    """(reference time, lead in minutes: the end of the period for accumulations)."""
    return reference_time(handle), period_minutes(handle)[1]


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


def decode_field(handle, entry, options) -> DecodedField:
    eccodes.codes_set(handle, "missingValue", MISSING_SENTINEL)
    values = eccodes.codes_get_values(handle)
    axes = regular_axes(handle) if options.stride > 1 or options.bbox else None
    if axes is not None:  # a subset of a regular grid: coordinates of kept points only
        kept, lat, lon = _kept_on_axes(*axes, options)
        if len(values) != len(axes[0]) * len(axes[1]):
            raise ShredError(f"{len(values)} values for its grid")
        values = values[kept]
    else:
        lat, lon = field_coordinates(handle)
        if len(values) != len(lat):
            raise ShredError(f"{len(values)} values for {len(lat)} points")
        kept = _kept_points(handle, lat, lon, options)
        if kept is not None:
            values, lat, lon = values[kept], lat[kept], lon[kept]
    ref, step = field_times(handle)
    missing = values >= MISSING_SENTINEL * 0.999
    if options.missing_values:
        missing |= np.isin(values, options.missing_values)
    field = (entry.variable, entry.level, entry.forecast, ":".join(descriptors(handle)))
    table = rows.points(lat, lon, values, missing)
    return DecodedField((*field, ref, step), table)
