"""GRIB2 (and GRIB1) files: ranged fetch of selected messages through an upstream index, or the
whole object (unpacked when it travels gzipped); every message framed and checked before it is
kept; decoded by eccodes field by field, every grid point a row (missing points NULL).
"""

from __future__ import annotations

import gzip
import mmap
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path

from gridflow import inventory
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import Fetched, FieldRows, Format
from gridflow.formats.grib.frames import FramingError, frames


def _check_range(data: bytes, start: int, chosen: list, origin: str) -> None:
    """The bytes of one merged range must be exactly the planned messages, back to back."""
    planned = [(m.start - start, m.size) for m in chosen if start <= m.start < start + len(data)]
    try:
        found = [(f.offset, f.length) for f in frames(data, origin)]
    except FramingError as exc:
        raise FetchError(
            f"{exc}; the index does not match the GRIB (stale or wrong index)"
        ) from exc
    if found != planned:
        raise FetchError(
            f"{origin}: the index promised messages {planned} (offset, length) in this range but "
            f"the bytes hold {found}; the index does not match the GRIB (stale or wrong index)"
        )


def _gunzip(packed: Path, out: Path, origin: str) -> None:
    """The GRIB inside a .gz object; a stream cut short or corrupt is an error naming it."""
    try:
        with gzip.open(packed, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (EOFError, OSError, zlib.error) as exc:
        raise FetchError(f"{origin}: the gzip stream is cut short or corrupt ({exc})") from None


def _own_inventory(path: Path, origin: str) -> list[inventory.IdxEntry]:
    """The inventory of the kept bytes, read by eccodes (names and descriptors as gridflow
    writes them whatever index upstream publishes)."""
    from gridflow.formats.grib.read import build_inventory

    try:
        return build_inventory(path)
    except FramingError as exc:
        raise FetchError(str(exc).replace(str(path), origin)) from exc


def _keep_only(path: Path, chosen: list) -> None:
    """Rewrite `path` with only the chosen messages, in upstream order."""
    picked = path.with_name(path.name + ".picked")
    try:
        with (
            open(path, "rb") as fh,
            mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as whole,
            open(picked, "wb") as out,
        ):
            for m in chosen:
                out.write(whole[m.start : m.end])
        picked.replace(path)
    finally:
        picked.unlink(missing_ok=True)


class Grib2(Format):
    name = "grib2"
    extension = "grib2"
    media_types = ("application/x-grib", "application/grib", "application/x-grib2")

    def fetch(self, remote, spec, tmp: Path, upstream, family) -> Fetched:
        if spec.idx_key:
            return self._fetch_ranges(remote, spec, tmp, upstream, family)
        return self._fetch_whole(remote, spec, tmp)

    def _fetch_ranges(self, remote, spec, tmp, upstream, family) -> Fetched:
        text, _ = remote.get_text(spec.idx_key)
        origin = remote.where(spec.idx_key)
        try:
            msgs = family.parse_index(text, upstream.size, origin)
        except inventory.InventoryError as exc:
            raise FetchError(str(exc)) from exc
        chosen = inventory.select(msgs, spec.select)
        if not chosen:
            raise FetchError(f"{origin}: no message matches the selection {spec.select}")
        ranges = inventory.merge_ranges(chosen)
        with open(tmp, "wb") as fh:
            for start, end in ranges:
                data = remote.get_range(spec.key, start, end, upstream.etag)
                where = f"{remote.where(spec.key)} bytes {start}-{end - 1}"
                _check_range(data, start, chosen, where)
                fh.write(data)
        return Fetched(_own_inventory(tmp, remote.where(spec.key)), len(chosen), ranges)

    def _fetch_whole(self, remote, spec, tmp) -> Fetched:
        # gzip is how the object travels (MRMS); the raw file kept is the GRIB it carries
        download = tmp.with_name(tmp.name + ".gz") if spec.key.endswith(".gz") else tmp
        origin = remote.where(spec.key)
        try:
            with open(download, "wb") as fh:
                remote.download(spec.key, fh)
            if download != tmp:
                _gunzip(download, tmp, origin)
        finally:
            if download != tmp:
                download.unlink(missing_ok=True)
        entries = _own_inventory(tmp, origin)
        msgs = inventory.messages(entries, tmp.stat().st_size, origin)
        chosen = inventory.select(msgs, spec.select)
        if not chosen:
            raise FetchError(f"{origin}: no message matches the selection {spec.select}")
        if len(chosen) != len(msgs):
            _keep_only(tmp, chosen)
        return Fetched(inventory.relocate(chosen), len(chosen), inventory.merge_ranges(chosen))

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        import eccodes

        from gridflow.formats.grib.decode import decode_field
        from gridflow.formats.grib.read import named_fields

        try:
            for entry, handle in named_fields(raw, entries, f"{raw}.idx"):
                try:
                    field = decode_field(handle, entry, options)
                except (eccodes.CodesInternalError, OverflowError, ValueError) as exc:
                    raise ShredError(f"{raw}: field {entry.line()}: {exc}") from None
                yield FieldRows(entry.line(), field.identity, field.table, field.packing)
        except eccodes.CodesInternalError as exc:
            raise ShredError(f"{raw}: eccodes cannot read the file: {exc}") from None

    def cells(self, raw: Path, entries, spec: dict) -> Iterator:
        from gridflow.formats.grib import cells

        return cells.file_cells(
            raw,
            entries,
            spec["variables"],
            spec["thresholds"],
            spec.get("bbox"),
            spec.get("stride", 1),
        )


FORMAT = Grib2
