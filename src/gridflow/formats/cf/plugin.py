"""Gridded NetCDF with CF-style coordinates (CAMS from the ADS, ECMWF's grib_to_netcdf output,
climate model and satellite grids): each 2-D slice of a data variable on a latitude/longitude
grid is one field; missing values (`_FillValue`, `missing_value`, NaN) become NULL.

The grid is 1-D `latitude`/`longitude` axes, or 2-D latitude and longitude named by the
variable's `coordinates` attribute (curvilinear grids, swaths: `gridflow.formats.cf.grid`);
points with no latitude/longitude (a swath's fill) are no rows. The slice's time, level and
descriptor come from its other dimensions (`gridflow.formats.cf.axes`): CF and CAMS time axes,
climatological axes (`month`, CF climatologies), vertical axes, and any other axis as a
descriptor (`member=3`).

A zip (what the ADS sends when a request spans several models or types) is read member by
member; each member's fields carry its name in the inventory (`member=...`). A file whose
`source` attribute names its model (`Data from ENSEMBLE model`, the ADS's CAMS European files)
gives its fields the descriptor `model=ENSEMBLE`, so two models' fields stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
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
from gridflow.formats.cf import axes as cf_axes
from gridflow.formats.cf import grid as cf_grid

MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")


@dataclass(frozen=True)
class Slice:
    """One field of a file: a data variable's 2-D slice on its grid."""

    variable: str
    grid: cf_grid.Grid
    position: cf_axes.Position
    descriptor: tuple[str, ...]  # the file's own (its model), then the position's

    def extra(self, member: str) -> tuple[str, ...]:
        """The inventory line's parts after the forecast (how the shred finds the slice)."""
        at = self.position
        return (
            *self.descriptor,
            f"time={'' if at.time_index is None else at.time_index}",
            f"level_index={'' if at.level_index is None else at.level_index}",
            *((f"member={member}",) if member else ()),
        )


def _datasets(path: Path, origin: str) -> Iterator[tuple[str, object]]:
    """(zip member name or "", open dataset) of each NetCDF file in `path`."""
    if not members(path, origin):
        raise FetchError(f"{origin}: an empty zip")
    yield from netcdf_members(path, origin, MAGIC, "NetCDF")


def _model(ds) -> tuple[str, ...]:
    model = re.search(r"Data from (\S+) model", str(getattr(ds, "source", "")))
    return (f"model={model.group(1)}",) if model else ()


def _bounds(ds) -> set[str]:
    """Variables that are another's bounds or climatology bounds, never fields."""
    named = set()
    for var in ds.variables.values():
        for attr in ("bounds", "climatology"):
            named.add(str(getattr(var, attr, "")))
    return named


def slices(ds, origin: str) -> list[Slice]:
    """Every field of one dataset, in the file's variable order."""
    found, grids, skip = [], {}, _bounds(ds)
    for name, var in ds.variables.items():
        if name in skip or name in var.dimensions or var.dtype.kind not in "fiu":
            continue
        if cf_grid.is_coordinate(var):
            continue
        grid = cf_grid.grid_of(ds, var, grids)
        if grid is None:
            continue
        for position in cf_axes.positions(ds, var, grid.dims, origin):
            found.append(Slice(name, grid, position, (*_model(ds), *position.descriptor)))
    return found


def _values(ds, piece: Slice) -> tuple[np.ndarray, np.ndarray]:
    """(values with NaN where missing, missing) of a slice, on its grid."""
    data = ds.variables[piece.variable][piece.position.index]
    grid = np.ma.masked_invalid(np.ma.asarray(data, dtype=np.float32))
    if grid.shape != piece.grid.lat.shape:
        raise ShredError(f"{piece.variable}: {grid.shape} is not its grid's {piece.grid.lat.shape}")
    return grid.filled(np.nan), np.ma.getmaskarray(grid)


