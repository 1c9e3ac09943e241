"""What every source family is: it answers which targets exist for `now`, how each one's object
is found upstream, and what of it is kept. Formats do the bytes; families never touch them.

A family is a class with a `name`, found by `gridflow.sources.registry()`: a module of this
package (at any depth) that sets `FAMILY = TheClass`, or another package's class registered
under the `gridflow.families` entry point group. A source's YAML names it (`family:`).

What a family may set or override, in the order a run reaches it (who asks, in parentheses):

 1. `defaults`, `schema`: read when the configuration is loaded (config/loading.py): the
    defaults go under the source's YAML, then the source is checked against the keys every
    source has plus `schema`.
 2. `operating(fetch_cfg)`: where and how to fetch, once per source as the workflow starts
    (workflow/rules/common.smk, handed to jobs untracked) and for each plan's lister
    (pipeline/plan.py).
 3. `window(now, lister)`: the plan of a run, `gridflow plan` and `status` (pipeline/plan.py);
    `cycle(cycle, now, lister)`: one cycle asked for by name, a rebuild (plan.cycle_status).
 4. `steps`, `raw_format`/`format_of(step)`/`extension_of(step)`, `runs_jobs`: a target path's
    wildcards are checked against them (pipeline/wildcards.py) and the raw file is named by
    the extension (common.smk `raw_files`).
 5. `request(cycle, step)`: a job family's request, the job rule's input (common.smk
    `job_request`); `service(operating)`: its job service (cli/steps.py, job submit and wait;
    and the plan, for a job still running upstream: sources/job_service.py).
 6. `fetch_spec(cycle, step, raw_key)`, built from `locate`, `key`, `idx_key`, `select` and
    `format_of`: the fetch rule's tracked input (common.smk `fetch_spec`).
 7. In the fetch job, on the class, not an instance (pipeline/fetch_job.py,
    pipeline/fetch_bytes.py, jobs/outputs.py): so static methods that read only their
    arguments. `parse_index(text, size, origin)` (the GRIB format's ranged fetch),
    `asset_headers(operating)` and `asked(request)` (a job's outputs).
 8. `shred_options(step)`: the shred rule's options (common.smk `shred_options`).
 9. Outside a run: `backfill_cycles(first, last)` (`gridflow backfill`, ops/backfill.py);
    `raw_format` tells gauge sources from grids (ops/backfill.py, query/options.py).

The shared bases fill in most of this: a forecast schedule (gridflow.sources.forecast), scans
found by listing (gridflow.sources.scan), jobs on a service (gridflow.sources.job_service).
A family built on `Family` alone implements `window`, `cycle` and `key`, and has a `steps`
list of names (its products). Forecast-hour steps (`f003`) and fixed cycle hours are
ForecastFamily's: pipeline/wildcards.py checks a path by that class.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from gridflow import formats, inventory
from gridflow.errors import UsageError
from gridflow.sources.targets import Lister, Target

SHRED_KEYS = ("missing_values", "bbox", "stride")


class Family:
    name: ClassVar[str]  # what a source's `family:` says
    format: ClassVar[str] = "grib2"  # its raw files' format plug-in (a source may say `format:`)
    # (1) the family's default settings, under the source's YAML (config/loading.py)
    defaults: ClassVar[dict] = {}
    # (1) JSON Schema of the family's own keys, merged with the keys every source has
    schema: ClassVar[dict] = {"properties": {}, "required": []}
    # True: each target is made by a job on an asynchronous service (gridflow.jobs.resumable), and
    # the family has `request(cycle, step)` and `service(operating)`
    runs_jobs: ClassVar[bool] = False

    def __init__(self, name: str, src: dict):
        """One configured source (`gridflow.sources.source`): `src` is its resolved settings,
        defaults and YAML merged and validated."""
        self.name = name
        self.src = src

    @property
    def raw_format(self) -> str:
        """(4) The format plug-in of this source's raw files (its YAML's `format:`, or the
        family's)."""
        return self.src.get("format", self.format)

    def format_of(self, step) -> str:
        """(4, 6) The format of one step's raw file (a family whose steps differ says so)."""
        return self.raw_format

    def extension_of(self, step) -> str:
        """(4) The raw file's extension (the `fmt` of its path): its format's."""
        return formats.registry()[self.format_of(step)].extension

    # -- targets -------------------------------------------------------------------------------
    def window(self, now: datetime, lister: Lister) -> tuple[list[Target], list[Target]]:
        """(3) (ready, waiting) targets in the catch-up window ending at `now`, looking upstream
        only through `lister`; a target is waiting with a `why` (not due, late, being written)."""
        raise NotImplementedError

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        """(3) (ready, waiting) of one cycle (or scan), for a rebuild asked for by name."""
        raise NotImplementedError

    # -- one target's object -------------------------------------------------------------------
    def locate(self, cycle: datetime, step) -> dict:
        """(6) How the fetch finds the object, FetchSpec fields: `key`; or a folder `key` and
        a `name_pattern` (GOES); or an empty key and the job's `request` (job families)."""
        return {"key": self.key(cycle, step)}

    def key(self, cycle: datetime, step) -> str:
        """(6) The object's key relative to the source's `url`."""
        raise NotImplementedError

    def idx_key(self, cycle: datetime, step) -> str | None:
        """(6) The key of upstream's index of the object, read at fetch time by `parse_index`."""
        return None  # no index upstream: the whole object is fetched, its inventory built here

    def select(self, step) -> list[str] | str:
        """(6) Which fields to keep: search strings matched against index lines, or "all"."""
        return self.src.get("select", "all")

    @staticmethod
    def parse_index(text: str, size: int, origin: str) -> list[inventory.Message]:
        """(7) Upstream's index (the text at `idx_key`) as whole messages with searchable
        entries, checked against the object's `size`: wgrib2's `.idx` by default."""
        return inventory.messages(inventory.parse(text, origin), size, origin)

    def fetch_spec(self, cycle: datetime, step, raw_key: str) -> dict:
        """(6) What decides the bytes of one raw file (gridflow.pipeline.fetch_job.FetchSpec as a
        dict); Snakemake tracks it, so a change refetches. Override the parts, not this."""
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
        """(2) Where and how to fetch (gridflow.pipeline.fetch_job.Operating as a dict): never
        tracked, so a new mirror or timeout refetches nothing. A family adds what its jobs
        need (a service's URL, its waits); jobs read it back with config.operating."""
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
        """(9) The cycles from `first` to `last` (`gridflow backfill`): the hours of `cycles`."""
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
        """(7) Headers a job's outputs are downloaded with (a family whose service wants its token
        on downloads says so); None for the plain, anonymous GETs most stores take."""
        return None

    @staticmethod
    def asked(request: dict):
        """(7) What a job's `request` asked for (gridflow.formats.base.Asked), which names and dates
        its outputs where they do not; None when the request says nothing a format can use."""
        return None

    def shred_options(self, step) -> dict:
        """(8) The shred's options for one step (gridflow.pipeline.shred.ShredOptions keys):
        which points are kept, which values are missing."""
        return {k: self.src[k] for k in SHRED_KEYS if k in self.src}
