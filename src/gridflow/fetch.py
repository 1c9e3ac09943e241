"""Fetch one raw file, verified: GRIB (the selected messages by ranged GET, or the whole object)
or NetCDF (the whole object, read through once).

Outputs appear only after every check passed: the raw file (source-faithful bytes, GRIB messages
in upstream order), the `.idx` of what was kept, and the sidecar JSON with the lineage. The
sidecar is written last, so its presence means the other two are whole.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mmap
import os
import posixpath
import re
import shutil
import zlib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import uuid6

from gridflow import abi_read, inventory
from gridflow.grib_frames import FramingError, frames
from gridflow.grib_read import build_inventory
from gridflow.transport import Remote, Settings


class FetchError(RuntimeError):
    """A raw file that could not be fetched whole and verified."""


@dataclass(frozen=True)
class FetchSpec:
    source: str
    url: str  # the source location (bucket or mirror)
    key: str  # the object relative to url; with name_pattern, the folder to list
    idx_key: str | None  # its inventory, or None to fetch the whole object
    raw_key: str  # where the raw file lives under the data root (lineage)
    select: list[str] | str = "all"
    settings: Settings = field(default_factory=Settings)
    raw_format: str = "grib2"  # grib2 or nc
    # a regex of the object's file name when the name cannot be built (GOES: creation times)
    name_pattern: str | None = None

    @classmethod
    def from_json(cls, text: str) -> FetchSpec:
        data = json.loads(text)
        data["settings"] = Settings(**data.get("settings", {}))
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def _check_range(data: bytes, start: int, chosen: list[inventory.Message], origin: str) -> None:
    """The bytes of one merged range must be exactly the planned messages, back to back."""
    planned = [(m.start - start, m.size) for m in chosen if start <= m.start < start + len(data)]
    try:
        found = [(f.offset, f.length) for f in frames(data, origin)]
    except FramingError as exc:
        raise FetchError(f"{exc}; the .idx does not match the GRIB (stale or wrong index)") from exc
    if found != planned:
        raise FetchError(
            f"{origin}: the .idx promised messages {planned} (offset, length) in this range but "
            f"the bytes hold {found}; the .idx does not match the GRIB (stale or wrong index)"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_ranges(remote: Remote, spec: FetchSpec, tmp: Path, upstream) -> tuple:
    text, _ = remote.get_text(spec.idx_key)
    origin = remote.where(spec.idx_key)
    try:
        msgs = inventory.messages(inventory.parse(text, origin), upstream.size, origin)
    except inventory.InventoryError as exc:
        raise FetchError(str(exc)) from exc
    chosen = inventory.select(msgs, spec.select)
    if not chosen:
        raise FetchError(f"{origin}: no message matches the selection {spec.select}")
    ranges = inventory.merge_ranges(chosen)
    with open(tmp, "wb") as fh:
        for start, end in ranges:
            data = remote.get_range(spec.key, start, end, upstream.etag)
            _check_range(data, start, chosen, f"{remote.where(spec.key)} bytes {start}-{end - 1}")
            fh.write(data)
    return inventory.relocate(chosen), len(chosen), ranges


def _gunzip(packed: Path, out: Path, origin: str) -> None:
    """The GRIB inside a .gz object; a stream cut short or corrupt is an error naming it."""
    try:
        with gzip.open(packed, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (EOFError, OSError, zlib.error) as exc:
        raise FetchError(f"{origin}: the gzip stream is cut short or corrupt ({exc})") from None


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


def _fetch_netcdf(remote: Remote, spec: FetchSpec, tmp: Path) -> tuple:
    """The whole object, read through once; its inventory names the selected variables, each
    search string `:VARIABLE:LEVEL:` giving the level its rows are filed under."""
    with open(tmp, "wb") as fh:
        remote.download(spec.key, fh)
    wanted = [s.strip(":").split(":", 1) for s in spec.select]
    try:
        start = abi_read.verify(tmp, [w[0] for w in wanted], remote.where(spec.key))
    except abi_read.AbiError as exc:
        raise FetchError(str(exc)) from None
    size = tmp.stat().st_size
    entries = [
        inventory.IdxEntry(str(n), 0, f"d={start:%Y%m%d%H}", var, level, "anl")
        for n, (var, level) in enumerate(wanted, start=1)
    ]
    return entries, len(entries), [(0, size)]


def _fetch_whole(remote: Remote, spec: FetchSpec, tmp: Path) -> tuple:
    # gzip is how the object travels (MRMS); the raw file kept is the GRIB it carries
    download = tmp.with_name(tmp.name + ".gz") if spec.key.endswith(".gz") else tmp
    try:
        with open(download, "wb") as fh:
            remote.download(spec.key, fh)
        if download != tmp:
            _gunzip(download, tmp, remote.where(spec.key))
    finally:
        if download != tmp:
            download.unlink(missing_ok=True)
    try:
        entries = build_inventory(tmp)
    except FramingError as exc:
        raise FetchError(str(exc).replace(str(tmp), remote.where(spec.key))) from exc
    msgs = inventory.messages(entries, tmp.stat().st_size, remote.where(spec.key))
    chosen = inventory.select(msgs, spec.select)
    if not chosen:
        raise FetchError(
            f"{remote.where(spec.key)}: no message matches the selection {spec.select}"
        )
    if len(chosen) != len(msgs):  # keep only the selected messages, in upstream order
        picked = tmp.with_name(tmp.name + ".picked")
        try:
            with (
                open(tmp, "rb") as fh,
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as whole,
                open(picked, "wb") as out,
            ):
                for m in chosen:
                    out.write(whole[m.start : m.end])
            picked.replace(tmp)
        finally:
            picked.unlink(missing_ok=True)
    return inventory.relocate(chosen), len(chosen), inventory.merge_ranges(chosen)


def fetch(spec: FetchSpec, out_grib: Path, out_idx: Path, out_sidecar: Path) -> dict:
    remote = Remote(spec.url, spec.settings)
    out_grib.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_grib.with_name(out_grib.name + ".partial")
    try:
        if spec.name_pattern:
            spec = replace(spec, key=_resolve_key(remote, spec), name_pattern=None)
        upstream = remote.head(spec.key)
        # every kept message is verified on arrival (ranges) or by the inventory (whole file)
        if spec.raw_format == "nc":
            kept, messages, ranges = _fetch_netcdf(remote, spec, tmp)
        elif spec.idx_key:
            kept, messages, ranges = _fetch_ranges(remote, spec, tmp, upstream)
        else:
            kept, messages, ranges = _fetch_whole(remote, spec, tmp)
        sidecar = {
            "source": spec.source,
            "raw_key": spec.raw_key,
            "format": spec.raw_format,
            "key": spec.key,
            "url": remote.where(spec.key),
            "idx_url": remote.where(spec.idx_key) if spec.idx_key else None,
            "mirror": remote.url,
            "etag": upstream.etag,
            "last_modified": upstream.last_modified.isoformat() if upstream.last_modified else None,
            "upstream_size": upstream.size,
            "byte_ranges": [[s, e - 1] for s, e in ranges],
            "select": spec.select,
            "messages": messages,
            "fields": len(kept),
            "size": tmp.stat().st_size,
            "sha256": _sha256(tmp),
            "run_id": str(uuid6.uuid7()),
            "fetched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        idx_tmp = out_idx.with_name(out_idx.name + ".partial")
        idx_tmp.write_text(inventory.format_lines(kept))
        side_tmp = out_sidecar.with_name(out_sidecar.name + ".partial")
        side_tmp.write_text(json.dumps(sidecar, indent=1) + "\n")
        os.replace(tmp, out_grib)
        os.replace(idx_tmp, out_idx)
        os.replace(side_tmp, out_sidecar)
        return sidecar
    finally:
        for leftover in (
            tmp,
            out_idx.with_name(out_idx.name + ".partial"),
            out_sidecar.with_name(out_sidecar.name + ".partial"),
        ):
            leftover.unlink(missing_ok=True)