def _wanted(entries) -> dict[str, dict[tuple, inventory.IdxEntry]]:
    """{member: {(variable, parts without the member): entry}}"""
    found: dict[str, dict[tuple, inventory.IdxEntry]] = {}
    for entry in entries:
        extra = dict(part.split("=", 1) for part in entry.extra if "=" in part)
        parts = tuple(p for p in entry.extra if not p.startswith("member="))
        found.setdefault(extra.get("member", ""), {})[entry.variable, parts] = entry
    return found


def _chosen(raw: Path, entries) -> Iterator[tuple[object, Slice, inventory.IdxEntry, str]]:
    """(dataset, slice, its entry, origin) of every inventory entry."""
    wanted = _wanted(entries)
    for member, ds in _datasets(raw, str(raw)):
        if member not in wanted:
            continue
        origin = f"{raw} ({member})" if member else str(raw)
        by_key = wanted[member]
        found = 0
        for piece in slices(ds, origin):
            entry = by_key.get((piece.variable, piece.extra("")))
            if entry is not None:
                found += 1
                yield ds, piece, entry, origin
        if found != len(by_key):
            raise ShredError(f"{origin}: {len(by_key) - found} inventory field(s) not in the file")


class NetcdfCf(Format):
    name = "netcdf_cf"
    extension = "nc"
    media_types = (*NETCDF_MEDIA_TYPES, "application/zip")

    def inspect(self, path: Path, origin: str) -> Fetched:
        entries = []
        for member, ds in _datasets(path, origin):
            where = f"{origin} ({member})" if member else origin
            try:
                found = slices(ds, where)
            except ShredError as exc:
                raise FetchError(str(exc)) from None
            for name in dict.fromkeys(piece.variable for piece in found):
                ds.variables[name][:]  # read through once: a cut file fails here
            for piece in found:
                at = piece.position
                entries.append(
                    inventory.IdxEntry(
                        str(len(entries) + 1),
                        0,
                        f"d={at.when.ref:%Y%m%d%H}",
                        piece.variable,
                        at.level,
                        at.when.forecast,
                        piece.extra(member),
                    )
                )
        if not entries:
            raise FetchError(f"{origin}: no variable on a latitude/longitude grid")
        return Fetched(entries, len(entries), [(0, path.stat().st_size)])

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        from gridflow import rows

        for ds, piece, entry, origin in _chosen(raw, entries):
            try:
                values, missing = _values(ds, piece)
            except ShredError as exc:
                raise ShredError(f"{origin}: {entry.line()}: {exc}") from None
            keep = piece.grid.placed
            if options.bbox is not None:
                west, south, east, north = options.bbox
                lat, lon = piece.grid.lat, piece.grid.lon
                keep = keep & (lat >= south) & (lat <= north) & (lon >= west) & (lon <= east)
            at = piece.position
            field = (entry.variable, entry.level, entry.forecast, ":".join(piece.descriptor))
            table = rows.points(
                piece.grid.lat[keep], piece.grid.lon[keep], values[keep], missing[keep]
            )
            yield FieldRows(entry.line(), (*field, at.when.ref, at.when.step), table)

    def cells(self, raw: Path, entries, spec: dict) -> Iterator:
        from gridflow.geo import cells

        for ds, piece, entry, _ in _chosen(raw, entries):
            model = _model(ds)
            name = f"{entry.variable}:{model[0]}" if model else entry.variable
            if name not in spec["variables"] and entry.variable not in spec["variables"]:
                continue
            values, missing = _values(ds, piece)
            when = piece.position.when
            yield cells.grid_cells(
                np.nan_to_num(piece.grid.lat),
                np.nan_to_num(piece.grid.lon),
                values,
                ~missing & piece.grid.placed,
                when.ref + timedelta(minutes=when.step),
                name,
                cells.thresholds_for(name, entry.variable, spec["thresholds"]),
                spec.get("bbox"),
                spec.get("stride", 1),
            )


FORMAT = NetcdfCf
