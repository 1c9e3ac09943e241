"""What every source family shares: its raw format, how its files are fetched and shredded."""

from __future__ import annotations

from gridflow.transport import Settings

SHRED_KEYS = ("missing_values", "bbox", "stride")


class Source:
    raw_format = "grib2"  # the raw file's extension under the data root
    scans = False  # True: cycles are scan times found by listing, not a forecast schedule

    def __init__(self, name: str, src: dict):
        self.name = name
        self.src = src

    def settings(self, fetch_cfg: dict) -> dict:
        return Settings(
            timeout_seconds=fetch_cfg.get("timeout_seconds", 60),
            max_retries=fetch_cfg.get("max_retries", 5),
            anonymous=self.src.get("anonymous", True),
        ).__dict__

    def shred_options(self, step) -> dict:
        """The shred's options for one step: which points are kept, which values are missing."""
        return {k: self.src[k] for k in SHRED_KEYS if k in self.src}
