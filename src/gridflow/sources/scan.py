"""Scans: one file per product per scan, every few minutes, found by listing upstream folders
and reading the scan time from each file name (never guessed). The base of MRMS and GOES."""

from __future__ import annotations

from datetime import datetime, timedelta

from gridflow.errors import UsageError
from gridflow.sources.base import Family
from gridflow.sources.targets import Lister, Target


class ScanFamily(Family):
    steps: list[str]  # a scan's steps are its products

    def listing_prefixes(self, step: str, start: datetime, end: datetime) -> list[str]:
        raise NotImplementedError

    def scan_time(self, step: str, key: str) -> datetime | None:
        """The scan time a listed key names, or None when it is not one of this step's files."""
        raise NotImplementedError

    def window(self, now: datetime, lister: Lister):
        start = now - timedelta(hours=self.src["window_hours"])
        return self.scans(start, now, lister), []

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        return self.scans(cycle, cycle, lister), []

    def scans(self, start: datetime, end: datetime, lister: Lister) -> list[Target]:
        """The published, settled scans of every product with a scan time in [start, end]."""
        if not lister.can_list:
            raise UsageError(
                f"{lister.remote.url}: scan sources need a location that can be listed "
                "(s3:// or file://)"
            )
        ready = set()  # a scan published twice (reprocessed) is one target
        for step in self.steps:
            for prefix in self.listing_prefixes(step, start, end):
                for key, info in lister.list(prefix).items():
                    scan = self.scan_time(step, key)
                    if scan and start <= scan <= end and lister.settled(info):
                        ready.add(Target(self.name, scan, step, scan))
        return sorted(ready, key=lambda t: (t.cycle, str(t.step)))
