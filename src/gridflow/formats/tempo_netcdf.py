"""NASA TEMPO NetCDF4 (what Harmony returns for `application/netcdf`, and the granules
themselves): Level-2 swaths, with 2-D `geolocation/latitude` and `longitude` (mirror step x
cross-track), and Level-3 grids, with 1-D root `latitude` and `longitude`; the data in the
`product` group.

Every floating-point variable of `product` on the swath or grid is a field; its time is the
granule's `time_coverage_start`. Values that are fill values (or NaN, as l2ss-py subsets write
them), and pixels with no latitude/longitude, are dropped; so are pixels whose
`product/main_data_quality_flag` is not in `dqf_keep` (default 0, good), when the file has
one. A granule with no valid value (a night scan, a cloud-covered box) loads zero rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import NETCDF_MEDIA_TYPES, Fetched, FieldRows, Format, netcdf_members
from gridflow.formats.geotiff import GOOD, QUALITY, column_entry

HDF5 = b"\x89HDF\r\n\x1a\n"


def _granules(path: Path, origin: str) -> Iterator[tuple[str, object]]:
    """(zip member or "", open dataset) of each granule in the raw file (none: no granule)."""
    for name, ds in netcdf_members(path, origin, (HDF5,), "NetCDF4"):
        ds.set_auto_mask(True)
        yield name, ds


def _geolocation(ds, where: str) -> tuple[np.ndarray, np.ndarray]:
    """2-D latitude and longitude of every pixel (NaN where the file has none)."""
    if "geolocation" in ds.groups and "latitude" in ds["geolocation"].variables:
        lat, lon = ds["geolocation"]["latitude"][:], ds["geolocation"]["longitude"][:]
    elif "latitude" in ds.variables and "longitude" in ds.variables:
        lat, lon = np.meshgrid(ds["latitude"][:], ds["longitude"][:], indexing="ij")
    else:
        raise FetchError(f"{where}: no geolocation/latitude nor root latitude: not TEMPO")
    lat = np.ma.filled(np.ma.asarray(lat, dtype=np.float64), np.nan)
    lon = np.ma.filled(np.ma.asarray(lon, dtype=np.float64), np.nan)
    return lat, lon


def _time(ds, where: str) -> datetime:
    text = getattr(ds, "time_coverage_start", None)
    if not text:
        raise FetchError(f"{where}: no time_coverage_start: the rows would have no time")
    return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)


def _products(ds, shape: tuple) -> list[str]:
    if "product" not in ds.groups:
        return []
    group = ds["product"]
    return [
        name
        for name, var in group.variables.items()
        if name != QUALITY and var.dtype.kind == "f" and var.shape[-2:] == shape
    ]


def _values(ds, variable: str, lat: np.ndarray, keep_flags, where: str):
    """(values, valid) of a product variable on the 2-D swath or grid."""
    var = ds["product"][variable]
    data = var[:]
    while data.ndim > 2:  # L3: (time, latitude, longitude), one time
        if data.shape[0] != 1:
            raise ShredError(f"{where}: {variable} has {data.shape[0]} times; one was expected")
        data = data[0]
    data = np.ma.masked_invalid(np.ma.asarray(data, dtype=np.float64))
    valid = ~np.ma.getmaskarray(data) & np.isfinite(lat)
    if QUALITY in ds["product"].variables:
        flag = ds["product"][QUALITY][:]
        while flag.ndim > 2:
            flag = flag[0]
        good = np.isin(np.ma.filled(flag, -1), keep_flags if keep_flags is not None else GOOD)
        valid &= good
    return np.ma.filled(data, np.nan), valid


class TempoNetcdf(Format):
    name = "tempo_netcdf"
    extension = "nc4"
    media_types = (*NETCDF_MEDIA_TYPES, "application/x-netcdf4", "application/zip")

    def inspect(self, path: Path, origin: str) -> Fetched:
        entries = []
        for member, ds in _granules(path, origin):
            where = f"{origin} ({member})" if member else origin
            lat, _ = _geolocation(ds, where)
            when = _time(ds, where)
            for variable in _products(ds, lat.shape):
                ds["product"][variable][:]  # read through once: a cut file fails here
                extra = (f"member={member}",) if member else ()
                entries.append(column_entry(len(entries) + 1, when, variable, extra))
        return Fetched(entries, len(entries), [(0, path.stat().st_size)])

    def _each(self, raw: Path, entries):
        """(entry, ds, lat, lon, time, where) of every inventory entry."""
        wanted: dict[str, list] = {}
        for entry in entries:
            extra = dict(part.split("=", 1) for part in entry.extra)
            wanted.setdefault(extra.get("member", ""), []).append(entry)
        for member, ds in _granules(raw, str(raw)):
            if member not in wanted:
                continue
            where = f"{raw} ({member})" if member else str(raw)
            lat, lon = _geolocation(ds, where)
            when = _time(ds, where)
            for entry in wanted[member]:
                yield entry, ds, lat, lon, when, where

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        from gridflow import rows
        from gridflow.geo.longitude import normalise_lon

        for entry, ds, lat, lon, when, where in self._each(raw, entries):
            values, valid = _values(ds, entry.variable, lat, options.dqf_keep, where)
            # the grid: every pixel with a place (in the bbox); the rest of `valid` is missing
            placed = np.isfinite(lat)
            plat, plon = lat[placed], normalise_lon(lon[placed])
            kept, missing = values[placed], ~valid[placed]
            if options.bbox is not None:
                west, south, east, north = options.bbox
                inside = (plat >= south) & (plat <= north) & (plon >= west) & (plon <= east)
                plat, plon = plat[inside], plon[inside]
                kept, missing = kept[inside], missing[inside]
            field = (entry.variable, entry.level, entry.forecast, "")
            table = rows.points(plat, plon, kept, missing)
            yield FieldRows(entry.line(), (*field, when, 0), table)

    def cells(self, raw: Path, entries, spec: dict) -> Iterator:
        from gridflow.geo import cells

        for entry, ds, lat, lon, when, where in self._each(raw, entries):
            if entry.variable not in spec["variables"]:
                continue
            values, valid = _values(ds, entry.variable, lat, spec.get("dqf_keep"), where)
            yield cells.grid_cells(
                np.nan_to_num(lat),
                np.nan_to_num(lon),
                values,
                valid,
                when,
                entry.variable,
                cells.thresholds_for(entry.variable, entry.variable, spec["thresholds"]),
                spec.get("bbox"),
                spec.get("stride", 1),
            )


FORMAT = TempoNetcdf
