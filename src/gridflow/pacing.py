"""Requests to a host kept at least a given interval apart, across every process of a run
(parallel fetch jobs, a backfill), through a lock file per host in the temporary folder."""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path


def _lock_path(host: str) -> Path:
    folder = Path(os.environ.get("GRIDFLOW_PACE_DIR") or tempfile.gettempdir()) / "gridflow-pace"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{host.replace(':', '_')}.last"


def wait_turn(host: str, interval: float) -> None:
    """Block until `interval` seconds have passed since the last request to `host`."""
    if interval <= 0:
        return
    with open(_lock_path(host), "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # held while waiting: the next process queues behind
        fh.seek(0)
        text = fh.read().strip()
        last = float(text) if text else 0.0
        pause = last + interval - time.time()
        if pause > 0:
            time.sleep(pause)
        fh.seek(0)
        fh.truncate()
        fh.write(f"{time.time():.3f}")
        fh.flush()
