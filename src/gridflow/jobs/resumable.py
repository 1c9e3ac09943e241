"""Resumable jobs on asynchronous data services (the Copernicus data stores, NASA Harmony):
submit, wait, then the fetch downloads what the job made. Each step leaves a file, so a run
killed at any point resumes where it was, and a request is never submitted twice.

- the job file (`job/<step>.submitted.json`): the service's job id, the exact request, and
  when it was submitted;
- the results file (`job/<step>.results.json`): once the job succeeded, its assets (URL, size,
  type of each; a job may make none, one or several) and the job it came from.

The fetch reads the results file and takes the outputs through gridflow.jobs.outputs.

A service that answers some requests at once (Harmony's synchronous replies) returns the
assets with the submission; the wait step then writes the results file without polling.

A job that fails or is rejected is reported with the service's own title and detail, and its
job file is removed, so the next scheduled run submits it again (never in a loop). A job still
queued when this run's wait ends is left to a later run, which polls it again.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gridflow import paths
from gridflow.errors import Busy, GridflowError


class JobFailed(GridflowError):
    """The service ran the job and it failed, or refused it."""


class JobPending(Busy):
    """The job is still queued or running upstream; a later run polls it again."""


@dataclass(frozen=True)
class Status:
    state: str  # accepted, running, successful, failed, rejected, dismissed
    since: str | None = None  # when the service last changed it (ISO 8601)
    message: str | None = None


@dataclass(frozen=True)
class Asset:
    href: str
    size: int | None
    type: str | None


@dataclass(frozen=True)
class Submitted:
    """A service's answer to a submission: the job, and its assets when it answered at once."""

    job_id: str
    assets: list[Asset] | None = None
    body: bytes | None = None  # a reply that carried the data itself
    body_type: str | None = None


WAITING = ("accepted", "running")
DONE = "successful"


def _write(path: Path, content: dict) -> None:
    paths.write_whole(path, json.dumps(content, indent=1) + "\n")


def submit(service, request: dict, out: Path) -> dict:
    """Submit `request` unless `out` already names an accepted job for it."""
    if out.exists():
        job = json.loads(out.read_text())
        if job.get("request") == request:
            return job
    submitted = service.submit(request)
    job = {
        "service": service.name,
        "job_id": submitted.job_id,
        "request": request,
        "submitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    assets = submitted.assets
    if submitted.body is not None:  # kept beside the job file, fetched from there
        reply = out.with_name(out.name.replace(".submitted.json", ".reply"))
        reply.parent.mkdir(parents=True, exist_ok=True)
        reply.write_bytes(submitted.body)
        assets = [Asset(reply.resolve().as_uri(), len(submitted.body), submitted.body_type)]
    if assets is not None:
        job["assets"] = [asset.__dict__ for asset in assets]
    _write(out, job)
    return job


def _age_hours(job: dict) -> float:
    submitted = datetime.fromisoformat(job["submitted_at"])
    return (datetime.now(UTC) - submitted).total_seconds() / 3600


def wait(
    service,
    job_path: Path,
    out: Path,
    seconds: float,
    give_up_hours: float | None = None,
    first_poll: float = 1.0,
) -> dict:
    """Poll the job politely (1.5 x longer each time, at most a minute) for up to `seconds`;
    write `out` when it succeeded. A job pending longer than `give_up_hours` since it was
    submitted is given up (and submitted again by the next run)."""
    job = json.loads(job_path.read_text())
    deadline = time.monotonic() + seconds
    pause = first_poll
    if "assets" in job:  # answered at once when submitted
        results = {"assets": job["assets"], "job": job, "finished": job["submitted_at"]}
        _write(out, results)
        return results
    while True:
        status = service.status(job["job_id"])
        if status.state == DONE:
            assets = service.results(job["job_id"])
            results = {
                "assets": [asset.__dict__ for asset in assets],
                "job": job,
                "finished": status.since,
            }
            _write(out, results)
            return results
        if status.state not in WAITING:
            job_path.unlink(missing_ok=True)  # the next scheduled run submits it again
            title, detail = service.failure(job["job_id"], status)
            raise JobFailed(
                f"{service.name} job {job['job_id']} {status.state}: {title}"
                + (f": {detail}" if detail else "")
                + "; it is submitted again by the next run"
            )
        if give_up_hours is not None and _age_hours(job) > give_up_hours:
            service.dismiss(job["job_id"])  # so it does not hold a place in the queue
            job_path.unlink(missing_ok=True)
            raise JobFailed(
                f"{service.name} job {job['job_id']} still {status.state} after "
                f"{give_up_hours:g} h (submitted {job['submitted_at']}): given up; it is "
                "submitted again by the next run"
            )
        left = deadline - time.monotonic()
        if left <= 0:
            raise JobPending(
                f"{service.name} job {job['job_id']} is {status.state} upstream (submitted "
                f"{job['submitted_at']}, last change {status.since or '?'}); the next run "
                "polls it again"
            )
        time.sleep(min(pause, left))
        pause = min(pause * 1.5, 60.0)


def job_file_of(results_path: Path) -> Path:
    return results_path.with_name(results_path.name.replace(".results.", ".submitted."))


def in_flight(job_folder: Path) -> int:
    """How many jobs of a source's cycle folders are submitted and not yet collected."""
    return sum(
        1
        for job in job_folder.glob("*/job/*.submitted.json")
        if not job.with_name(job.name.replace(".submitted.", ".results.")).exists()
    )


def pending(job_path: Path, results_path: Path) -> dict | None:
    """The job file of a job submitted and not yet finished here, or None."""
    if results_path.exists() or not job_path.exists():
        return None
    return json.loads(job_path.read_text())
