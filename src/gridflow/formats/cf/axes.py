"""Where each 2-D slice of a CF NetCDF data variable stands on its other dimensions: its time
(reference and step), its level, and what else tells it apart (its descriptor).

- A time axis with CF units (`hours since 1900-01-01`) gives each slice its own reference time
  (step 0). The ADS's CAMS European files count plain `hours` from a base date named in the
  long name, whose first word says what the times are (the file's global attribute of that
  name says it too): `ANALYSIS time from 20200101` is one analysis per time, each its own
  reference (step 0, `anl`); `FORECAST time from 20200101` is one run from the base date, the
  hours its lead times (`36 hour fcst`); a forecast of several dates (its `FORECAST` attribute
  `Europe, 20200101-20200102+[0H_23H]`) is a run per date, each time in the date whose leads
  hold it.
- A climatological axis has no time of its own: a `month` axis (1-12), a time axis counted in
  months, or a CF climatological time (a `climatology` attribute naming the period's bounds).
  Each slice is the descriptor `month=7` (a time of year other than whole months:
  `climatology=07-15T1200`), its forecast `climatology`, its reference the start of the
  climatological period when the file gives it (1991-01-01), else 1970-01-01 (no time).
- A vertical axis (`level`, or CF's `axis: Z`, `positive`, a pressure or height) is the level:
  `850 mb`, `10 m above ground`, `level 3`; a slice with none is `surface`.
- Any other axis (an ensemble `member`, a `quantile`) is a descriptor, `member=3`.

A data variable with no time of its own in a file that has one (a land mask beside a forecast)
takes the file's first time.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from gridflow.errors import ShredError

NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)  # the reference of a slice with no time of its own
CLIMATOLOGY = "climatology"  # the forecast of a slice on a climatological axis
CLIMATOLOGICAL_AXES = ("month",)
MONTH_UNITS = ("month", "months", "month of year", "month_of_year")
PRESSURE_UNITS = {"Pa": 0.01, "hPa": 1.0, "mb": 1.0, "millibar": 1.0, "millibars": 1.0}
ADS_KINDS = ("ANALYSIS", "FORECAST")  # what the times of a CAMS European file are
ADS_DATES = re.compile(r"\d{8}-\d{8}\+\[(\d+)H_(\d+)H\]")  # several dates, leads first-last
DAY_MINUTES = 24 * 60
VERTICAL_STANDARD_NAMES = {
    "air_pressure",
    "height",
    "altitude",
    "depth",
    "model_level_number",
    "atmosphere_hybrid_sigma_pressure_coordinate",
}


@dataclass(frozen=True)
class When:
    """A slice's time: reference, step (minutes), forecast words and a descriptor, if any."""

    ref: datetime
    step: int = 0
    forecast: str = "anl"
    descriptor: tuple[str, ...] = ()


@dataclass(frozen=True)
class Position:
    """One 2-D slice of a data variable."""

    index: tuple  # per dimension of the variable: an index, or slice(None) on the grid
    when: When
    level: str
    time_index: int | None  # the inventory's `time=` (None: the file has no time axis)
    level_index: int | None
    descriptor: tuple[str, ...]  # besides the file's own (the model)


def _datetime(stamp, origin: str) -> datetime:
    try:
        return datetime(
            stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second, tzinfo=UTC
        )
    except ValueError:
        raise ShredError(
            f"{origin}: {stamp} is not a date of the standard calendar "
            f"({getattr(stamp, 'calendar', '?')})"
        ) from None


def _stamps(var, values, origin: str) -> list:
    import netCDF4

    calendar = getattr(var, "calendar", "standard")
    try:
        return list(np.atleast_1d(netCDF4.num2date(values, var.units, calendar)))
    except (ValueError, OverflowError, TypeError) as exc:
        raise ShredError(f"{origin}: {var.name} ({var.units!r}) holds no times: {exc}") from None


