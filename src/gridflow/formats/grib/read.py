"""Walk a GRIB file field by field with eccodes, multi-field messages included.

Older NCEP files pack several fields into one message (UGRD and VGRD together); eccodes returns
only the first of them unless multi-field support is on, so it is always on here.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import eccodes

from gridflow.errors import GridflowError
from gridflow.formats.grib.descriptors import descriptors
from gridflow.formats.grib.frames import frames
from gridflow.formats.grib.names import field_names
from gridflow.inventory import IdxEntry


@contextmanager
def _handle(fh):
    h = eccodes.codes_grib_new_from_file(fh)
    try:
        yield h
    finally:
        if h is not None:
            eccodes.codes_release(h)


def iter_fields(path: Path) -> Iterator[tuple[int, object]]:
    """(message offset, eccodes handle) for every field; the handle is released after use."""
    eccodes.codes_grib_multi_support_on()
    with open(path, "rb") as fh:
        eccodes.codes_grib_multi_support_reset_file(fh)
        while True:
            with _handle(fh) as h:
                if h is None:
                    return
                yield eccodes.codes_get(h, "offset", int), h


class InventoryMismatch(GridflowError, ValueError):
    """A GRIB file whose fields are not the ones its inventory lists."""


def named_fields(raw: Path, idx_entries: list[IdxEntry], origin: str) -> Iterator[tuple]:
    """(inventory entry, eccodes handle) for every field, checked against the inventory:
    every listed field must be decoded and nothing unlisted may appear."""
    expected: dict[int, list[IdxEntry]] = {}
    for entry in idx_entries:
        expected.setdefault(entry.offset, []).append(entry)
    seen: dict[int, int] = {}
    for offset, handle in iter_fields(raw):
        listed = expected.get(offset, [])
        k = seen.get(offset, 0)
        if k >= len(listed):
            raise InventoryMismatch(
                f"{raw}: field {k + 1} of the message at offset {offset} is not in {origin}"
            )
        seen[offset] = k + 1
        yield listed[k], handle
    missing = [e.line() for off, listed in expected.items() for e in listed[seen.get(off, 0) :]]
    if missing:
        raise InventoryMismatch(f"{raw}: fields listed in {origin} were not decoded: {missing}")


def ref_date(handle) -> str:
    date = eccodes.codes_get(handle, "dataDate", int)
    time = eccodes.codes_get(handle, "dataTime", int)
    return f"d={date:08d}{time // 100:02d}"


def build_inventory(path: Path) -> list[IdxEntry]:
    """A wgrib2-style inventory of a whole GRIB file (for sources that publish no `.idx`)."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        message_offsets = [f.offset for f in frames(buf, str(path))]
    numbers = {offset: n for n, offset in enumerate(message_offsets, start=1)}
    per_message: dict[int, list[tuple]] = {}
    for offset, h in iter_fields(path):
        per_message.setdefault(offset, []).append((ref_date(h), *field_names(h), descriptors(h)))
    entries = []
    for offset in message_offsets:
        fields = per_message.get(offset, [])
        for k, (date, var, level, fcst, extra) in enumerate(fields, start=1):
            number = f"{numbers[offset]}.{k}" if len(fields) > 1 else str(numbers[offset])
            entries.append(IdxEntry(number, offset, date, var, level, fcst, extra))
    return entries
