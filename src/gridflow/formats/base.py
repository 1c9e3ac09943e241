"""What a format plug-in is: it owns a raw file's bytes, from the fetch-time check to the rows.

A format verifies what arrived before the fetch keeps it, writes the inventory of what it kept
(one line per field, wgrib2's layout, whatever the format), and decodes the raw file into
`gridflow.rows` tables. The fetch, the shred and the loads only ever talk to this interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pyarrow as pa

from gridflow.errors import GridflowError
from gridflow.inventory import IdxEntry


@dataclass(frozen=True)
class Fetched:
    """What a format's fetch kept in the temporary raw file."""

    entries: list[IdxEntry]  # the kept file's inventory
    messages: int  # messages (GRIB) or variables (NetCDF) kept
    ranges: list[tuple[int, int]]  # upstream byte ranges read, [start, end)


@dataclass(frozen=True)
class FieldRows:
    """Rows of one field (a field may come in several blocks, each a FieldRows)."""

    label: str  # names the field in errors: its inventory line
    identity: tuple  # (variable, level, forecast, descriptor, ref_time, step)
    table: pa.Table


NETCDF_MEDIA_TYPES = ("application/netcdf", "application/x-netcdf")


def download_whole(remote, spec, tmp: Path) -> None:
    """The whole object into `tmp` (its size is checked by the transport)."""
    with open(tmp, "wb") as fh:
        remote.download(spec.key, fh)


class Format:
    name: ClassVar[str]  # as sources name it (`format:` of a family)
    extension: ClassVar[str]  # of the raw file under the data root
    media_types: ClassVar[tuple[str, ...]] = ()  # what a service may call it (empty: any)

    def fetch(self, remote, spec, tmp: Path, upstream, family) -> Fetched:
        """Download `spec`'s object into `tmp`, verified; raise FetchError naming the URL."""
        raise NotImplementedError

    def fields(
        self, raw: Path, entries: list[IdxEntry], meta: dict, options
    ) -> Iterator[FieldRows]:
        """Every inventory entry's rows; raise ShredError naming the file and the field."""
        raise NotImplementedError

    def cells(self, raw: Path, entries: list[IdxEntry], spec: dict) -> Iterator:
        """PostGIS cells of the chosen variables (gridflow.cells.Cells)."""
        raise CellsUnsupported(f"{raw}: {self.name} files cannot be loaded as PostGIS cells")


class CellsUnsupported(GridflowError):
    """A format that has no grid cells to give PostGIS."""