def _period_start(ds, var, origin: str) -> datetime:
    """The start of a CF climatological period (its bounds' first), or NO_TIME."""
    bounds = ds.variables.get(str(getattr(var, "climatology", "")))
    if bounds is None or " since " not in str(getattr(var, "units", "")):
        return NO_TIME
    first = np.ma.filled(bounds[:], np.nan).min()
    start = _datetime(_stamps(var, first, origin)[0], origin)
    return start if start >= NO_TIME else NO_TIME


def _time_of_year(stamps: list) -> list[tuple[str, ...]]:
    if len({s.month for s in stamps}) == len(stamps):
        return [(f"month={s.month}",) for s in stamps]
    return [(f"climatology={s.month:02d}-{s.day:02d}T{s.hour:02d}{s.minute:02d}",) for s in stamps]


def _months(values: np.ndarray, start: datetime) -> list[When]:
    return [When(start, 0, CLIMATOLOGY, (f"month={int(v)}",)) for v in values]


def _is_months(var, values: np.ndarray) -> bool:
    units = str(getattr(var, "units", "")).strip().lower()
    whole = bool(len(values)) and np.all(values == np.round(values))
    in_year = bool(len(values)) and values.min() >= 1 and values.max() <= 12
    return whole and in_year and (units in MONTH_UNITS or units in ("", "1"))


def _ads_kind(ds, var) -> str:
    """ANALYSIS or FORECAST: the first word of the time's long name, else the global attribute
    the ADS names after the kind (`ANALYSIS: Europe, 20200101+[0H_23H]`), else FORECAST (hours
    counted from a base date are lead times)."""
    word = str(getattr(var, "long_name", "")).split(" ", 1)[0].upper()
    if word in ADS_KINDS:
        return word
    return next((kind for kind in ADS_KINDS if kind in ds.ncattrs()), "FORECAST")


def _lead(minutes: int) -> str:
    if minutes == 0:
        return "anl"
    return f"{minutes // 60} hour fcst" if minutes % 60 == 0 else f"{minutes} min fcst"


