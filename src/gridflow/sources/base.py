"""What every source family is: it answers which targets exist for `now`, how each one's object
is found upstream, and what of it is kept. Formats do the bytes; families never touch them.

A family also carries its configuration: `defaults` (the one place its default settings live;
a source's YAML holds only what differs) and `schema` (JSON Schema of its own keys, checked
with the keys every source has).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from gridflow import formats, inventory
from gridflow.errors import UsageError
from gridflow.sources.targets import Lister, Target

SHRED_KEYS = ("missing_values", "bbox", "stride")


class Family:
    name: ClassVar[str]
    format: ClassVar[str] = "grib2"
    defaults: ClassVar[dict] = {}
    schema: ClassVar[dict] = {"properties": {}, "required": []}
    # True: each target is made by a job on an asynchronous service (gridflow.jobs.resumable), and
    # the family has `request(cycle, step)` and `service(operating)`
    runs_jobs: ClassVar[bool] = False

    def __init__(self, name: str, src: dict):
        self.name = name
        self.src = src

    @property
    def raw_format(self) -> str:
        """The format plug-in of this source's raw files."""
        return self.src.get("format", self.format)

    def format_of(self, step) -> str:
        """The format of one step's raw file (a family whose steps differ says so)."""
        return self.raw_format

    def extension_of(self, step) -> str:
        return formats.registry()[self.format_of(step)].extension

    # -- targets -------------------------------------------------------------------------------
    def window(self, now: datetime, lister: Lister) -> tuple[list[Target], list[Target]]:
        """(ready, waiting) in the catch-up window ending at `now`."""
        raise NotImplementedError

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        """(ready, waiting) of one cycle (or scan), for a rebuild asked for by name."""
        raise NotImplementedError

    # -- one target's object -------------------------------------------------------------------
    def locate(self, cycle: datetime, step) -> dict:
        """How the fetch finds the object: its key, or a folder and a name pattern."""
        return {"key": self.key(cycle, step)}

    def key(self, cycle: datetime, step) -> str:
        raise NotImplementedError

    def idx_key(self, cycle: datetime, step) -> str | None:
        return None  # no index upstream: the whole object is fetched, its inventory built here

    def select(self, step) -> list[str] | str:
        return self.src.get("select", "all")

    @staticmethod
    def parse_index(text: str, size: int, origin: str) -> list[inventory.Message]:
        """Upstream's index as whole messages with searchable entries (wgrib2's `.idx`)."""
        return inventory.messages(inventory.parse(text, origin), size, origin)

    def fetch_spec(self, cycle: datetime, step, raw_key: str) -> dict:
        """What decides the bytes of one raw file (gridflow.pipeline.fetch.FetchSpec as a dict)."""
        return {
            "source": self.name,
            "family": self.src["family"],
            "format": self.format_of(step),
            **self.locate(cycle, step),
            "idx_key": self.idx_key(cycle, step),
            "raw_key": raw_key,
            "select": self.select(step),
        }

    def operating(self, fetch_cfg: dict) -> dict:
        """Where and how to fetch (gridflow.pipeline.fetch.Operating as a dict): never tracked."""
        return {
            "url": self.src["url"],
            "settings": {
                "timeout_seconds": fetch_cfg.get("timeout_seconds", 60),
                "max_retries": fetch_cfg.get("max_retries", 5),
                "anonymous": self.src.get("anonymous", True),
                "min_interval_seconds": fetch_cfg.get("min_interval_seconds", 0.0),
                "breaker_failures": fetch_cfg.get("breaker_failures", 8),
                "breaker_cooldown_seconds": fetch_cfg.get("breaker_cooldown_seconds", 300.0),
            },
        }

    def backfill_cycles(self, first: datetime, last: datetime) -> list[datetime]:
        """The cycles from `first` to `last` (`gridflow backfill`): the hours of `cycles`."""
        hours = self.src.get("cycles")
        if not hours:
            raise UsageError(f"{self.name}: a {self.src['family']} source has no fixed cycles")
        found, hour = [], first.replace(minute=0, second=0, microsecond=0)
        while hour <= last:
            if hour.hour in hours:
                found.append(hour)
            hour += timedelta(hours=1)
        return found

    @staticmethod
    def asset_headers(operating: dict) -> dict | None:
        """Headers a job's outputs are downloaded with (a family whose service wants its token
        on downloads says so); None for the plain, anonymous GETs most stores take."""
        return None

    @staticmethod
    def asked(request: dict):
        """What a job's `request` asked for (gridflow.formats.base.Asked), which names and dates
        its outputs where they do not; None when the request says nothing a format can use."""
        return None

    def shred_options(self, step) -> dict:
        """The shred's options for one step: which points are kept, which values are missing."""
        return {k: self.src[k] for k in SHRED_KEYS if k in self.src}
