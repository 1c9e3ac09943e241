"""GeoTIFF rasters in any coordinate reference system (Harmony's `image/tiff` outputs, TEMPO
columns warped to UTM): each band is a field; each pixel's latitude/longitude come from the
raster's own transform and CRS (PROJ, through rasterio), and its PostGIS cell is the pixel's
exact footprint.

A field is named by the product: the NetCDF variable its tags carry (`/product/vertical_column_
troposphere#units`, as GDAL writes them), else the band's description, else the variable the
job service was asked for, else the file's own name (never a temporary file's). Its time is the
data's: the granule's `time_coverage_start` tag, else the date and time in the file's name
(TEMPO's `..._20250109T184503Z_...`, IMERG's `...20240617-S000000-E235959...`, a bare
`YYYYMMDD`), else the start of the period the service was asked for. `TIFFTAG_DATETIME` is when
the file was written, never the data's time; a file with no time of its own, outside a job, is
refused. The time found at fetch is kept in the inventory (`time=`), so the shred reads it
there. Pixels equal to the band's nodata, or not finite, are missing. A
`main_data_quality_flag` raster (a band of the file, or a companion file of the same grid in
the zip of a job's outputs) keeps only pixels whose flag is in `dqf_keep` (default 0, good),
the others missing; the flag raster itself is not loaded. A raster with no valid pixel loads
zero rows.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

from gridflow import inventory
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import Asked, Fetched, FieldRows, Format, members

QUALITY = "main_data_quality_flag"
GOOD = (0,)
TIME_TAGS = ("NC_GLOBAL#time_coverage_start", "time_coverage_start")
# a date and time in a file's name, most precise first: 20250109T184503 (TEMPO, ISO basic),
# 20240617-S000000 (IMERG: the start of its period), a date standing alone
NAMED_TIMES = (
    (re.compile(r"(?<!\d)(\d{8})T(\d{6})(?!\d)"), "%Y%m%d%H%M%S"),
    (re.compile(r"(?<!\d)(\d{8})-S(\d{6})(?!\d)"), "%Y%m%d%H%M%S"),
    (re.compile(r"(?<!\d)((?:19|20)\d{6})(?!\d)"), "%Y%m%d"),
)
KEPT_TIME = "%Y%m%dT%H%M%SZ"  # the inventory's `time=`


@contextmanager
def _rasters(path: Path, origin: str):
    """[(member, open dataset)] of the raw file: itself, or each member of its zip."""
    import rasterio
    from rasterio.errors import RasterioIOError
    from rasterio.io import MemoryFile

    opened, files = [], []
    try:
        for name, data in members(path, origin):
            where = f"{origin} ({name})" if name else origin
            try:
                if data is None:
                    opened.append((name, rasterio.open(path)))
                else:
                    memory = MemoryFile(data)
                    files.append(memory)
                    opened.append((name, memory.open()))
            except RasterioIOError as exc:
                first = str(exc).splitlines()[0]
                raise FetchError(f"{where}: not a GeoTIFF GDAL can read ({first})") from None
        yield opened
    finally:
        for _, ds in opened:
            ds.close()
        for memory in files:
            memory.close()


def own_name(member: str, origin: str) -> str:
    """The file's own name: its zip member's, else the last part of the URL or path it came
    from (the local file may be a temporary one)."""
    return member or posixpath.basename(urlsplit(origin).path)


def _variable(ds, band: int, name: str, asked: Asked | None) -> str:
    return _named(ds, band, name, asked).replace(":", "-")  # an inventory line's separator


def _named(ds, band: int, name: str, asked: Asked | None) -> str:
    named = {k.split("#")[0].rsplit("/", 1)[-1] for k in ds.tags() if "#" in k and "/" in k}
    named.discard("NC_GLOBAL")
    if len(named) == 1 and ds.count == 1:
        return named.pop()
    if ds.descriptions[band - 1]:
        return ds.descriptions[band - 1]
    suffix = f"_b{band}" if ds.count > 1 else ""
    if asked is not None and asked.variable:
        return asked.variable.rsplit("/", 1)[-1] + suffix
    return Path(name).stem + suffix


def time_in_name(name: str) -> datetime | None:
    """The date and time a file's name gives (the first that parses), or None."""
    for pattern, layout in NAMED_TIMES:
        for found in pattern.finditer(name):
            try:
                return datetime.strptime("".join(found.groups()), layout).replace(tzinfo=UTC)
            except ValueError:
                continue
    return None


def _time(ds, where: str, name: str, asked: Asked | None) -> datetime:
    """The time of the data (see the module notes for where it comes from)."""
    tags = ds.tags()
    for tag in TIME_TAGS:
        if tags.get(tag):
            text = tags[tag].strip().replace("Z", "+00:00")
            try:
                return datetime.fromisoformat(text).astimezone(UTC)
            except ValueError:
                raise FetchError(f"{where}: {tag} {tags[tag]!r} is not a time") from None
    named = time_in_name(name)
    if named is not None:
        return named
    if asked is not None and asked.start is not None:
        return asked.start
    raise FetchError(
        f"{where}: no time of its data (no time_coverage_start tag, no date in the name "
        f"{name!r}, no period asked for; TIFFTAG_DATETIME is when the file was written)"
    )


def _kept_time(entry: inventory.IdxEntry) -> datetime:
    """The time the fetch found for an entry (an inventory written before it kept one: the
    hour of its `d=`)."""
    extra = dict(part.split("=", 1) for part in entry.extra if "=" in part)
    if "time" in extra:
        return datetime.strptime(extra["time"], KEPT_TIME).replace(tzinfo=UTC)
    return datetime.strptime(entry.date.removeprefix("d="), "%Y%m%d%H").replace(tzinfo=UTC)


