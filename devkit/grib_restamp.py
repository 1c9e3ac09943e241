"""Re-date GRIB2 messages in place of their bytes (reference time and forecast hour).

Used only to build demo and test mirrors from real sample files: the values stay as published,
the dates move to the simulated clock. Works on multi-field messages, where re-encoding a field
with eccodes would lose its siblings.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def _sections(buf: bytearray, what: str):
    """(offset, number) of each section of a GRIB2 message after its indicator section."""
    if buf[:4] != b"GRIB" or buf[7] != 2:
        raise ValueError(f"{what} handles GRIB2 messages only")
    pos = 16
    while pos < len(buf) - 4:
        yield pos, buf[pos + 4]
        pos += int.from_bytes(buf[pos : pos + 4], "big")


def _put_time(buf: bytearray, at: int, when: datetime) -> None:
    buf[at : at + 2] = when.year.to_bytes(2, "big")
    buf[at + 2 : at + 7] = bytes([when.month, when.day, when.hour, when.minute, when.second])


def restamp(message: bytes, ref: datetime, step_hours: int) -> bytes:
    """A copy of one GRIB2 message dated `ref` + `step_hours` (hourly templates 4.0 and 4.8)."""
    buf = bytearray(message)
    for pos, section in _sections(buf, "restamp"):
        if section == 1:
            _put_time(buf, pos + 12, ref)
        elif section == 4:
            template = int.from_bytes(buf[pos + 7 : pos + 9], "big")
            hours = buf[pos + 17] == 1  # a lead of 0 is 0 in any unit (MRMS counts minutes)
            if template not in (0, 8) or (not hours and step_hours):
                raise ValueError(f"product template 4.{template} in non-hour units is not handled")
            start, span = step_hours, 0
            if template == 8:
                span = min(int.from_bytes(buf[pos + 49 : pos + 53], "big"), step_hours)
                start = step_hours - span
                buf[pos + 49 : pos + 53] = span.to_bytes(4, "big")
                _put_time(buf, pos + 34, ref + timedelta(hours=step_hours))
            buf[pos + 18 : pos + 22] = start.to_bytes(4, "big")
    return bytes(buf)


def reidentify(
    message: bytes,
    category: int,
    number: int,
    surface: tuple[int, int] | None = None,
) -> bytes:
    """A copy of one GRIB2 message filed as another parameter (section 4's category and number)
    and, with `surface` (type, value), at another first fixed surface: to stand one real field in
    for a field of the same grid that the samples do not hold (templates 4.0 and 4.8)."""
    buf = bytearray(message)
    for pos, section in _sections(buf, "reidentify"):
        if section == 4:
            template = int.from_bytes(buf[pos + 7 : pos + 9], "big")
            if template not in (0, 8):
                raise ValueError(f"product template 4.{template} is not handled")
            buf[pos + 9], buf[pos + 10] = category, number
            if surface is not None:
                buf[pos + 22], buf[pos + 23] = surface[0], 0
                buf[pos + 24 : pos + 28] = surface[1].to_bytes(4, "big")
                buf[pos + 28 : pos + 34] = bytes([255, 0, 0, 0, 0, 0])
    return bytes(buf)
