"""Read GOES-R ABI Level-2 NetCDF files: check that a file is one, and decode its pixels.

Decoding is done here from the packed integers rather than by xarray or netCDF4's automatic
masking, because the two disagree: netCDF4 masks values outside `valid_range`, xarray does not.
gridflow follows the GOES-R Product User Guide and CF: a pixel is valid when its packed value is
not `_FillValue` and lies inside `valid_range` (both read as unsigned when `_Unsigned` is
"true"), and, when the source lists accepted data-quality flags (`dqf_keep`), its DQF is one of
them. Valid pixels are unpacked with `scale_factor` and `add_offset`. Only valid pixels on the
Earth's disk become rows: a night-time AOD file (all fill) shreds to zero rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np

from gridflow import rows
from gridflow.errors import GridflowError
from gridflow.formats import sniff
from gridflow.formats.abi.geostationary import Projection, lat_lon
from gridflow.geo import grid_cache

NETCDF_MAGIC = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")
GEOMETRY = ("x", "y", "goes_imager_projection")
# Rows of the fixed grid decoded at a time: keeps memory flat and the arrays in cache.
BLOCK_ROWS = 256


class AbiError(GridflowError, ValueError):
    """A file that is not a readable ABI Level-2 NetCDF file."""


@dataclass(frozen=True)
class Packing:
    """How one variable's integers map to values, and which of them mean missing."""

    dtype: np.dtype  # the integers as stored, unsigned when `_Unsigned` says so
    fill: int | None
    valid_range: tuple[int, int] | None
    scale: float
    offset: float

    @classmethod
    def of(cls, var) -> Packing:
        attrs = {k: var.getncattr(k) for k in var.ncattrs()}
        dtype = np.dtype(var.dtype)
        if str(attrs.get("_Unsigned", "false")).lower() == "true" and dtype.kind == "i":
            dtype = np.dtype(f"u{dtype.itemsize}")

        def as_stored(value) -> np.ndarray:
            return np.asarray(value, dtype=var.dtype).astype(var.dtype).view(dtype)

        fill = attrs.get("_FillValue")
        valid = attrs.get("valid_range")
        return cls(
            dtype,
            int(as_stored(fill)) if fill is not None else None,
            tuple(int(v) for v in as_stored(valid)) if valid is not None else None,
            float(attrs.get("scale_factor", 1.0)),
            float(attrs.get("add_offset", 0.0)),
        )

    def valid(self, packed: np.ndarray) -> np.ndarray:
        ok = np.ones(packed.shape, bool) if self.fill is None else packed != self.fill
        if self.valid_range is not None:
            ok &= (packed >= self.valid_range[0]) & (packed <= self.valid_range[1])
        return ok

    def unpack(self, packed: np.ndarray, dtype=np.float32) -> np.ndarray:
        return (packed.astype(np.float64) * self.scale + self.offset).astype(dtype)

    def stored(self) -> rows.Packing | None:
        """The same arithmetic as the store keeps packed values (scale, then offset, in double;
        the decimal factor 1), for integers of 16 bits or fewer."""
        if self.dtype.itemsize > 2:
            return None
        return rows.Packing(self.offset, self.scale, 1.0)


