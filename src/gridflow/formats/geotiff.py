"""GeoTIFF rasters in any coordinate reference system (Harmony's `image/tiff` outputs, TEMPO
columns warped to UTM): each band is a field; each pixel's latitude/longitude come from the
raster's own transform and CRS (PROJ, through rasterio), and its PostGIS cell is the pixel's
exact footprint.

A field is named by the NetCDF variable its tags carry (`/product/vertical_column_troposphere#
units`, as GDAL writes them), else the band's description, else the file name. The time is the
granule's `time_coverage_start` tag. Pixels equal to the band's nodata, or not finite, are
dropped. A `main_data_quality_flag` raster (a band of the file, or a companion file of the same
grid in the zip of a job's outputs) keeps only pixels whose flag is in `dqf_keep` (default 0,
good); the flag raster itself is not loaded. A raster with no valid pixel loads zero rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from gridflow import inventory
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import Fetched, FieldRows, Format, members

QUALITY = "main_data_quality_flag"
GOOD = (0,)
TIME_TAGS = ("NC_GLOBAL#time_coverage_start", "time_coverage_start", "TIFFTAG_DATETIME")


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


def _variable(ds, band: int, member: str) -> str:
    named = {k.split("#")[0].rsplit("/", 1)[-1] for k in ds.tags() if "#" in k and "/" in k}
    named.discard("NC_GLOBAL")
    if len(named) == 1 and ds.count == 1:
        return named.pop()
    if ds.descriptions[band - 1]:
        return ds.descriptions[band - 1]
    return Path(member or ds.name).stem + (f"_b{band}" if ds.count > 1 else "")


def _time(ds, origin: str) -> datetime:
    tags = ds.tags()
    for tag in TIME_TAGS:
        if tags.get(tag):
            text = tags[tag].strip().replace("Z", "+00:00")
            try:
                if tag == "TIFFTAG_DATETIME":
                    return datetime.strptime(text, "%Y:%m:%d %H:%M:%S").replace(tzinfo=UTC)
                return datetime.fromisoformat(text).astimezone(UTC)
            except ValueError:
                raise FetchError(f"{origin}: {tag} {tags[tag]!r} is not a time") from None
    raise FetchError(f"{origin}: no time tag ({', '.join(TIME_TAGS)}): the rows would have none")


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


def _bands(opened) -> tuple[list, dict]:
    """([(member, ds, band, variable)] to load, {grid: flag array}) of a raw file."""
    fields, flags = [], {}
    for member, ds in opened:
        for band in range(1, ds.count + 1):
            variable = _variable(ds, band, member)
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
        entries = []
        with _rasters(path, origin) as opened:
            fields, _ = _bands(opened)
            for member, ds, band, variable in fields:
                where = f"{origin} ({member})" if member else origin
                when = _time(ds, where)
                if ds.crs is None:
                    raise FetchError(f"{where}: the raster has no CRS: its pixels cannot be placed")
                ds.read(band)  # read through once: a cut file fails here
                extra = (f"band={band}", *((f"member={member}",) if member else ()))
                entries.append(column_entry(len(entries) + 1, when, variable, extra))
        return Fetched(entries, len(entries), [(0, path.stat().st_size)])

    def _chosen(self, raw: Path, entries):
        """(entry, member ds, band, flags) of each inventory entry."""
        with _rasters(raw, str(raw)) as opened:
            by_member = {member: ds for member, ds in opened}
            _, flags = _bands(opened)
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
                r, c = np.nonzero(valid)
                lat, lon = _lat_lon(ds, r + 0.5, c + 0.5)
                keep = np.ones(len(lat), bool)
                if options.bbox is not None:
                    west, south, east, north = options.bbox
                    keep = (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
                lat, lon = lat[keep], lon[keep]
                field = (entry.variable, entry.level, entry.forecast, "")
                when = _time(ds, str(raw))
                table = rows.points(lat, lon, values[r, c][keep])
                yield FieldRows(entry.line(), (*field, when, 0), table)

    def cells(self, raw: Path, entries, spec: dict) -> Iterator:
        from gridflow import cells

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
                    _time(ds, str(raw)),
                    entry.variable,
                    cells.thresholds_for(entry.variable, entry.variable, spec["thresholds"]),
                    spec.get("bbox"),
                )


FORMAT = GeoTiff
