"""CAMS air quality from the Copernicus Atmosphere Data Store (ADS): one request per cycle and
product type (forecast, analysis), run as a job on the ADS (gridflow.jobs, gridflow.ads), its
GRIB result downloaded, checked against the advertised size and type, and decoded like any
GRIB file: every constituent a field of its own (`chemical=...` descriptors).

A cycle is due a publication delay after its run; a job submitted earlier and still queued or
running upstream is reported as waiting ("running upstream since ...") and polled again by the
next run, never submitted twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from gridflow import jobs, paths, schedule
from gridflow.errors import GridflowError
from gridflow.sources.base import Family
from gridflow.sources.forecast import HOURS
from gridflow.targets import Lister, Target

# what the ADS calls the formats gridflow reads (a single NetCDF, never a zip of several)
DATA_FORMATS = {"grib2": "grib", "netcdf_cf": "netcdf"}


SCHEMA = {
    "properties": {
        "dataset": {"type": "string", "minLength": 1, "description": "the ADS dataset id"},
        "types": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": {"enum": ["forecast", "analysis"]},
        },
        "variables": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "model": {"type": "string", "minLength": 1},
        "levels": {"type": "array", "minItems": 1, "items": {"type": "number"}},
        "leadtime_hours": HOURS,
        "area": {
            "description": "[north, west, south, east] in degrees, as the ADS takes it",
            "type": "array",
            "minItems": 4,
            "maxItems": 4,
            "items": {"type": "number"},
        },
        "cycles": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
        "publish_delay_minutes": {"type": "number", "minimum": 0},
        "key_variable": {"type": "string", "description": "the environment variable of the key"},
        "format": {"enum": sorted(DATA_FORMATS), "description": "GRIB (default) or NetCDF"},
        "wait_seconds": {"type": "number", "minimum": 0, "description": "a run's wait for a job"},
        "give_up_hours": {"type": "number", "exclusiveMinimum": 0, "description": "then resubmit"},
        "max_jobs_in_flight": {"type": "integer", "minimum": 1},
    },
    "required": ["dataset", "variables", "cycles"],
}


class CamsAds(Family):
    name = "cams_ads"
    schema = SCHEMA
    runs_jobs = True
    defaults = {
        "url": "https://ads.atmosphere.copernicus.eu/api",
        "types": ["forecast"],
        "leadtime_hours": "0-96",
        "publish_delay_minutes": 600,
        "key_variable": "ADS_API_KEY",
        "wait_seconds": 600,
        # the ADS runs a few requests per user at once and queues the rest for hours
        "give_up_hours": 12,
        "max_jobs_in_flight": 4,
        "select": "all",
    }

    def __init__(self, name: str, src: dict):
        super().__init__(name, src)
        self._new_jobs = 0  # jobs the current plan will submit, counted against the cap

    @property
    def steps(self) -> list[str]:
        return list(self.src["types"])

    def request(self, cycle: datetime, step: str) -> dict:
        """The exact ADS request of one cycle and type (it lands in the job file and sidecar)."""
        hours = "0" if step == "analysis" else self.src["leadtime_hours"]
        inputs = {
            "variable": list(self.src["variables"]),
            "date": [f"{cycle:%Y-%m-%d}/{cycle:%Y-%m-%d}"],
            "type": [step],
            "time": [f"{cycle:%H}:00"],
            "leadtime_hour": [str(h) for h in schedule.parse_hours(hours)],
            "data_format": DATA_FORMATS[self.raw_format],
        }
        if self.src.get("model"):  # the European dataset's; the global one has none
            inputs["model"] = [self.src["model"]]
        if self.src.get("levels"):
            inputs["level"] = [f"{level:g}" for level in self.src["levels"]]
        if self.src.get("area"):
            inputs["area"] = list(self.src["area"])
        return {"dataset": self.src["dataset"], "inputs": inputs}

    @staticmethod
    def service(operating: dict):
        """The job service, from the source's operating settings."""
        from gridflow.ads import DataStore

        settings = operating["settings"]
        return DataStore(operating["url"], operating["key_variable"], settings["timeout_seconds"])

    def operating(self, fetch_cfg: dict) -> dict:
        where = super().operating(fetch_cfg)
        where["family"] = self.src["family"]
        where["key_variable"] = self.src["key_variable"]
        where["wait_seconds"] = self.src["wait_seconds"]
        where["give_up_hours"] = self.src["give_up_hours"]
        return where

    def locate(self, cycle: datetime, step: str) -> dict:
        # the object is wherever the job's results say; the request decides its bytes
        return {"key": "", "request": self.request(cycle, step)}

    def window(self, now: datetime, lister: Lister):
        start = now - timedelta(hours=self.src["window_hours"])
        hour = now.replace(minute=0, second=0, microsecond=0)
        ready, waiting = [], []
        self._new_jobs = 0
        while hour >= start:
            if hour.hour in self.src["cycles"]:
                r, w = self.cycle(hour, now, lister)
                ready += r
                waiting += w
            hour -= timedelta(hours=1)
        return sorted(ready, key=lambda t: t.cycle), sorted(waiting, key=lambda t: t.cycle)

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        at = cycle + timedelta(minutes=self.src["publish_delay_minutes"])
        root = Path(lister.cache_root or ".")
        flying = jobs.in_flight(root / paths.SOURCES / self.name) + self._new_jobs
        ready, waiting = [], []
        for step in self.steps:
            if at > now:
                waiting.append(Target(self.name, cycle, step, at, "not due yet"))
                continue
            names = dict(root=root, source=self.name, cycle=paths.cycle_id(cycle), step=step)
            job, results = Path(paths.JOB.format(**names)), Path(paths.JOB_RESULTS.format(**names))
            submitted = job.exists()
            state = self._upstream(job, results)
            if state:
                waiting.append(Target(self.name, cycle, step, at, state))
            elif not submitted and flying >= self.src["max_jobs_in_flight"]:
                why = f"held back: {flying} jobs in flight (max_jobs_in_flight)"
                waiting.append(Target(self.name, cycle, step, at, why))
            else:
                flying += not submitted
                self._new_jobs += not submitted
                ready.append(Target(self.name, cycle, step, at))
        return ready, waiting

    def _upstream(self, job_path: Path, results_path: Path) -> str | None:
        """'running upstream since ...' for a job submitted here and not finished, else None
        (no job yet, or one that finished: the run submits or collects it)."""
        job = jobs.pending(job_path, results_path)
        if job is None:
            return None
        try:
            status = self.service(self.operating({})).status(job["job_id"])
        except GridflowError:
            return None  # the wait step says what is wrong
        if status.state in jobs.WAITING:
            return f"{status.state} upstream since {status.since or job['submitted_at']}"
        return None


FAMILY = CamsAds
