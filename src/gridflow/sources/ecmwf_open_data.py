"""ECMWF open data (IFS and AIFS forecasts, 0.25 degree): one GRIB2 file per cycle and step,
with a JSON-lines `.index` beside it giving each field's `_offset` and `_length`, so only the
selected fields are fetched, by ranged GET, as for NOAA's `.idx`.

Selection strings match each index line as `:d=YYYYMMDDHH:<param>:<levtype>[ <levelist>]:
step=<step>:type=<type>:stream=<stream>:`, ECMWF's own words (`:2t:sfc:`, `:(10u|10v):`); the
inventory kept beside the raw file is read from the fetched bytes, as for every GRIB source.
"""

from __future__ import annotations

import json
from datetime import datetime

from gridflow import inventory
from gridflow.sources.forecast import ForecastFamily


def _entry(number: int, field: dict) -> inventory.IdxEntry:
    level = field.get("levtype", "?")
    if field.get("levelist"):
        level += f" {field['levelist']}"
    return inventory.IdxEntry(
        str(number),
        int(field["_offset"]),
        f"d={field.get('date', '')}{str(field.get('time', ''))[:2]}",
        field.get("param", "?"),
        level,
        f"step={field.get('step', '?')}",
        (f"type={field.get('type', '?')}", f"stream={field.get('stream', '?')}"),
    )


class EcmwfOpenData(ForecastFamily):
    name = "ecmwf_open_data"
    defaults = {"anonymous": True, "publish_minutes_per_step": 0, "select": "all"}

    def idx_key(self, cycle: datetime, step: int) -> str:
        key = self.key(cycle, step)
        return key.rsplit(".", 1)[0] + ".index"

    @staticmethod
    def parse_index(text: str, size: int, origin: str) -> list[inventory.Message]:
        """One message per JSON line, where `_offset` and `_length` say; messages must lie
        inside the object and not overlap."""
        fields = []
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                field = json.loads(line)
                start, length = int(field["_offset"]), int(field["_length"])
            except (ValueError, KeyError, TypeError) as exc:
                raise inventory.InventoryError(
                    f"{origin}: line {lineno} is not an index line with _offset and _length "
                    f"({exc}): {line[:120]!r}"
                ) from None
            fields.append((start, length, field))
        if not fields:
            raise inventory.InventoryError(f"{origin}: the index is empty")
        messages, end = [], 0
        for n, (start, length, field) in enumerate(sorted(fields, key=lambda f: f[0]), 1):
            if start < end or length <= 0 or start + length > size:
                raise inventory.InventoryError(
                    f"{origin}: the field at offset {start} ({length} bytes) overlaps another "
                    f"or overruns the object of {size} bytes"
                )
            end = start + length
            messages.append(inventory.Message(start, end, (_entry(n, field),)))
        return messages


FAMILY = EcmwfOpenData
