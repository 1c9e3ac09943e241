"""The sidecar: what a fetch tells of the raw file it kept (where it came from, which bytes,
their checksum, the run that fetched them), as JSON beside it. The fetch writes it; the shred,
the loads, the purge and the operations commands read it, all through `Sidecar`.

An older or hand-made sidecar may lack keys: a missing one reads as its default (empty text,
zero, None), as the readers always took it. Keys the record does not name (what a format says
of its file, e.g. a gauge's metadata) are kept in `about`, in their place on disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from pathlib import Path

from gridflow import paths

# Written after the format's own notes (`about`), when the object came from a job service
_JOB_KEYS = ("job", "request", "assets")


@dataclass(frozen=True)
class Sidecar:
    source: str = ""
    raw_key: str = ""  # the raw file relative to the data root (gridflow.paths.raw_key)
    format: str = ""  # the format plug-in that checked the bytes
    key: str = ""  # the object relative to the source's location
    url: str = ""
    idx_url: str | None = None  # its upstream index: None when the whole object was fetched
    mirror: str | None = None
    etag: str | None = None
    last_modified: str | None = None  # ISO 8601
    upstream_size: int | None = None
    # what came over the wire: the ranges asked for, or the whole object as it travels
    # (gzipped: packed); `size` is the raw file kept (unpacked). None: from before it was kept
    wire_bytes: int | None = None
    byte_ranges: list[list[int]] = field(default_factory=list)  # inclusive [start, end]
    select: list[str] | str | None = None
    messages: int | None = None
    fields: int | None = None
    size: int = 0
    sha256: str | None = None
    retries: int = 0
    run_id: str = ""  # the fetch's id: the raw file's id in the catalogs and the shred
    fetched_at: str | None = None  # ISO 8601
    about: dict = field(default_factory=dict)  # what the file says of itself (its format)
    job: dict | None = None  # the job that made the object (service, job_id, submitted_at)
    request: dict | None = None  # what the service was asked
    assets: list[str] | None = None  # the job's outputs

    @property
    def gauge(self) -> dict | None:
        """A gauge's metadata, when it came with its record."""
        return self.about.get("gauge")

    @classmethod
    def from_dict(cls, data: dict) -> Sidecar:
        named = {f.name for f in dataclass_fields(cls)} - {"about"}
        known = {k: v for k, v in data.items() if k in named}
        about = {k: v for k, v in data.items() if k not in named}
        return cls(**known, about=about)

    def to_dict(self) -> dict:
        """The keys in the order they have always been written."""
        data = {
            f.name: getattr(self, f.name)
            for f in dataclass_fields(self)
            if f.name != "about" and f.name not in _JOB_KEYS
        }
        data.update(self.about)
        if self.job is not None:
            data.update({k: getattr(self, k) for k in _JOB_KEYS})
        return data

    @classmethod
    def read(cls, path: Path) -> Sidecar:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        """Whole or not at all: a sidecar that exists is whole."""
        paths.write_whole(path, json.dumps(self.to_dict(), indent=1) + "\n")
