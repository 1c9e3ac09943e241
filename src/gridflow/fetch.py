"""Fetch one raw file, verified, whatever its format.

The format plug-in downloads and checks the bytes (GRIB messages by ranged GET or whole, NetCDF
read through once); this module finds the object, and writes the outputs only after every
check passed: the raw file (source-faithful bytes), the inventory of what was kept, and the
sidecar JSON with the lineage. The sidecar is written last, so its presence means the other two
are whole.

What a fetch takes is split in two: the spec (what object, which fields: it decides the bytes
of the outputs, so Snakemake tracks it) and the operating settings (which mirror, timeouts,
retries, anonymous access: they never change the bytes, so they are not tracked).
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import uuid6

from gridflow import formats, inventory, jobs, sources
from gridflow.errors import FetchError
from gridflow.transport import NotPublished, Remote, Settings

__all__ = ["FetchError", "FetchSpec", "Operating", "fetch"]


@dataclass(frozen=True)
class FetchSpec:
    source: str
    family: str  # the source family: it knows how upstream indexes its objects
    format: str  # the format plug-in that checks and keeps the bytes
    key: str  # the object relative to the source location; with name_pattern, a folder
    idx_key: str | None  # its upstream index, or None to fetch the whole object
    raw_key: str  # where the raw file lives under the data root (lineage)
    select: list[str] | str = "all"
    # a regex of the object's file name when the name cannot be built (GOES: creation times)
    name_pattern: str | None = None
    # the request a job service ran to make the object (its location comes with the results)
    request: dict | None = None

    @classmethod
    def from_json(cls, text: str) -> FetchSpec:
        return cls(**json.loads(text))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


@dataclass(frozen=True)
class Operating:
    """Where and how politely to fetch: settings that never change what is fetched."""

    url: str
    settings: Settings = Settings()

    @classmethod
    def from_dict(cls, data: dict) -> Operating:
        return cls(data["url"], Settings(**data.get("settings", {})))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_key(remote: Remote, spec: FetchSpec) -> str:
    """The object in folder `spec.key` whose name matches `spec.name_pattern`; of several (a
    reprocessed scan) the newest creation time, which ends the name."""
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
    return max(matches, key=matches.get)


def _made_by_job(spec: FetchSpec, where: Operating, results: Path):
    """The spec and location of an object a job made: its results file names the asset."""
    made = json.loads(results.read_text())
    href = urlsplit(made["asset"]["href"])
    origin = urlunsplit((href.scheme, href.netloc, posixpath.dirname(href.path), "", ""))
    key = posixpath.basename(href.path) + (f"?{href.query}" if href.query else "")
    return replace(spec, key=key), replace(where, url=origin), made


def _check_asset(made: dict, size: int, fmt, origin: str) -> None:
    asset = made["asset"]
    if asset.get("size") is not None and asset["size"] != size:
        raise FetchError(f"{origin}: the service advertised {asset['size']} bytes and sent {size}")
    if asset.get("type") and fmt.media_types and asset["type"] not in fmt.media_types:
        kinds = ", ".join(fmt.media_types)
        raise FetchError(f"{origin}: the service sent {asset['type']}, not {fmt.name} ({kinds})")


def fetch(
    spec: FetchSpec,
    where: Operating,
    out_raw: Path,
    out_idx: Path,
    out_sidecar: Path,
    results: Path | None = None,
):
    made = None
    if results is not None:
        spec, where, made = _made_by_job(spec, where, results)
    remote = Remote(where.url, where.settings)
    fmt = formats.get(spec.format)
    family = sources.family_class(spec.family)
    out_raw.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_raw.with_name(out_raw.name + ".partial")
    idx_tmp = out_idx.with_name(out_idx.name + ".partial")
    side_tmp = out_sidecar.with_name(out_sidecar.name + ".partial")
    try:
        if spec.name_pattern:
            spec = replace(spec, key=_resolve_key(remote, spec), name_pattern=None)
        try:
            upstream = remote.head(spec.key)
        except NotPublished as exc:
            if made is None:
                raise
            raise jobs.results_expired(results, made, str(exc)) from None
        kept = fmt.fetch(remote, spec, tmp, upstream, family)
        if made is not None:
            _check_asset(made, upstream.size, fmt, remote.where(spec.key))
        sidecar = {
            "source": spec.source,
            "raw_key": spec.raw_key,
            "format": spec.format,
            "key": spec.key,
            "url": remote.where(spec.key),
            "idx_url": remote.where(spec.idx_key) if spec.idx_key else None,
            "mirror": remote.url,
            "etag": upstream.etag,
            "last_modified": upstream.last_modified.isoformat() if upstream.last_modified else None,
            "upstream_size": upstream.size,
            "byte_ranges": [[s, e - 1] for s, e in kept.ranges],
            "select": spec.select,
            "messages": kept.messages,
            "fields": len(kept.entries),
            "size": tmp.stat().st_size,
            "sha256": _sha256(tmp),
            "run_id": str(uuid6.uuid7()),
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if made is not None:  # what the service was asked, and the job that made the object
            job = made["job"]
            sidecar["job"] = {k: job[k] for k in ("service", "job_id", "submitted_at")}
            sidecar["request"] = job["request"]
        idx_tmp.write_text(inventory.format_lines(kept.entries))
        side_tmp.write_text(json.dumps(sidecar, indent=1) + "\n")
        os.replace(tmp, out_raw)
        os.replace(idx_tmp, out_idx)
        os.replace(side_tmp, out_sidecar)
        return sidecar
    finally:
        for leftover in (tmp, idx_tmp, side_tmp):
            leftover.unlink(missing_ok=True)
