"""Fetch one raw file, verified, whatever its format.

The route is a chain: `fetch_job` settles everything the fetch needs in one record (the spec,
the operating settings, the format, the family's hooks, a job's outputs, the remote); `run`
has `fetch_bytes.take` move the bytes through the transport and the format's check, and only
then writes the outputs: the raw file (source-faithful bytes), the inventory of what was kept,
and the sidecar JSON with the lineage. The sidecar is written last, so its presence means the
other two are whole.

What a fetch takes (`FetchSpec`, `Operating`) is described in gridflow.pipeline.fetch_job.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path

import uuid6

from gridflow import inventory
from gridflow.errors import FetchError
from gridflow.pipeline import fetch_bytes, fetch_job
from gridflow.pipeline.fetch_bytes import Taken
from gridflow.pipeline.fetch_job import FetchJob, FetchSpec, Operating
from gridflow.pipeline.sidecar import Sidecar

__all__ = ["FetchError", "fetch", "run"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lineage(job: FetchJob, taken: Taken, tmp: Path) -> Sidecar:
    """The sidecar of the raw file now in `tmp`."""
    spec, upstream, kept, outputs = taken.spec, taken.upstream, taken.kept, job.outputs
    return Sidecar(
        source=spec.source,
        raw_key=spec.raw_key,
        format=spec.format,
        key=spec.key,
        url=taken.url,
        idx_url=taken.idx_url,
        mirror=taken.mirror,
        etag=upstream.etag,
        last_modified=upstream.last_modified.isoformat() if upstream.last_modified else None,
        upstream_size=upstream.size,
        wire_bytes=sum(e - s for s, e in kept.ranges) if spec.idx_key else upstream.size,
        byte_ranges=[[s, e - 1] for s, e in kept.ranges],
        select=spec.select,
        messages=kept.messages,
        fields=len(kept.entries),
        size=tmp.stat().st_size,
        sha256=sha256_of(tmp),
        retries=taken.retries,
        run_id=str(uuid6.uuid7()),
        fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
        about=kept.about,
        # what the service was asked, and the job that made the object
        job=outputs.made_by if outputs is not None else None,
        request=outputs.job["request"] if outputs is not None else None,
        assets=[asset.href for asset in outputs.assets] if outputs is not None else None,
    )


def run(job: FetchJob, out_raw: Path, out_idx: Path, out_sidecar: Path) -> Sidecar:
    """The resolved `job`'s object kept as `out_raw`, with its inventory `out_idx` and its
    sidecar `out_sidecar`; nothing is written unless every check passed."""
    out_raw.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_raw.with_name(out_raw.name + ".partial")
    idx_tmp = out_idx.with_name(out_idx.name + ".partial")
    try:
        taken = fetch_bytes.take(job, tmp)
        sidecar = _lineage(job, taken, tmp)
        idx_tmp.write_text(inventory.format_lines(taken.kept.entries))
        os.replace(tmp, out_raw)
        os.replace(idx_tmp, out_idx)
        sidecar.write(out_sidecar)  # last: its presence means the other two are whole
        return sidecar
    finally:
        for leftover in (tmp, idx_tmp):
            leftover.unlink(missing_ok=True)


def fetch(
    spec: FetchSpec,
    where: Operating,
    out_raw: Path,
    out_idx: Path,
    out_sidecar: Path,
    results: Path | None = None,
) -> Sidecar:
    """`spec`'s object from `where` (or from what the job of `results` made), kept: `run` of
    what `fetch_job.resolve` settles."""
    return run(fetch_job.resolve(spec, where, results), out_raw, out_idx, out_sidecar)
