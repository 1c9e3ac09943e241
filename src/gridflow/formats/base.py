"""What a format plug-in is: it owns a raw file's bytes, from the fetch-time check to the rows.

A format verifies what arrived before the fetch keeps it, writes the inventory of what it kept
(one line per field, wgrib2's layout, whatever the format), and decodes the raw file into
`gridflow.rows` tables. The fetch, the shred and the loads only ever talk to this interface.

A format is a class with a `name`, found by `gridflow.formats.registry()`: a module of this
package at any depth (`formats/geotiff.py`, `formats/grib/plugin.py`) that sets
`FORMAT = TheClass`, or another package's class registered under the `gridflow.formats` entry
point group. A family names it (`Family.format`, or a source's `format:`).

What a format implements, in the order a raw file meets it (who calls, in parentheses):

 1. `name`, `extension`, `table`: the raw file's extension is in its path (the workflow's
    `fmt` wildcard takes every registered extension); `table` is where its rows go.
 2. Fetch time (pipeline/fetch_bytes.py and jobs/outputs.py, one job per raw file):
    `fetch(remote, spec, tmp, upstream, family)` downloads and checks; the default downloads the
    whole object and calls `inspect(path, origin)`, or `inspect_output(path, origin, asked)`
    for a job's output (also called directly on the zip of a job's several outputs, each
    checked against `media_types`). A format that reads only part of an object (GRIB's ranged
    GET through the family's `parse_index`) overrides `fetch`. Any of them raises FetchError
    naming the URL: nothing is kept.
 3. Inventory: what `Fetched` returns is written by the fetch, `entries` as the raw file's
    `.idx` (gridflow.inventory lines) and `about` into the sidecar; a format chooses the
    entry fields, and reads them back in 4 and 5.
 4. Rows (pipeline/shred.py): `fields(raw, entries, options)` yields a FieldRows per entry,
    its table in the shape of `table.schema` (grids: `rows.points`, the shred adds the field
    index; gauges: `rows.gauge_table`), its identity unique in the file.
 5. Cells (pipeline/load.py, only for a source with `postgis.variables`): `cells(raw, entries,
    spec)`; the default refuses with CellsUnsupported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from gridflow import rows
from gridflow.errors import FetchError, GridflowError
from gridflow.formats import sniff
from gridflow.inventory import IdxEntry


@dataclass(frozen=True)
class Fetched:
    """What a format's fetch kept in the temporary raw file."""

    entries: list[IdxEntry]  # the kept file's inventory
    messages: int  # messages (GRIB) or variables (NetCDF) kept
    ranges: list[tuple[int, int]]  # upstream byte ranges read, [start, end)
    about: dict = field(default_factory=dict)  # what the file says of itself, for the sidecar


@dataclass(frozen=True)
class FieldRows:
    """Rows of one field (a field may come in several blocks, each a FieldRows)."""

    label: str  # names the field in errors: its inventory line
    identity: tuple  # (variable, level, forecast, descriptor, ref_time, step)
    table: pa.Table  # a grid's `rows.points` (the shred adds the field index); a gauge table
    # how the source packed the values, when it did (the first block's counts for the field);
    # the shred keeps the integers where every value of the field comes back exactly
    packing: rows.Packing | None = None


@dataclass(frozen=True)
class Asked:
    """What a job service was asked for (its family reads it from the request): it names and
    dates the service's outputs where they do not say so themselves."""

    variable: str | None = None  # the product's variable, e.g. `product/vertical_column`
    start: datetime | None = None  # the period asked for
    end: datetime | None = None


NETCDF_MEDIA_TYPES = ("application/netcdf", "application/x-netcdf")


def members(path: Path, origin: str) -> list[tuple[str, bytes | None]]:
    """The files a raw file holds: itself (`("", None)`), or the name and bytes of each member
    of a zip (the ADS's zip of several NetCDF files, a job's several outputs kept as one)."""
    import zipfile

    with open(path, "rb") as fh:
        if fh.read(2) != b"PK":
            return [("", None)]
    try:
        with zipfile.ZipFile(path) as archive:
            found = [(m.filename, archive.read(m)) for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"{origin}: a broken zip ({exc}); cut short?") from None
    return found


def netcdf_members(path: Path, origin: str, magic: tuple[bytes, ...], kind: str):
    """(zip member name or "", open netCDF4 dataset) of each file a raw file holds, each
    checked to start like `kind` (NetCDF, NetCDF4) before it is opened."""
    import netCDF4

    for name, data in members(path, origin):
        where = f"{origin} ({name})" if name else origin
        if data is None:
            with open(path, "rb") as fh:
                head = fh.read(64)
        else:
            head = data[:64]
        if not head.startswith(magic):
            raise FetchError(f"{where}: not a {kind} file: {sniff.looks_like(head)}")
        try:
            ds = netCDF4.Dataset(path) if data is None else netCDF4.Dataset(name, memory=data)
        except OSError as exc:
            raise FetchError(f"{where}: NetCDF cannot open it ({exc}); cut short?") from None
        with ds:
            yield name, ds


def download_whole(remote, spec, tmp: Path) -> None:
    """The whole object into `tmp` (its size is checked by the transport)."""
    with open(tmp, "wb") as fh:
        remote.download(spec.key, fh)


class Format:
    # (1) what the registry, the paths and the loads know of it
    name: ClassVar[str]  # as sources name it (`format:` of a family)
    table: ClassVar[rows.Table] = rows.GRID  # the table its rows go to
    extension: ClassVar[str]  # of the raw file under the data root
    # (2) checked against a job service's outputs
    media_types: ClassVar[tuple[str, ...]] = ()  # what a service may call it (empty: any)

    def fetch(self, remote, spec, tmp: Path, upstream, family) -> Fetched:
        """(2) Download `spec`'s object into `tmp`, verified; raise FetchError naming the URL.
        `upstream` is the object's HEAD (its size), `family` the source's family class."""
        download_whole(remote, spec, tmp)
        if spec.request is not None:
            return self.inspect_output(tmp, remote.where(spec.key), family.asked(spec.request))
        return self.inspect(tmp, remote.where(spec.key))

    def inspect(self, path: Path, origin: str) -> Fetched:
        """(2) Verify a whole file (or the zip of a job's several outputs) and list its fields:
        the `Fetched` whose entries become the inventory (3)."""
        raise FetchError(f"{origin}: {self.name} files cannot be checked as whole downloads")

    def inspect_output(self, path: Path, origin: str, asked: Asked | None) -> Fetched:
        """(2) `inspect` a job service's output: what it was `asked` for may name and date data
        that does not say so itself (a format whose files always do ignores it)."""
        return self.inspect(path, origin)

    def fields(self, raw: Path, entries: list[IdxEntry], options) -> Iterator[FieldRows]:
        """(4) Every inventory entry's rows; raise ShredError naming the file and the field.
        `options` is the source's gridflow.pipeline.shred.ShredOptions."""
        raise NotImplementedError

    def cells(self, raw: Path, entries: list[IdxEntry], spec: dict) -> Iterator:
        """(5) PostGIS cells of the chosen variables (gridflow.geo.cells.Cells); `spec` is the
        source's `postgis` block with the sink's thresholds."""
        raise CellsUnsupported(f"{raw}: {self.name} files cannot be loaded as PostGIS cells")


class CellsUnsupported(GridflowError):
    """A format that has no grid cells to give PostGIS."""