def open_abi(path: Path, origin: str) -> netCDF4.Dataset:
    """The dataset, or AbiError naming `origin` when the file is not an ABI L2 NetCDF file."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if not head.startswith(NETCDF_MAGIC):
        raise AbiError(f"{origin}: not a NetCDF file: {sniff.looks_like(head)}")
    try:
        ds = netCDF4.Dataset(path)
    except OSError as exc:
        raise AbiError(f"{origin}: NetCDF cannot open the file ({exc}); cut short?") from None
    ds.set_auto_maskandscale(False)
    missing = [name for name in GEOMETRY if name not in ds.variables]
    if missing:
        title = getattr(ds, "title", None)  # read before the dataset is closed
        ds.close()
        what = f"title {title!r}" if title else "no title"
        raise AbiError(
            f"{origin}: not an ABI fixed-grid file (no {', '.join(missing)}): {what}"
        ) from None
    return ds


def scan_start(ds: netCDF4.Dataset, origin: str) -> datetime:
    """The scan start to the second (the reference time of every row)."""
    text = getattr(ds, "time_coverage_start", None)
    try:
        return datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except (TypeError, ValueError):
        raise AbiError(f"{origin}: no readable time_coverage_start ({text!r})") from None


def product_variable(ds: netCDF4.Dataset, name: str, origin: str):
    if name not in ds.variables:
        raise AbiError(f"{origin}: no variable {name!r} (has {', '.join(list(ds.variables)[:8])})")
    var = ds.variables[name]
    if var.dimensions != ("y", "x"):
        raise AbiError(f"{origin}: {name} is on {var.dimensions}, not the (y, x) fixed grid")
    return var


def verify(path: Path, variables: list[str], origin: str) -> datetime:
    """Read every byte of the named variables (a cut or corrupt chunk fails here, not in the
    shred), and check the scan start inside against the `_s` stamp of the name; returns it."""
    with open_abi(path, origin) as ds:
        start = scan_start(ds, origin)
        named = re.search(r"_s(\d{13})\d_", origin.rsplit("/", 1)[-1])
        if named and named.group(1) != f"{start:%Y%j%H%M%S}":
            raise AbiError(
                f"{origin}: time_coverage_start {start:%Y-%m-%dT%H:%M:%SZ} disagrees with the "
                "scan start in the file name"
            )
        for name in variables:
            var = product_variable(ds, name, origin)
            try:
                for row in range(0, var.shape[0], BLOCK_ROWS * 4):
                    var[row : row + BLOCK_ROWS * 4]
            except (OSError, RuntimeError) as exc:
                raise AbiError(f"{origin}: {name} cannot be read whole ({exc})") from None
    return start


def projection(ds: netCDF4.Dataset) -> Projection:
    var = ds.variables["goes_imager_projection"]
    return Projection.from_attrs({k: var.getncattr(k) for k in var.ncattrs()})


def scan_angles(ds: netCDF4.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """The x and y axes in radians (float64: float32 would move a pixel by metres)."""
    return tuple(
        Packing.of(ds.variables[n]).unpack(ds.variables[n][:], np.float64) for n in ("x", "y")
    )


@dataclass(frozen=True)
class Pixels:
    lat: np.ndarray  # degrees (float32 from the grid cache, else float64)
    lon: np.ndarray
    value: np.ndarray  # float32
    missing: np.ndarray | None = None  # where a pixel of the grid has no valid value
    packing: rows.Packing | None = None  # how the file packed the values


def disk_pixels(
    ds: netCDF4.Dataset,
    name: str,
    origin: str,
    stride: int = 1,
    bbox: tuple[float, float, float, float] | None = None,
    dqf_keep: tuple[int, ...] | None = None,
) -> Iterator[Pixels]:
    """Every pixel of one variable's grid on the Earth's disk, a block of grid rows at a time,
    `missing` where its value is not valid; `stride` keeps one pixel in k x k, `bbox` (west,
    south, east, north) those inside it. The grid is the same in every file of a product: what
    a file lacks is missing, never a smaller grid."""
    var = product_variable(ds, name, origin)
    packing = Packing.of(var)
    proj = projection(ds)
    x, y = (axis[::stride] for axis in scan_angles(ds))
    # a product's grid is the same in every file: its places come from the grid cache
    grid = grid_cache.places(
        grid_cache.key("abi", repr(proj), x.tobytes(), y.tobytes()),
        len(y),
        len(x),
        lambda first, end: lat_lon(x, y[first:end], proj),
    )
    dqf = None
    if dqf_keep is not None:
        if "DQF" not in ds.variables:
            raise AbiError(f"{origin}: dqf_keep is set but the file has no DQF variable")
        dqf = ds.variables["DQF"]
        dqf_packing = Packing.of(dqf)
    step = BLOCK_ROWS * stride
    for row in range(0, var.shape[0], step):
        packed = var[row : row + step][::stride, ::stride].view(packing.dtype)
        ok = packing.valid(packed)
        if dqf is not None:
            flags = dqf[row : row + step][::stride, ::stride].view(dqf_packing.dtype)
            ok &= np.isin(flags, dqf_keep)
        first = row // stride
        if grid is not None:
            end = first + len(packed)
            lat, lon = grid[0][first:end].ravel(), grid[1][first:end].ravel()
        else:
            lat, lon = lat_lon(x, y[first : first + len(packed)], proj)
        lat, lon, ok = lat.ravel(), lon.ravel(), ok.ravel()
        value = packing.unpack(packed.ravel())
        keep = ~np.isnan(lat)  # off the disk: no place on Earth, no point of the grid
        if bbox is not None:
            west, south, east, north = bbox
            keep &= (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
        if not keep.all():
            lat, lon, value, ok = lat[keep], lon[keep], value[keep], ok[keep]
        if len(value):
            yield Pixels(lat, lon, value, ~ok, packing.stored())


def valid_pixels(
    ds: netCDF4.Dataset,
    name: str,
    origin: str,
    stride: int = 1,
    bbox: tuple[float, float, float, float] | None = None,
    dqf_keep: tuple[int, ...] | None = None,
) -> Iterator[Pixels]:
    """The valid pixels of `disk_pixels`' blocks (blocks without one are left out)."""
    for px in disk_pixels(ds, name, origin, stride, bbox, dqf_keep):
        ok = ~px.missing
        if ok.any():
            yield Pixels(px.lat[ok], px.lon[ok], px.value[ok])
