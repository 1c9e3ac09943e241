"""Gridded NetCDF with CF-style coordinates (CAMS from the ADS, ECMWF's grib_to_netcdf output):
data variables on 1-D `latitude`/`longitude` axes (`lat`/`lon` too), with an optional `time`
and `level` dimension. Each 2-D slice (variable, level, time) is one field; missing values
(`_FillValue`, `missing_value`, NaN) become NULL.

A zip (what the ADS sends when a request spans several models or types) is read member by
member; each member's fields carry its name in the inventory (`member=...`). A file whose
`source` attribute names its model (`Data from ENSEMBLE model`, the ADS's CAMS European files)
gives its fields the descriptor `model=ENSEMBLE`, so two models' fields stay apart.

Times: CF units (`hours since 1900-01-01`) give each slice its own reference time (step 0);
the ADS's CAMS European files count plain `hours` from a base date named in the variable's
long name (`ANALYSIS time from 20200101`): that date is the reference, the hours the step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gridflow import inventory
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import (
    NETCDF_MEDIA_TYPES,
    Fetched,
    FieldRows,
    Format,
    members,
    netcdf_members,
)

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


def _datasets(path: Path, origin: str) -> Iterator[tuple[str, object]]:
    """(zip member name or "", open dataset) of each NetCDF file in `path`."""
    if not members(path, origin):
        raise FetchError(f"{origin}: an empty zip")
    yield from netcdf_members(path, origin, MAGIC, "NetCDF")


def _descriptor(ds) -> str:
    model = re.search(r"Data from (\S+) model", str(getattr(ds, "source", "")))
    return f"model={model.group(1)}" if model else ""


def _grid(ds) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) of every point, row-major, longitudes in [-180, 180)."""
    from gridflow.gridgeo import normalise_lon

    lats = np.asarray(ds.variables[_axis(ds, LAT)][:], dtype=np.float64)
    lons = normalise_lon(np.asarray(ds.variables[_axis(ds, LON)][:], dtype=np.float64))
    return lats, lons


def _slice(ds, entry, origin: str):
    """(values, missing) of an entry's 2-D slice."""
    extra = dict(part.split("=", 1) for part in entry.extra if "=" in part)
    t = int(extra["time"])
    level = int(extra["level_index"]) if extra["level_index"] else None
    var = ds.variables[entry.variable]
    index = tuple(
        t if d == "time" else level if d == "level" else slice(None) for d in var.dimensions
    )
    grid = np.ma.masked_invalid(np.ma.asarray(var[index], dtype=np.float32))
    lats, lons = (len(ds.variables[_axis(ds, a)]) for a in (LAT, LON))
    if grid.shape != (lats, lons):
        raise ShredError(f"{origin}: {entry.line()}: {grid.shape} is not latitude x longitude")
    return grid.filled(np.nan), np.ma.getmaskarray(grid), t


def _by_member(entries) -> dict[str, list]:
    members: dict[str, list] = {}
    for entry in entries:
        extra = dict(part.split("=", 1) for part in entry.extra if "=" in part)
        members.setdefault(extra.get("member", ""), []).append(entry)
    return members


class NetcdfCf(Format):
    name = "netcdf_cf"
    extension = "nc"
    media_types = (*NETCDF_MEDIA_TYPES, "application/zip")

    def inspect(self, path: Path, origin: str) -> Fetched:
        entries = []
        for member, ds in _datasets(path, origin):
            where = f"{origin} ({member})" if member else origin
            if not (_axis(ds, LAT) and _axis(ds, LON)):
                raise FetchError(f"{where}: no latitude and longitude axes")
            try:
                times = _times(ds, where)
            except ShredError as exc:
                raise FetchError(str(exc)) from None
            descriptor = (_descriptor(ds),) if _descriptor(ds) else ()
            for name, level in _fields(ds):
                ds.variables[name][:]  # read through once: a cut file fails here
                for t, (ref, step) in enumerate(times):
                    n = len(entries) + 1
                    date = f"d={ref:%Y%m%d%H}"
                    fcst = "anl" if step == 0 else f"{step // 60} hour fcst"
                    extra = (
                        *descriptor,
                        f"time={t}",
                        f"level_index={'' if level is None else level}",
                        *((f"member={member}",) if member else ()),
                    )
                    entries.append(
                        inventory.IdxEntry(str(n), 0, date, name, _level(ds, level), fcst, extra)
                    )
        if not entries:
            raise FetchError(f"{origin}: no variable on the latitude/longitude grid")
        return Fetched(entries, len(entries), [(0, path.stat().st_size)])

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        from gridflow import rows

        wanted = _by_member(entries)
        for member, ds in _datasets(raw, str(raw)):
            if member not in wanted:
                continue
            origin = f"{raw} ({member})" if member else str(raw)
            times = _times(ds, origin)
            lats, lons = _grid(ds)
            lat, lon = np.repeat(lats, len(lons)), np.tile(lons, len(lats))
            keep = np.ones(len(lat), bool)
            if options.bbox is not None:
                west, south, east, north = options.bbox
                keep = (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
            descriptor = _descriptor(ds)
            for entry in wanted[member]:
                values, missing, t = _slice(ds, entry, origin)
                ref, step = times[t]
                field = (entry.variable, entry.level, entry.forecast, descriptor)
                table = rows.points(
                    lat[keep],
                    lon[keep],
                    values.ravel()[keep],
                    missing.ravel()[keep],
                )
                yield FieldRows(entry.line(), (*field, ref, step), table)

    def cells(self, raw: Path, entries, spec: dict) -> Iterator:
        from gridflow import cells

        wanted = _by_member(entries)
        for member, ds in _datasets(raw, str(raw)):
            origin = f"{raw} ({member})" if member else str(raw)
            times = _times(ds, origin)
            lats, lons = _grid(ds)
            lat, lon = np.meshgrid(lats, lons, indexing="ij")
            descriptor = _descriptor(ds)
            for entry in wanted.get(member, []):
                name = f"{entry.variable}:{descriptor}" if descriptor else entry.variable
                if name not in spec["variables"] and entry.variable not in spec["variables"]:
                    continue
                values, missing, t = _slice(ds, entry, origin)
                ref, step = times[t]
                yield cells.grid_cells(
                    lat,
                    lon,
                    values,
                    ~missing,
                    ref + timedelta(minutes=step),
                    name,
                    cells.thresholds_for(name, entry.variable, spec["thresholds"]),
                    spec.get("bbox"),
                    spec.get("stride", 1),
                )


FORMAT = NetcdfCf
