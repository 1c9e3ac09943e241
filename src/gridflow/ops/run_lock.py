"""One scheduled run at a time per working directory, and no run stopped by a dead one.

`gridflow run` holds an exclusive `flock` on `.snakemake/gridflow-run.lock` for as long as its
Snakemake runs. The kernel drops the lock when the holder dies, however it dies, so a second run
either finds it held (another run is alive: exit ANOTHER_RUN_ACTIVE) or takes it. Holding it,
any lock Snakemake left in `.snakemake/locks` belongs to a run that is gone, unless a Snakemake
started without `gridflow run` is working in the same directory, which is checked in /proc.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from gridflow.errors import Busy

ANOTHER_RUN_ACTIVE = 75  # EX_TEMPFAIL: nothing went wrong, try again later


class RunActive(Busy):
    """Another run is working in this directory."""


@contextmanager
def exclusive_run(workdir: Path) -> Iterator[None]:
    path = workdir / ".snakemake" / "gridflow-run.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "holder unknown"
            raise RunActive(f"another gridflow run is active in {workdir} ({holder})") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} since {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}\n")
        fh.flush()
        yield  # closing the file releases the lock


def snakemake_locks(workdir: Path) -> list[Path]:
    return sorted((workdir / ".snakemake" / "locks").glob("*.lock"))


def snakemake_processes(workdir: Path) -> list[int]:
    """Live Snakemake processes whose working directory is `workdir` (Linux /proc)."""
    target = workdir.resolve()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if any(part.endswith(b"snakemake") for part in cmdline[:3]) and (
                Path(os.readlink(proc / "cwd")) == target
            ):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
