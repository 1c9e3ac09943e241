"""What one fetch takes, resolved before a byte moves.

A fetch is given two things: the spec (what object, which fields: it decides the bytes of the
outputs, so Snakemake tracks it) and the operating settings (which mirror, timeouts, retries,
anonymous access: they never change the bytes, so they are not tracked). With a job's results
file, the object is what the job made. `resolve` turns them into one `FetchJob`: the format
plug-in that checks the bytes, the family's hooks, the job's outputs, and the remote the
object is read from (a job's one output is read where the service keeps it).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from gridflow import formats, sources
from gridflow.config import operating
from gridflow.formats.base import Format
from gridflow.jobs.outputs import JobOutputs, place
from gridflow.net.transport import Remote, Settings


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


@dataclass(frozen=True)
class FetchJob:
    """Everything one fetch needs, settled before a byte moves (only a job's several outputs
    ask the family for their download headers again, one by one)."""

    spec: FetchSpec  # a job's one output: its key at `where.url`
    where: Operating  # a job's one output: its location as `url`
    fmt: Format  # downloads and checks the bytes
    family: type  # the source's family class: its hooks (parse_index, asset_headers, asked)
    remote: Remote  # where the object is read from (a job's: with the family's headers)
    outputs: JobOutputs | None  # the job's results, when a job service made the object


def resolve(spec: FetchSpec, where: Operating, results: Path | None = None) -> FetchJob:
    """`spec` fetched from `where`, or from what the job of the `results` file made."""
    fmt = formats.get(spec.format)
    family = sources.family_class(spec.family)
    outputs = JobOutputs.read(results) if results is not None else None
    if outputs is not None and outputs.one is not None:  # a job's one output: read where it is
        origin, key = place(outputs.one.href)
        spec, where = replace(spec, key=key), replace(where, url=origin)
    headers = family.asset_headers(where.source) if outputs is not None else None
    remote = Remote(where.url, where.settings, headers)
    return FetchJob(spec, where, fmt, family, remote, outputs)


def from_step(spec_json: str, settings_json: str | None, results: Path | None) -> FetchJob:
    """The fetch step's FetchJob: its spec as JSON, with the operating settings given on the
    command line (JSON) or else the workflow's for the spec's source."""
    spec = FetchSpec.from_json(spec_json)
    where = Operating.from_dict(operating.of_source(spec.source, settings_json))
    return resolve(spec, where, results)
