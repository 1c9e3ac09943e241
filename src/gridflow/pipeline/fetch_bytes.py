"""Move one fetch's bytes: find the object, ask upstream what it is, and let the format
download and check it into the temporary raw file. What a job service made is checked
against what it advertised; its several outputs come as one zip, which the format inspects.
Nothing here writes an output: a failure leaves only the temporary file, which the fetch
removes.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, replace
from pathlib import Path

from gridflow.errors import FetchError
from gridflow.formats.base import Fetched
from gridflow.net.transport import ObjectInfo, Remote
from gridflow.pipeline.fetch_job import FetchJob, FetchSpec


@dataclass(frozen=True)
class Taken:
    """What arrived in the temporary raw file, and where it came from."""

    spec: FetchSpec  # with the object's key found (name_pattern resolved)
    url: str | None  # the object's URL; a job's several outputs: the first (None: none)
    upstream: ObjectInfo  # what upstream said of it (a job's several outputs: their bytes)
    kept: Fetched  # what the format checked and kept
    idx_url: str | None  # its upstream index, when only the messages asked for were read
    mirror: str  # the location it was read from
    retries: int  # requests to that location tried again


def _found(remote: Remote, spec: FetchSpec) -> FetchSpec:
    """The spec naming the object in folder `spec.key` whose name matches `spec.name_pattern`;
    of several (a reprocessed scan) the newest creation time, which ends the name."""
    if not spec.name_pattern:
        return spec
    listed = remote.list(spec.key)
    matches = {
        key: found.groupdict().get("created", key)
        for key in listed
        if (found := re.fullmatch(spec.name_pattern, posixpath.basename(key)))
    }
    if not matches:
        raise FetchError(
            f"{remote.where(spec.key)}: no object named like {spec.name_pattern} "
            f"among {len(listed)} listed"
        )
    return replace(spec, key=max(matches, key=matches.get), name_pattern=None)


def take(job: FetchJob, tmp: Path) -> Taken:
    """The object's bytes into `tmp`, verified by its format; raise FetchError naming the URL."""
    remote, outputs = job.remote, job.outputs
    spec = _found(remote, job.spec)
    idx_url = remote.where(spec.idx_key) if spec.idx_key else None
    if outputs is None:  # an object at the source's location: whole, or in ranges
        url = remote.where(spec.key)
        upstream = remote.head(spec.key)
        kept = job.fmt.fetch(remote, spec, tmp, upstream, job.family)
    elif outputs.one is not None:  # a job's one output, where the service keeps it
        url, upstream, kept = outputs.take_one(remote, spec, tmp, job.fmt, job.family)
    else:
        asked = job.family.asked(spec.request)
        url, upstream, kept = outputs.take_all(
            tmp, job.where.settings, job.family, job.where.source, job.fmt, asked
        )
    return Taken(spec, url, upstream, kept, idx_url, remote.url, remote.retries)
