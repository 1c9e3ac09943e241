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
    packing: rows.Packing | None


def _power(exponent: int, base: int) -> float:
    """`base ** exponent` as eccodes computes its scales (codes_power: repeated division or
    multiplication in double), so a packed value decodes to the same bits."""
    result = 1.0
    if exponent == 0:
        return 1.0
    if exponent == 1:
        return float(base)
    while exponent < 0:
        result /= base
        exponent += 1
    while exponent > 0:
        result *= base
        exponent -= 1
    return result


def packing(handle) -> rows.Packing | None:
    """The field's packing as integers of at most 16 bits with a binary and decimal scale
    (simple, complex, JPEG 2000, CCSDS packing); None for wider or IEEE-packed values."""
    get = eccodes.codes_get
    if get(handle, "packingType", str) in ("grid_ieee", "spectral_complex", "spectral_simple"):
        return None
    if not 0 <= get(handle, "bitsPerValue", int) <= 16:
        return None
    return rows.Packing(
        get(handle, "referenceValue", float),
        _power(get(handle, "binaryScaleFactor", int), 2),
        _power(-get(handle, "decimalScaleFactor", int), 10),
    )


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
    return DecodedField((*field, ref, step), table, packing(handle))
