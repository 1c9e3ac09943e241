"""One GRIB field into `grid_data` rows: values, the kept points' coordinates, times and
identity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import eccodes
import numpy as np
import pyarrow as pa

from gridflow import rows
from gridflow.formats.grib.descriptors import descriptors
from gridflow.formats.grib.geometry import kept_points
from gridflow.formats.grib.times import period_minutes, reference_time

# A value no packed field holds; eccodes writes it where a bitmap or in-band marker says missing.
MISSING_SENTINEL = 9.0e36


@dataclass(frozen=True)
class DecodedField:
    identity: tuple
    table: pa.Table


def field_times(handle) -> tuple[datetime, int]:
    """(reference time, lead in minutes: the end of the period for accumulations)."""
    return reference_time(handle), period_minutes(handle)[1]


def decode_field(handle, entry, options) -> DecodedField:
    eccodes.codes_set(handle, "missingValue", MISSING_SENTINEL)
    values = eccodes.codes_get_values(handle)
    points = kept_points(handle, len(values), options)
    values, lat, lon = points.values(values), points.lat, points.lon
    ref, step = field_times(handle)
    missing = values >= MISSING_SENTINEL * 0.999
    if options.missing_values:
        missing |= np.isin(values, options.missing_values)
    field = (entry.variable, entry.level, entry.forecast, ":".join(descriptors(handle)))
    table = rows.points(lat, lon, values, missing)
    return DecodedField((*field, ref, step), table)
