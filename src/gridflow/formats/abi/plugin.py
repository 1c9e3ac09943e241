"""GOES-R ABI Level-2 NetCDF: the whole object, read through once at fetch time; each selected
variable (`:VARIABLE:LEVEL:`) becomes one field on the pixels of the Earth's disk, missing where
not valid (see `gridflow.formats.abi.read` for what valid means)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gridflow import inventory
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import NETCDF_MEDIA_TYPES, Fetched, FieldRows, Format, download_whole


class AbiNetcdf(Format):
    name = "abi_netcdf"
    extension = "nc"
    media_types = NETCDF_MEDIA_TYPES

    def fetch(self, remote, spec, tmp: Path, upstream, family) -> Fetched:
        from gridflow.formats.abi import read as abi_read

        download_whole(remote, spec, tmp)
        wanted = [s.strip(":").split(":", 1) for s in spec.select]
        try:
            start = abi_read.verify(tmp, [w[0] for w in wanted], remote.where(spec.key))
        except abi_read.AbiError as exc:
            raise FetchError(str(exc)) from None
        entries = [
            inventory.IdxEntry(str(n), 0, f"d={start:%Y%m%d%H}", var, level, "anl")
            for n, (var, level) in enumerate(wanted, start=1)
        ]
        return Fetched(entries, len(entries), [(0, tmp.stat().st_size)])

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        from gridflow import rows
        from gridflow.formats.abi import read as abi_read

        try:
            with abi_read.open_abi(raw, str(raw)) as ds:
                ref = abi_read.scan_start(ds, str(raw))
                for entry in entries:
                    field = (entry.variable, entry.level, entry.forecast, "")
                    for px in abi_read.disk_pixels(
                        ds, entry.variable, str(raw), options.stride, options.bbox, options.dqf_keep
                    ):
                        table = rows.points(px.lat, px.lon, px.value, px.missing)
                        yield FieldRows(entry.line(), (*field, ref, 0), table, px.packing)
        except abi_read.AbiError as exc:
            raise ShredError(str(exc)) from None


FORMAT = AbiNetcdf
