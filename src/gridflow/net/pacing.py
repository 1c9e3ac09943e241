"""Requests to a host kept at least a given interval apart, across every process of a run
(parallel fetch jobs, a backfill), through a lock file per host in the temporary folder. The
lock is held through the request and the interval counts from its end, so the host sees each
request start at least that long after the one before it ended."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path


def _lock_path(host: str) -> Path:
    folder = Path(os.environ.get("GRIDFLOW_PACE_DIR") or tempfile.gettempdir()) / "gridflow-pace"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{host.replace(':', '_')}.last"


@contextlib.contextmanager
def turn(host: str, interval: float):
    """Wait for `host`'s turn, hold it while the request runs, and note when it ended."""
    if interval <= 0:
        yield
        return
    with open(_lock_path(host), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # the next process queues behind this one
        fh.seek(0)
        text = fh.read().strip()
        pause = (float(text) if text else 0.0) + interval - time.time()
        if pause > 0:
            time.sleep(pause)
        try:
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{time.time():.3f}")
            fh.flush()
