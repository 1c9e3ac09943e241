"""wgrib2-style inventories (`.idx`): parse, select by search string, plan byte ranges, write.

An inventory line is `N[.M]:OFFSET:d=YYYYMMDDHH:VAR:LEVEL:FORECAST:[more:]`. Entries that share
an offset (`5.1`, `5.2`) are fields packed into one GRIB message; a message always travels whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from gridflow.errors import GridflowError


class InventoryError(GridflowError, ValueError):
    """An inventory that cannot be parsed or does not fit the file it describes."""


@dataclass(frozen=True)
class IdxEntry:
    number: str  # "12" or "12.2" for the second field of message 12
    offset: int
    date: str  # "d=2025031206"
    variable: str
    level: str
    forecast: str
    extra: tuple[str, ...] = ()

    @property
    def search_text(self) -> str:
        """What a search string is matched against: the line without its number and offset."""
        return (
            ":" + ":".join((self.date, self.variable, self.level, self.forecast, *self.extra)) + ":"
        )

    def line(self) -> str:
        return f"{self.number}:{self.offset}{self.search_text}"


@dataclass(frozen=True)
class Message:
    """One whole GRIB message: its byte range and the inventory entries (fields) inside it."""

    start: int
    end: int  # exclusive
    entries: tuple[IdxEntry, ...]

    @property
    def size(self) -> int:
        return self.end - self.start


def parse(text: str, origin: str = "<idx>") -> list[IdxEntry]:
    entries: list[IdxEntry] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        parts = line.split(":")
        if len(parts) < 6 or not re.fullmatch(r"\d+(\.\d+)?", parts[0]) or not parts[1].isdigit():
            raise InventoryError(f"{origin}: line {lineno} is not a wgrib2 inventory line: {raw!r}")
        fields = parts[2:]
        if fields and fields[-1] == "":
            fields = fields[:-1]
        if len(fields) < 4:
            raise InventoryError(f"{origin}: line {lineno} has too few fields: {raw!r}")
        entries.append(
            IdxEntry(
                parts[0],
                int(parts[1]),
                fields[0],
                fields[1],
                fields[2],
                fields[3],
                tuple(fields[4:]),
            )
        )
    if not entries:
        raise InventoryError(f"{origin}: the inventory is empty")
    offsets = [e.offset for e in entries]
    if offsets != sorted(offsets):
        raise InventoryError(f"{origin}: offsets are not in ascending order")
    return entries


def format_lines(entries: Iterable[IdxEntry]) -> str:
    return "".join(e.line() + "\n" for e in entries)


def messages(entries: Sequence[IdxEntry], file_size: int, origin: str = "<idx>") -> list[Message]:
    """Group entries into whole messages; a message ends where the next one starts."""
    groups: list[list[IdxEntry]] = []
    for entry in entries:
        if groups and groups[-1][0].offset == entry.offset:
            groups[-1].append(entry)
        else:
            groups.append([entry])
    result = []
    for i, group in enumerate(groups):
        end = groups[i + 1][0].offset if i + 1 < len(groups) else file_size
        if end <= group[0].offset:
            raise InventoryError(
                f"{origin}: message at offset {group[0].offset} ends at {end}; "
                f"the inventory does not fit a file of {file_size} bytes (stale or wrong index)"
            )
        result.append(Message(group[0].offset, end, tuple(group)))
    return result


def select(msgs: Sequence[Message], patterns: Sequence[str] | str) -> list[Message]:
    """Messages with at least one field matching any pattern (regular expressions);
    `"all"` takes every message."""
    if patterns == "all":
        return list(msgs)
    compiled = [re.compile(p) for p in patterns]
    return [m for m in msgs if any(c.search(e.search_text) for e in m.entries for c in compiled)]


def merge_ranges(msgs: Sequence[Message]) -> list[tuple[int, int]]:
    """Byte ranges to request: adjacent messages become one range."""
    ranges: list[tuple[int, int]] = []
    for m in sorted(msgs, key=lambda m: m.start):
        if ranges and ranges[-1][1] == m.start:
            ranges[-1] = (ranges[-1][0], m.end)
        else:
            ranges.append((m.start, m.end))
    return ranges


def relocate(msgs: Sequence[Message]) -> list[IdxEntry]:
    """Entries renumbered and re-offset for a file holding exactly these messages in order."""
    out: list[IdxEntry] = []
    position = 0
    for n, m in enumerate(msgs, start=1):
        for k, entry in enumerate(m.entries, start=1):
            number = f"{n}.{k}" if len(m.entries) > 1 else str(n)
            out.append(replace(entry, number=number, offset=position))
        position += m.size
    return out