def column_level(variable: str) -> str:
    for layer in ("troposphere", "stratosphere"):
        if layer in variable:
            return layer
    return "entire atmosphere"


def column_entry(number: int, when: datetime, variable: str, extra: tuple) -> inventory.IdxEntry:
    """The inventory line of an observed column (a TEMPO product variable or band)."""
    return inventory.IdxEntry(
        str(number), 0, f"d={when:%Y%m%d%H}", variable, column_level(variable), "anl", extra
    )


def _grid_key(ds) -> tuple:
    return (ds.crs.to_string() if ds.crs else None, tuple(ds.transform), ds.shape)


def _bands(opened, origin: str, asked: Asked | None = None) -> tuple[list, dict]:
    """([(member, ds, band, variable)] to load, {grid: flag array}) of a raw file."""
    fields, flags = [], {}
    for member, ds in opened:
        for band in range(1, ds.count + 1):
            variable = _variable(ds, band, own_name(member, origin), asked)
            if variable == QUALITY:
                flags[_grid_key(ds)] = (ds, band)
            else:
                fields.append((member, ds, band, variable))
    return fields, flags


def _lat_lon(ds, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude/longitude of pixel positions (row, col; +0.5 is a centre) in the raster."""
    from rasterio.warp import transform

    a, b, c, d, e, f = tuple(ds.transform)[:6]
    x, y = a * cols + b * rows + c, d * cols + e * rows + f
    if ds.crs is None:
        raise ShredError(f"{ds.name}: the raster has no CRS: its pixels cannot be placed")
    if ds.crs.to_epsg() == 4326:
        return np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    lon, lat = transform(ds.crs, "EPSG:4326", np.ravel(x), np.ravel(y))
    return np.reshape(lat, np.shape(x)), np.reshape(lon, np.shape(x))


def _valid(ds, band: int, flags: dict, keep_flags) -> tuple[np.ndarray, np.ndarray]:
    values = ds.read(band).astype(np.float64)
    valid = np.isfinite(values)
    if ds.nodatavals[band - 1] is not None:
        valid &= values != ds.nodatavals[band - 1]
    flag = flags.get(_grid_key(ds))
    if flag is not None:
        qa_ds, qa_band = flag
        qa = qa_ds.read(qa_band)
        valid &= np.isin(qa, keep_flags if keep_flags is not None else GOOD)
    return values, valid


class GeoTiff(Format):
    name = "geotiff"
    extension = "tif"
    media_types = ("image/tiff", "image/geotiff", "application/zip")

    def inspect(self, path: Path, origin: str) -> Fetched:
        return self.inspect_output(path, origin, None)

    def inspect_output(self, path: Path, origin: str, asked: Asked | None) -> Fetched:
        entries = []
        with _rasters(path, origin) as opened:
            fields, _ = _bands(opened, origin, asked)
            for member, ds, band, variable in fields:
                where = f"{origin} ({member})" if member else origin
                when = _time(ds, where, own_name(member, origin), asked)
                if ds.crs is None:
                    raise FetchError(f"{where}: the raster has no CRS: its pixels cannot be placed")
                ds.read(band)  # read through once: a cut file fails here
                extra = (
                    f"band={band}",
                    *((f"member={member}",) if member else ()),
                    f"time={when:{KEPT_TIME}}",
                )
                entries.append(column_entry(len(entries) + 1, when, variable, extra))
        return Fetched(entries, len(entries), [(0, path.stat().st_size)])

    def _chosen(self, raw: Path, entries):
        """(entry, member ds, band, flags) of each inventory entry."""
        with _rasters(raw, str(raw)) as opened:
            by_member = {member: ds for member, ds in opened}
            _, flags = _bands(opened, str(raw))
            found = []
            for entry in entries:
                extra = dict(part.split("=", 1) for part in entry.extra)
                ds = by_member.get(extra.get("member", ""))
                if ds is None:
                    raise ShredError(f"{raw}: {entry.line()}: no such member in the file")
                found.append((entry, ds, int(extra["band"])))
            yield found, flags

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        from gridflow import rows

        for found, flags in self._chosen(raw, entries):
            for entry, ds, band in found:
                values, valid = _valid(ds, band, flags, options.dqf_keep)
                # the grid is every pixel (in the bbox); one without a valid value is missing
                r, c = np.indices(valid.shape).reshape(2, -1)
                lat, lon = _lat_lon(ds, r + 0.5, c + 0.5)
                keep = np.isfinite(lat) & np.isfinite(lon)  # a pixel with no place on Earth
                if options.bbox is not None:
                    west, south, east, north = options.bbox
                    keep &= (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
                lat, lon = lat[keep], lon[keep]
                missing = ~valid.ravel()[keep]
                field = (entry.variable, entry.level, entry.forecast, "")
                table = rows.points(lat, lon, values.ravel()[keep], missing)
                yield FieldRows(entry.line(), (*field, _kept_time(entry), 0), table)

    def cells(self, raw: Path, entries, spec: dict) -> Iterator:
        from gridflow.geo import cells

        for found, flags in self._chosen(raw, entries):
            for entry, ds, band in found:
                if entry.variable not in spec["variables"]:
                    continue
                values, valid = _valid(ds, band, flags, spec.get("dqf_keep"))
                rows, cols = np.mgrid[0 : ds.height + 1, 0 : ds.width + 1]
                clat, clon = _lat_lon(ds, rows.astype(float), cols.astype(float))
                yield cells.corner_cells(
                    clat,
                    clon,
                    values,
                    valid,
                    _kept_time(entry),
                    entry.variable,
                    cells.thresholds_for(entry.variable, entry.variable, spec["thresholds"]),
                    spec.get("bbox"),
                )


FORMAT = GeoTiff