def _runs(ds, minutes: list[int], base: datetime, origin: str) -> list[datetime]:
    """The run of each time of a forecast: the base date's, or, in a forecast of several dates
    (`FORECAST: Europe, 20200101-20200102+[0H_23H]`), the date whose leads hold it."""
    span = ADS_DATES.search(str(getattr(ds, "FORECAST", "")))
    if span is None:
        return [base] * len(minutes)
    first, last = int(span.group(1)) * 60, int(span.group(2)) * 60
    if last - first >= DAY_MINUTES:  # one date's leads reach into the next date's
        raise ShredError(
            f"{origin}: a forecast of several dates with leads over a day ({span.group(0)}): "
            "the file does not say which run each time is of"
        )
    return [base + timedelta(minutes=(m - first) // DAY_MINUTES * DAY_MINUTES) for m in minutes]


def _ads_times(ds, var, values: np.ndarray, base: datetime, origin: str) -> list[When]:
    minutes = [int(round(h * 60)) for h in values]
    if _ads_kind(ds, var) == "ANALYSIS":
        # an analysis is valid at its own time: each is a reference of its own, so the newest
        # analysis is the newest reference, not the longest lead of the base date's
        return [When(base + timedelta(minutes=m)) for m in minutes]
    found = []
    for run, m in zip(_runs(ds, minutes, base, origin), minutes, strict=True):
        lead = m - int((run - base).total_seconds()) // 60
        found.append(When(run, lead, _lead(lead)))
    return found


def times(ds, dim: str, origin: str) -> list[When]:
    """The time of each index of a time-like axis."""
    if dim not in ds.variables:
        if dim in CLIMATOLOGICAL_AXES:
            return _months(np.arange(1, len(ds.dimensions[dim]) + 1), NO_TIME)
        raise ShredError(f"{origin}: {dim} has no coordinate: the rows would have no time")
    var = ds.variables[dim]
    units = str(getattr(var, "units", ""))
    values = np.asarray(np.ma.filled(var[:], np.nan), dtype=float)
    if getattr(var, "climatology", None):
        stamps = _stamps(var, values, origin)
        start = _period_start(ds, var, origin)
        return [When(start, 0, CLIMATOLOGY, d) for d in _time_of_year(stamps)]
    if " since " in units:
        return [When(_datetime(s, origin)) for s in _stamps(var, values, origin)]
    base = re.search(r"from (\d{8})", getattr(var, "long_name", ""))
    if units.strip() == "hours" and base:
        ref = datetime.strptime(base.group(1), "%Y%m%d").replace(tzinfo=UTC)
        return _ads_times(ds, var, values, ref, origin)
    if dim in CLIMATOLOGICAL_AXES or _is_months(var, values):
        return _months(values, NO_TIME)
    raise ShredError(f"{origin}: {dim} has units {units!r}, which name no reference time")


def _is_time(ds, dim: str) -> bool:
    var = ds.variables.get(dim)
    units = str(getattr(var, "units", "")) if var is not None else ""
    return dim == "time" or " since " in units or dim in CLIMATOLOGICAL_AXES


def _is_vertical(ds, dim: str) -> bool:
    var = ds.variables.get(dim)
    if dim == "level":
        return True
    if var is None:
        return False
    units = str(getattr(var, "units", ""))
    return (
        getattr(var, "axis", "") == "Z"
        or hasattr(var, "positive")
        or getattr(var, "standard_name", "") in VERTICAL_STANDARD_NAMES
        or units in PRESSURE_UNITS
    )


def level_name(ds, dim: str | None, index: int | None) -> str:
    if dim is None:
        return "surface"
    var = ds.variables.get(dim)
    if var is None:
        return f"level {index + 1}"
    value = float(var[index])
    units = str(getattr(var, "units", ""))
    if units in PRESSURE_UNITS:
        return f"{value * PRESSURE_UNITS[units]:g} mb"
    return f"{value:g} m above ground" if units == "m" else f"level {value:g}"


def _labels(ds, dim: str) -> list[str]:
    """A descriptor per index of another axis: its coordinate's values, else its index."""
    var = ds.variables.get(dim)
    size = len(ds.dimensions[dim])
    if var is None:
        return [f"{dim}={i}" for i in range(size)]
    values = var[:]
    if np.asarray(values).dtype.kind in "SUO":
        import netCDF4

        texts = netCDF4.chartostring(values) if values.dtype.kind == "S" else values
        return [f"{dim}={str(t).strip().replace(':', '-')}" for t in np.atleast_1d(texts)]
    return [f"{dim}={float(v):g}" for v in np.atleast_1d(values)]


def positions(ds, var, grid_dims: tuple[str, str], origin: str) -> list[Position]:
    """Every 2-D slice of `var`, in its dimensions' order."""
    others = [d for d in var.dimensions if d not in grid_dims]
    time_dim = next((d for d in others if _is_time(ds, d)), None)
    level_dim = next((d for d in others if d != time_dim and _is_vertical(ds, d)), None)
    if time_dim is not None:
        whens = times(ds, time_dim, origin)
    elif "time" in ds.variables and ds.variables["time"].dimensions == ("time",):
        first = times(ds, "time", origin)[0]  # a field with no time of its own
        whens = [When(first.ref, first.step, first.forecast)]
    else:
        raise ShredError(f"{origin}: no time axis: the rows would have no reference time")
    axes = []
    for dim in var.dimensions:
        if dim in grid_dims:
            axes.append([None])
        elif dim == time_dim:
            axes.append(range(len(whens)))
        elif dim == level_dim:
            axes.append(range(len(ds.dimensions[dim])))
        else:
            axes.append(list(enumerate(_labels(ds, dim))))
    found = []
    for combination in itertools.product(*axes):
        index, descriptor, t, k = [], [], None, None
        for dim, at in zip(var.dimensions, combination, strict=True):
            if dim in grid_dims:
                index.append(slice(None))
            elif dim == time_dim:
                t = at
                index.append(at)
            elif dim == level_dim:
                k = at
                index.append(at)
            else:
                index.append(at[0])
                descriptor.append(at[1])
        when = whens[t if t is not None else 0]
        time_index = t if t is not None else (0 if "time" in ds.variables else None)
        level = level_name(ds, level_dim, k)
        found.append(
            Position(tuple(index), when, level, time_index, k, (*when.descriptor, *descriptor))
        )
    return found
