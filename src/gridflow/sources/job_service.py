"""What the families of job services share (the Copernicus ADS, NASA Harmony): each cycle and
step is one request, run as a job (gridflow.jobs.resumable). A cycle is due a publication delay
after it starts; a job submitted earlier and still queued or running upstream is reported as waiting
("running upstream since ..."), never submitted twice; at most `max_jobs_in_flight` of a
source's requests are out at once.

A family of this kind says what it asks (`request`) and which service runs it (`service`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from gridflow import paths
from gridflow.errors import GridflowError
from gridflow.jobs import resumable as jobs
from gridflow.sources.base import Family
from gridflow.sources.targets import Lister, Target

# the keys every job family takes (merged into each family's own schema)
JOB_KEYS = {
    "cycles": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
    "publish_delay_minutes": {"type": "number", "minimum": 0},
    "wait_seconds": {"type": "number", "minimum": 0, "description": "a run's wait for a job"},
    "give_up_hours": {"type": "number", "exclusiveMinimum": 0, "description": "then resubmit"},
    "max_jobs_in_flight": {"type": "integer", "minimum": 1},
}


class JobFamily(Family):
    runs_jobs = True

    def __init__(self, name: str, src: dict):
        super().__init__(name, src)
        self._new_jobs = 0  # jobs the current plan will submit, counted against the cap

    @property
    def steps(self) -> list[str]:
        raise NotImplementedError

    def request(self, cycle: datetime, step: str) -> dict:
        """The exact request of one cycle and step (it lands in the job file and sidecar)."""
        raise NotImplementedError

    @staticmethod
    def service(operating: dict):
        """The job service, from the source's operating settings."""
        raise NotImplementedError

    def operating(self, fetch_cfg: dict) -> dict:
        where = super().operating(fetch_cfg)
        where["family"] = self.src["family"]
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

    def due(self, cycle: datetime) -> datetime:
        return cycle + timedelta(minutes=self.src["publish_delay_minutes"])

    def cycle(self, cycle: datetime, now: datetime, lister: Lister):
        at = self.due(cycle)
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
        if job is None or "assets" in job:
            return None
        try:
            status = self.service(self.operating({})).status(job["job_id"])
        except GridflowError:
            return None  # the wait step says what is wrong
        if status.state in jobs.WAITING:
            return f"{status.state} upstream since {status.since or job['submitted_at']}"
        return None
