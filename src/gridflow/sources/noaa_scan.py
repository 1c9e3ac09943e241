"""NOAA scans (MRMS radar mosaics): one file per product per scan, every few minutes, found by
listing day folders and reading the scan time from each file name (never guessed)."""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime, timedelta

from gridflow.sources.scan import ScanFamily

SCHEMA = {
    "properties": {
        "key": {
            "type": "string",
            "minLength": 1,
            "description": "key template with {product} and {scan:strftime} stamps",
        },
        "products": {
            "description": "MRMS product names as in their keys (PrecipRate_00.00)",
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "pattern": r"^[A-Za-z][A-Za-z0-9_.]*$"},
        },
    },
    "required": ["key", "products"],
}


class NoaaScan(ScanFamily):
    name = "noaa_scan"
    schema = SCHEMA
    defaults = {"anonymous": True, "select": "all", "window_hours": 1, "retention_hours": 24}

    def __init__(self, name: str, src: dict):
        super().__init__(name, src)
        self.steps = src["products"]

    def key(self, scan: datetime, product: str) -> str:
        return self.src["key"].format(scan=scan, product=product)

    def listing_prefixes(self, product: str, start: datetime, end: datetime) -> list[str]:
        day = start.replace(hour=0, minute=0, second=0, microsecond=0)
        prefixes = []
        while day <= end:
            prefixes.append(posixpath.dirname(self.key(day, product)))
            day += timedelta(days=1)
        return prefixes

    def scan_time(self, product: str, key: str) -> datetime | None:
        """The scan time in a file name (its last, finest stamp)."""
        parts = re.split(r"\{scan:([^}]*)\}", self.src["key"].replace("{product}", product))
        literals, formats = parts[0::2], parts[1::2]
        pattern = "".join(
            re.escape(lit) + (f"(?P<s{i}>.+?)" if i < len(formats) else "")
            for i, lit in enumerate(literals)
        )
        match = re.fullmatch(pattern, key)
        if not match or not formats:
            return None
        try:
            return datetime.strptime(match.group(f"s{len(formats) - 1}"), formats[-1]).replace(
                tzinfo=UTC
            )
        except ValueError:
            return None


FAMILY = NoaaScan
