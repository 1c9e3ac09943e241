"""Fetch one raw GRIB file: the selected messages by ranged GET (or the whole object), verified.

Outputs appear only after every check passed: the GRIB (source-faithful bytes, messages in
upstream order), the `.idx` of what was kept, and the sidecar JSON with the lineage. The sidecar
is written last, so its presence means the other two are whole.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import mmap
import os
import shutil
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import uuid6

from gridflow import inventory
from gridflow.grib_frames import FramingError, frames
from gridflow.grib_read import build_inventory
from gridflow.transport import Remote, Settings


class FetchError(RuntimeError):
    """A raw file that could not be fetched whole and verified."""


@dataclass(frozen=True)
class FetchSpec:
    source: str
    url: str  # the source location (bucket or mirror)
    key: str  # the GRIB object, relative to url
    idx_key: str | None  # its inventory, or None to fetch the whole object
    raw_key: str  # where the raw file lives under the data root (lineage)
    select: list[str] | str = "all"
    settings: Settings = field(default_factory=Settings)

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
    return chosen, ranges


def _gunzip(packed: Path, out: Path, origin: str) -> None:
    """The GRIB inside a .gz object; a stream cut short or corrupt is an error naming it."""
    try:
        with gzip.open(packed, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
    except (EOFError, OSError, zlib.error) as exc:
        raise FetchError(f"{origin}: the gzip stream is cut short or corrupt ({exc})") from None


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
    return chosen, inventory.merge_ranges(chosen)


def fetch(spec: FetchSpec, out_grib: Path, out_idx: Path, out_sidecar: Path) -> dict:
    remote = Remote(spec.url, spec.settings)
    out_grib.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_grib.with_name(out_grib.name + ".partial")
    try:
        upstream = remote.head(spec.key)
        if spec.idx_key:
            chosen, ranges = _fetch_ranges(remote, spec, tmp, upstream)
        else:
            chosen, ranges = _fetch_whole(remote, spec, tmp)
        # every kept message was verified on arrival (ranges) or by the inventory (whole file)
        kept = inventory.relocate(chosen)
        sidecar = {
            "source": spec.source,
            "raw_key": spec.raw_key,
            "url": remote.where(spec.key),
            "idx_url": remote.where(spec.idx_key) if spec.idx_key else None,
            "mirror": remote.url,
            "etag": upstream.etag,
            "last_modified": upstream.last_modified.isoformat() if upstream.last_modified else None,
            "upstream_size": upstream.size,
            "byte_ranges": [[s, e - 1] for s, e in ranges],
            "select": spec.select,
            "messages": len(chosen),
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
