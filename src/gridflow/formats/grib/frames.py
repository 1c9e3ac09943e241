"""Check that bytes are whole GRIB messages, back to back, before anything is kept.

A message starts with `GRIB`, declares its length in section 0 and ends with `7777`. NUL bytes
between messages are padding some producers add (ECMWF's GRIB1 archives); any other byte is a
cut or misaligned file.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridflow.errors import GridflowError
from gridflow.formats import sniff


class FramingError(GridflowError, ValueError):
    """Bytes that are not a sequence of whole GRIB messages."""


@dataclass(frozen=True)
class Frame:
    offset: int
    length: int
    edition: int


def _declared_length(buf: bytes | memoryview, pos: int, origin: str) -> tuple[int, int]:
    if len(buf) - pos < 16:
        raise FramingError(f"{origin}: message at offset {pos} is cut short inside its header")
    edition = buf[pos + 7]
    if edition == 2:
        return int.from_bytes(buf[pos + 8 : pos + 16], "big"), 2
    if edition == 1:
        return int.from_bytes(buf[pos + 4 : pos + 7], "big"), 1
    raise FramingError(f"{origin}: message at offset {pos} has unknown GRIB edition {edition}")


def frames(buf: bytes | memoryview, origin: str = "<bytes>") -> list[Frame]:
    """Every message in `buf`; raises naming the offset of the first fault."""
    found: list[Frame] = []
    pos, size = 0, len(buf)
    while pos < size:
        if buf[pos] == 0:
            pos += 1
            continue
        if bytes(buf[pos : pos + 4]) != b"GRIB":
            if pos == 0:
                head = bytes(buf[:64])
                raise FramingError(f"{origin}: not GRIB: {sniff.looks_like(head)} at offset 0")
            raise FramingError(
                f"{origin}: stray bytes at offset {pos} where a GRIB message should start "
                f"(found {bytes(buf[pos : pos + 4])!r})"
            )
        length, edition = _declared_length(buf, pos, origin)
        if pos + length > size:
            raise FramingError(
                f"{origin}: message at offset {pos} declares {length} bytes but only "
                f"{size - pos} remain: the file is truncated"
            )
        if bytes(buf[pos + length - 4 : pos + length]) != b"7777":
            raise FramingError(
                f"{origin}: message at offset {pos} (length {length}) does not end with '7777'"
            )
        found.append(Frame(pos, length, edition))
        pos += length
    if not found:
        raise FramingError(f"{origin}: no GRIB message found")
    return found
