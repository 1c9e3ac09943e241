"""Gridded NetCDF with CF-style coordinates (CAMS from the ADS, ECMWF's grib_to_netcdf output):
data variables on 1-D `latitude`/`longitude` axes (`lat`/`lon` too), with an optional `time`
and `level` dimension. Each 2-D slice (variable, level, time) is one field; missing values
(`_FillValue`, `missing_value`, NaN) become NULL.

Times: CF units (`hours since 1900-01-01`) give each slice its own reference time (step 0);
the ADS's CAMS European files count plain `hours` from a base date named in the variable's
long name (`ANALYSIS time from 20200101`): that date is the reference, the hours the step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gridflow import inventory
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import NETCDF_MEDIA_TYPES, Fetched, FieldRows, Format, download_whole

LAT, LON = ("latitude", "lat"), ("longitude", "lon")
MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


def _axis(ds, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in ds.variables), None)


def _times(ds, origin: str) -> list[tuple[datetime, int]]:
    """(reference time, step minutes) of each index of `time`."""
    import netCDF4

    if "time" not in ds.variables:
        raise ShredError(f"{origin}: no time axis: the rows would have no reference time")
    var = ds.variables["time"]
    units = getattr(var, "units", "")
    values = np.asarray(var[:], dtype=float)
    if " since " in units:
        stamps = netCDF4.num2date(values, units, getattr(var, "calendar", "standard"))
        return [(datetime(*s.timetuple()[:6], tzinfo=UTC), 0) for s in stamps]
    base = re.search(r"from (\d{8})", getattr(var, "long_name", ""))
    if units.strip() == "hours" and base:
        ref = datetime.strptime(base.group(1), "%Y%m%d").replace(tzinfo=UTC)
        return [(ref, int(round(h * 60))) for h in values]
    raise ShredError(f"{origin}: time has units {units!r}, which name no reference time")


def _fields(ds) -> list[tuple[str, int | None]]:
    """(variable, level index) of every 2-D grid the file holds."""
    lat, lon = _axis(ds, LAT), _axis(ds, LON)
    found = []
    for name, var in ds.variables.items():
        if lat not in var.dimensions or lon not in var.dimensions or name in (lat, lon):
            continue
        levels = len(ds.variables["level"]) if "level" in var.dimensions else None
        found += [(name, k) for k in range(levels)] if levels else [(name, None)]
    return found


def _level(ds, index: int | None) -> str:
    if index is None:
        return "surface"
    level = ds.variables["level"]
    value = float(level[index])
    return f"{value:g} m above ground" if getattr(level, "units", "") == "m" else f"level {value:g}"


def _open(path: Path, origin: str):
    import netCDF4

    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:2] == b"PK":
        raise FetchError(
            f"{origin}: a zip of several NetCDF files (the ADS sends one when a request spans "
            "several models or types): request one model and type per source"
        )
    if not head.startswith(MAGIC):
        raise FetchError(f"{origin}: not a NetCDF file (starts with {head[:8]!r})")
    try:
        return netCDF4.Dataset(path)
    except OSError as exc:
        raise FetchError(f"{origin}: NetCDF cannot open the file ({exc}); cut short?") from None


class NetcdfCf(Format):
    name = "netcdf_cf"
    extension = "nc"
    media_types = NETCDF_MEDIA_TYPES

    def fetch(self, remote, spec, tmp: Path, upstream, family) -> Fetched:
        download_whole(remote, spec, tmp)
        origin = remote.where(spec.key)
        with _open(tmp, origin) as ds:
            if not (_axis(ds, LAT) and _axis(ds, LON)):
                raise FetchError(f"{origin}: no latitude and longitude axes")
            try:
                times = _times(ds, origin)
            except ShredError as exc:
                raise FetchError(str(exc)) from None
            entries = []
            for name, level in _fields(ds):
                ds.variables[name][:]  # read through once: a cut file fails here
                for t, (ref, step) in enumerate(times):
                    n = len(entries) + 1
                    date = f"d={ref:%Y%m%d%H}"
                    fcst = "anl" if step == 0 else f"{step // 60} hour fcst"
                    extra = (f"time={t}", f"level_index={'' if level is None else level}")
                    entries.append(
                        inventory.IdxEntry(str(n), 0, date, name, _level(ds, level), fcst, extra)
                    )
        if not entries:
            raise FetchError(f"{origin}: no variable on the latitude/longitude grid")
        return Fetched(entries, len(entries), [(0, tmp.stat().st_size)])

    def fields(self, raw: Path, entries, meta: dict, options) -> Iterator[FieldRows]:
        from gridflow import rows
        from gridflow.gridgeo import cell_key, normalise_lon

        with _open(raw, str(raw)) as ds:
            times = _times(ds, str(raw))
            lats = np.asarray(ds.variables[_axis(ds, LAT)][:], dtype=np.float64)
            lons = normalise_lon(np.asarray(ds.variables[_axis(ds, LON)][:], dtype=np.float64))
            lat, lon = np.repeat(lats, len(lons)), np.tile(lons, len(lats))
            keep = np.ones(len(lat), bool)
            if options.bbox is not None:
                west, south, east, north = options.bbox
                keep = (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
            cell = cell_key(lat, lon)
            for entry in entries:
                extra = dict(part.split("=", 1) for part in entry.extra)
                t = int(extra["time"])
                level = int(extra["level_index"]) if extra["level_index"] else None
                var = ds.variables[entry.variable]
                index = tuple(
                    t if d == "time" else level if d == "level" else slice(None)
                    for d in var.dimensions
                )
                grid = np.ma.masked_invalid(np.ma.asarray(var[index], dtype=np.float32))
                if grid.shape != (len(lats), len(lons)):
                    raise ShredError(
                        f"{raw}: {entry.line()}: {grid.shape} is not latitude x longitude"
                    )
                values = grid.filled(np.nan).ravel()
                missing = np.ma.getmaskarray(grid).ravel()
                ref, step = times[t]
                field = (entry.variable, entry.level, entry.forecast, "")
                table = rows.field_table(
                    meta,
                    field,
                    ref,
                    step,
                    lat[keep],
                    lon[keep],
                    cell[keep],
                    values[keep],
                    missing[keep],
                )
                yield FieldRows(entry.line(), (*field, ref, step), table)


FORMAT = NetcdfCf
