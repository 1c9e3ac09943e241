"""What the rain-gauge formats share: a reader (gridflow.gauges) that checks the whole file at
fetch time, an inventory line per gauge, and rows for `gauge_observations`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from gridflow import inventory, rows
from gridflow.formats.base import Fetched, FieldRows, Format


class GaugeFormat(Format):
    table = rows.GAUGES

    def read(self, path: Path, origin: str):
        """(Readings, what the file says of itself for the sidecar)."""
        raise NotImplementedError

    def inspect(self, path: Path, origin: str) -> Fetched:
        readings, about = self.read(path, origin)
        entries = []
        for gauge in dict.fromkeys(readings.gauge):
            days = [d for g, d in zip(readings.gauge, readings.day, strict=True) if g == gauge]
            entries.append(
                inventory.IdxEntry(
                    str(len(entries) + 1),
                    0,
                    f"d={min(days):%Y%m%d}00",
                    "inches",
                    f"gauge {gauge}",
                    readings.kind,
                    (f"origin={readings.origin}", f"rows={len(days)}", f"last={max(days)}"),
                )
            )
        notes = {"footnotes": readings.footnotes, "warnings": readings.warnings}
        return Fetched(entries, len(entries), [(0, path.stat().st_size)], {**notes, **about})

    def fields(self, raw: Path, entries, options) -> Iterator[FieldRows]:
        readings, _ = self.read(raw, str(raw))
        table = rows.gauge_table(readings)
        first = min(readings.day) if len(readings) else None
        identity = ("inches", readings.origin, readings.kind, "", first, 0)
        yield FieldRows(f"{raw}: {len(readings)} readings", identity, table)
