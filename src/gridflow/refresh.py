"""Records that change upstream (MCFCD edits its workbooks) are fetched again once their raw file
is older than the family's `refresh_hours`: a stamp file beside the cycle's job files is the
fetch's input, and touching it when the raw file is due again makes Snakemake rerun the fetch
and everything after it, with its usual reason ("updated input files")."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


def clock() -> datetime:
    return datetime.now(UTC)


def stamp(stamp_path: Path, sidecar: Path, hours: float, now: datetime) -> Path:
    """The stamp of one raw file, touched now when the file is due to be fetched again."""
    if not stamp_path.exists():
        stamp_path.parent.mkdir(parents=True, exist_ok=True)
        stamp_path.touch()
        os.utime(stamp_path, (0, 0))  # older than anything: a first fetch needs no stamp
    if not sidecar.exists():
        return stamp_path
    fetched = datetime.fromisoformat(json.loads(sidecar.read_text())["fetched_at"])
    due = fetched + timedelta(hours=hours) <= now
    if due and stamp_path.stat().st_mtime <= sidecar.stat().st_mtime:
        stamp_path.touch()
    return stamp_path
