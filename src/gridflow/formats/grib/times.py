"""A GRIB field's times: its reference time (to the second) and its period in minutes.

Some producers leave the forecast time of statistically processed fields unset (all bits one:
NOAA AQM's daily maxima read as -2147483647 hours); such a lead is not a time. The period's own
end (templates 4.8 and kin carry it explicitly) then places the field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import eccodes

from gridflow.errors import ShredError

# A lead past this is not one: a forecast time left unset, read as a number.
LONGEST_LEAD_MINUTES = 3660 * 24 * 60
_END = [
    f"{unit}OfEndOfOverallTimeInterval"
    for unit in ("year", "month", "day", "hour", "minute", "second")
]


def reference_time(handle) -> datetime:
    """Kept to the second (MRMS scans carry seconds; `dataTime` would drop them)."""
    keys = ("year", "month", "day", "hour", "minute", "second")
    return datetime(*(eccodes.codes_get(handle, k, int) for k in keys), tzinfo=UTC)


def _end_of_interval(handle) -> datetime | None:
    if not all(eccodes.codes_is_defined(handle, k) for k in _END):
        return None
    try:
        return datetime(*(eccodes.codes_get(handle, k, int) for k in _END), tzinfo=UTC)
    except ValueError:
        return None


def period_minutes(handle) -> tuple[int, int]:
    """(start, end) of the field's period in minutes after the reference time; equal for an
    instantaneous field."""
    eccodes.codes_set(handle, "stepUnits", "m")
    start = eccodes.codes_get(handle, "startStep", int)
    end = eccodes.codes_get(handle, "endStep", int)
    if abs(end) <= LONGEST_LEAD_MINUTES:
        return start, end
    stop = _end_of_interval(handle)
    if stop is None:
        raise ShredError(
            f"the forecast time is unset or out of range ({end} minutes) and the field names "
            "no end of its time interval"
        )
    length = end - start
    true_end = int((stop - reference_time(handle)) / timedelta(minutes=1))
    return true_end - length, true_end
