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
import zipfile
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import uuid6

from gridflow import formats, inventory, sources
from gridflow.errors import FetchError
from gridflow.jobs import resumable as jobs
from gridflow.net.transport import NotPublished, ObjectInfo, Remote, Settings
from gridflow.pipeline.sidecar import Sidecar

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
    source: dict = field(default_factory=dict)  # all of the source's operating settings

    @classmethod
    def from_dict(cls, data: dict) -> Operating:
        return cls(data["url"], Settings(**data.get("settings", {})), data)


def sha256_of(path: Path) -> str:
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


def _asset_place(href: str) -> tuple[str, str]:
    """(location, key) of an asset URL, as a Remote reads it."""
    parts = urlsplit(href)
    origin = urlunsplit((parts.scheme, parts.netloc, posixpath.dirname(parts.path), "", ""))
    return origin, posixpath.basename(parts.path) + (f"?{parts.query}" if parts.query else "")


def _check_asset(asset: dict, size: int, fmt, origin: str) -> None:
    if asset.get("size") is not None and asset["size"] != size:
        raise FetchError(f"{origin}: the service advertised {asset['size']} bytes and sent {size}")
    if asset.get("type") and fmt.media_types and asset["type"] not in fmt.media_types:
        kinds = ", ".join(fmt.media_types)
        raise FetchError(f"{origin}: the service sent {asset['type']}, not {fmt.name} ({kinds})")


def _asset_remote(href: str, where: Operating, family) -> tuple[Remote, str]:
    origin, key = _asset_place(href)
    return Remote(origin, where.settings, family.asset_headers(where.source)), key


def _several_assets(
    assets: list[dict], where: Operating, family, fmt, tmp: Path, results: Path, request: dict
):
    """A job's outputs (none, or more than one) as one zip, each checked, then inspected."""
    total = 0
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
        for asset in assets:
            remote, key = _asset_remote(asset["href"], where, family)
            part = tmp.with_name(tmp.name + ".asset")
            try:
                with open(part, "wb") as fh:
                    info = remote.download(key, fh)
            except NotPublished as exc:
                made = json.loads(results.read_text())
                raise jobs.results_expired(results, made, str(exc)) from None
            _check_asset(asset, info.size, fmt, remote.where(key))
            archive.write(part, posixpath.basename(urlsplit(asset["href"]).path))
            part.unlink()
            total += info.size
    first = assets[0]["href"] if assets else None
    kept = fmt.inspect_output(tmp, first or str(results), family.asked(request))
    return kept, ObjectInfo("", total, None, None), first


def fetch(
    spec: FetchSpec,
    where: Operating,
    out_raw: Path,
    out_idx: Path,
    out_sidecar: Path,
    results: Path | None = None,
):
    fmt = formats.get(spec.format)
    family = sources.family_class(spec.family)
    made = json.loads(results.read_text()) if results is not None else None
    assets = made["assets"] if made is not None else None
    if assets is not None and len(assets) == 1:  # a job's one output: read where it is
        origin, key = _asset_place(assets[0]["href"])
        spec, where = replace(spec, key=key), replace(where, url=origin)
    headers = family.asset_headers(where.source) if made is not None else None
    remote = Remote(where.url, where.settings, headers)
    out_raw.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_raw.with_name(out_raw.name + ".partial")
    idx_tmp = out_idx.with_name(out_idx.name + ".partial")
    try:
        if spec.name_pattern:
            spec = replace(spec, key=_resolve_key(remote, spec), name_pattern=None)
        url = remote.where(spec.key)
        if assets is not None and len(assets) != 1:
            kept, upstream, url = _several_assets(
                assets, where, family, fmt, tmp, results, spec.request
            )
        else:
            try:
                upstream = remote.head(spec.key)
            except NotPublished as exc:
                if made is None:
                    raise
                raise jobs.results_expired(results, made, str(exc)) from None
            kept = fmt.fetch(remote, spec, tmp, upstream, family)
            if made is not None:
                _check_asset(assets[0], upstream.size, fmt, url)
        job = made["job"] if made is not None else None
        made_by = (
            {k: job[k] for k in ("service", "job_id", "submitted_at")} if job is not None else None
        )
        sidecar = Sidecar(
            source=spec.source,
            raw_key=spec.raw_key,
            format=spec.format,
            key=spec.key,
            url=url,
            idx_url=remote.where(spec.idx_key) if spec.idx_key else None,
            mirror=remote.url,
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
            retries=remote.retries,
            run_id=str(uuid6.uuid7()),
            fetched_at=datetime.now(UTC).isoformat(timespec="seconds"),
            about=kept.about,
            # what the service was asked, and the job that made the object
            job=made_by,
            request=job["request"] if job is not None else None,
            assets=[asset["href"] for asset in assets] if job is not None else None,
        )
        idx_tmp.write_text(inventory.format_lines(kept.entries))
        os.replace(tmp, out_raw)
        os.replace(idx_tmp, out_idx)
        sidecar.write(out_sidecar)  # last: its presence means the other two are whole
        return sidecar
    finally:
        for leftover in (tmp, idx_tmp):
            leftover.unlink(missing_ok=True)
