"""The workflow's steps: what the rules run, one file at a time. Each parses its arguments and
calls the pipeline; the marker a load leaves is written there."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from gridflow.config import operating
from gridflow.pipeline import load
from gridflow.pipeline.load import LoadFiles
from gridflow.pipeline.sidecar import Sidecar

log = logging.getLogger(__name__)


def cmd_fetch(args) -> None:
    from gridflow.pipeline import fetch, fetch_job

    results = Path(args.results) if args.results else None
    job = fetch_job.from_step(args.spec, args.settings, results)
    sidecar = fetch.run(job, Path(args.raw), Path(args.idx), Path(args.sidecar))
    log.info(
        "fetched %s: %s message(s), %s field(s), %s bytes in %d range(s)",
        sidecar.url,
        sidecar.messages,
        sidecar.fields,
        sidecar.size,
        len(sidecar.byte_ranges),
    )


def _job_service(source: str):
    from gridflow import sources

    where = operating.of_source(source)
    return sources.family_class(where["family"]).service(where), where


def cmd_job_submit(args) -> None:
    from gridflow.jobs import resumable as jobs

    service, _ = _job_service(args.source)
    job = jobs.submit(service, json.loads(args.request), Path(args.out))
    log.info("%s job %s submitted at %s", service.name, job["job_id"], job["submitted_at"])


def cmd_job_await(args) -> None:
    from gridflow.jobs import resumable as jobs

    service, where = _job_service(args.source)
    seconds = args.seconds if args.seconds is not None else where.get("wait_seconds", 600)
    done = jobs.wait(service, Path(args.job), Path(args.out), seconds, where.get("give_up_hours"))
    made = "; ".join(
        f"{a['href']} ({a['size'] if a['size'] is not None else '?'} bytes, {a['type']})"
        for a in done["assets"]
    )
    log.info("%s job %s done: %s", service.name, done["job"]["job_id"], made or "no outputs")


def cmd_shred(args) -> None:
    from gridflow.pipeline.shred import ShredOptions, shred

    options = ShredOptions.from_source(json.loads(args.options)) if args.options else ShredOptions()
    grids = Path(args.grids) if args.grids else None
    stats = shred(
        Path(args.raw), Path(args.idx), Path(args.sidecar), Path(args.out), options, grids
    )
    log.info("shredded %s: %s field(s), %s rows", args.raw, stats.fields, stats.rows)


def _load_files(args) -> LoadFiles:
    return LoadFiles(
        Path(args.sidecar),
        Path(args.marker),
        Path(args.idx) if args.idx else None,
        Path(args.grids) if getattr(args, "grids", None) else None,
    )


def cmd_load(args) -> None:
    sidecar = Sidecar.read(Path(args.sidecar))
    load.into_clickhouse(
        Path(args.parquet),
        _load_files(args),
        operating.dsn("clickhouse", args.dsn),
        operating.migrations("clickhouse", args.migrations),
        operating.load_check_settings(sidecar.source),
        args.wait,
    )


def cmd_load_postgis(args) -> None:
    load.into_postgis(
        Path(args.raw),
        _load_files(args),
        json.loads(args.spec),
        operating.dsn("postgres", args.dsn),
        operating.migrations("postgres", args.migrations),
    )


def cmd_routes(args) -> None:
    load.routes(operating.dsn("postgres", args.dsn), Path(args.marker))


def cmd_cycle_summary(args) -> None:
    load.cycle_summary(args.markers, Path(args.out))
