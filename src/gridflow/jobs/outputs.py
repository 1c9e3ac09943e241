"""A finished job's outputs as the fetch takes them: the results file read into one record,
and each output downloaded from where the service keeps it and checked against what the
service advertised (its size, and its media type against the format's).

A job's one output is fetched like any object, where it is: the format downloads and checks
it. Several outputs (or none) are kept as one zip of the outputs as they came, which the
format then inspects as a whole.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from gridflow.errors import FetchError
from gridflow.jobs.resumable import Asset, JobFailed, job_file_of
from gridflow.net.transport import NotPublished, ObjectInfo, Remote, Settings


def place(href: str) -> tuple[str, str]:
    """(location, key) of an output's URL, as a Remote reads it."""
    parts = urlsplit(href)
    origin = urlunsplit((parts.scheme, parts.netloc, posixpath.dirname(parts.path), "", ""))
    return origin, posixpath.basename(parts.path) + (f"?{parts.query}" if parts.query else "")


def _check(asset: Asset, size: int, fmt, origin: str) -> None:
    """What arrived is what the service advertised: its size, and a type the format takes."""
    if asset.size is not None and asset.size != size:
        raise FetchError(f"{origin}: the service advertised {asset.size} bytes and sent {size}")
    if asset.type and fmt.media_types and asset.type not in fmt.media_types:
        kinds = ", ".join(fmt.media_types)
        raise FetchError(f"{origin}: the service sent {asset.type}, not {fmt.name} ({kinds})")


@dataclass(frozen=True)
class JobOutputs:
    """A results file (gridflow.jobs.resumable.wait writes it), read."""

    path: Path  # the results file
    assets: list[Asset]  # the job's outputs: none, one or several
    job: dict  # the job file: service, job_id, request, submitted_at
    finished: str | None  # when the service finished it (ISO 8601)

    @classmethod
    def read(cls, path: Path) -> JobOutputs:
        made = json.loads(path.read_text())
        assets = [Asset(a["href"], a.get("size"), a.get("type")) for a in made["assets"]]
        return cls(path, assets, made["job"], made.get("finished"))

    @property
    def one(self) -> Asset | None:
        """The job's output when it made exactly one: it is fetched where it is."""
        return self.assets[0] if len(self.assets) == 1 else None

    @property
    def made_by(self) -> dict:
        """The job that made the outputs, for the sidecar."""
        return {k: self.job[k] for k in ("service", "job_id", "submitted_at")}

    def expired(self, why: str) -> JobFailed:
        """The service's results are kept for a while only (about a day on the ADS, 30 days on
        Harmony): when an output is gone, both job files go, so the next run submits it again."""
        job_file_of(self.path).unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)
        return JobFailed(
            f"{why}: the results of {self.job['service']} job {self.job['job_id']} (finished "
            f"{self.finished or '?'}) have expired upstream; it is submitted again by the "
            "next run"
        )

    def take_one(self, remote: Remote, spec, tmp: Path, fmt, family) -> tuple:
        """The job's one output, fetched by `fmt` from `remote` (where the service keeps it)
        into `tmp`, then checked against what the service advertised: (its URL, its HEAD,
        what the format kept). Gone upstream, the job is submitted again."""
        url = remote.where(spec.key)
        try:
            upstream = remote.head(spec.key)
        except NotPublished as exc:
            raise self.expired(str(exc)) from None
        kept = fmt.fetch(remote, spec, tmp, upstream, family)
        _check(self.assets[0], upstream.size, fmt, url)
        return url, upstream, kept

    def take_all(self, tmp: Path, settings: Settings, family, operating: dict, fmt, asked) -> tuple:
        """The job's outputs (none, or more than one) as one zip at `tmp`, each downloaded with
        the headers `family` gives for the source's `operating` settings and checked as it
        arrived, then the zip inspected by `fmt` with what the job was `asked`: (the first
        output's URL, None when there is none; their bytes; what the format kept)."""
        total = 0
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as archive:
            for asset in self.assets:
                origin, key = place(asset.href)
                remote = Remote(origin, settings, family.asset_headers(operating))
                part = tmp.with_name(tmp.name + ".asset")
                try:
                    with open(part, "wb") as fh:
                        info = remote.download(key, fh)
                except NotPublished as exc:
                    raise self.expired(str(exc)) from None
                _check(asset, info.size, fmt, remote.where(key))
                archive.write(part, posixpath.basename(urlsplit(asset.href).path))
                part.unlink()
                total += info.size
        first = self.assets[0].href if self.assets else None
        kept = fmt.inspect_output(tmp, first or str(self.path), asked)
        return first, ObjectInfo("", total, None, None), kept
