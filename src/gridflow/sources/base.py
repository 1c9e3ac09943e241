"""What every source family shares: its raw format, how its files are fetched and shredded."""

from __future__ import annotations

from datetime import datetime

from gridflow.transport import Settings

SHRED_KEYS = ("missing_values", "bbox", "stride")


class Source:
    raw_format = "grib2"  # the raw file's extension under the data root
    scans = False  # True: cycles are scan times found by listing, not a forecast schedule

    def __init__(self, name: str, src: dict):
        self.name = name
        self.src = src

    def idx_key(self, cycle: datetime, step) -> str | None:
        return None  # no inventory upstream: the whole file is fetched, its inventory built here

    def select(self, step) -> list[str] | str:
        return self.src.get("select", "all")

    def locate(self, cycle: datetime, step) -> dict:
        """How the fetch finds the object: its key, or a folder and a name pattern."""
        return {"key": self.key(cycle, step)}

    def fetch_spec(self, cycle: datetime, step, raw_key: str, fetch_cfg: dict) -> dict:
        """What `gridflow fetch` needs for one raw file (gridflow.fetch.FetchSpec as a dict)."""
        settings = Settings(
            timeout_seconds=fetch_cfg.get("timeout_seconds", 60),
            max_retries=fetch_cfg.get("max_retries", 5),
            anonymous=self.src.get("anonymous", True),
        )
        return {
            "source": self.name,
            "url": self.src["url"],
            **self.locate(cycle, step),
            "idx_key": self.idx_key(cycle, step),
            "raw_key": raw_key,
            "select": self.select(step),
            "raw_format": self.raw_format,
            "settings": settings.__dict__,
        }

    def shred_options(self, step) -> dict:
        """The shred's options for one step: which points are kept, which values are missing."""
        return {k: self.src[k] for k in SHRED_KEYS if k in self.src}
