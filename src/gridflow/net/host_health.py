"""Each upstream host's health, shared by every process of a run and by the runs after it.

One small JSON file per host counts the retries made against it and its failures in a row. A
host that keeps failing trips a circuit breaker: for a cool-down no request goes to it (each one
fails at once, saying why and until when), so a dead mirror is not hammered by every fetch job
of a run. After the cool-down one request tries the host again; a success closes the circuit, a
failure opens it for another cool-down. The workflow keeps these files in `<data_root>/hosts`
and hands that folder to its jobs in `GRIDFLOW_HOSTS_DIR`; `gridflow status` and the metrics
read them there. Which folder is used is decided in one place, `folder`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FOLDER_ENV = "GRIDFLOW_HOSTS_DIR"
FRESH = {"failures": 0, "retries": 0, "open_until": None, "opened": 0, "last_error": None}


def folder(data_root: str | Path | None = None) -> Path:
    """Where the hosts' files are: GRIDFLOW_HOSTS_DIR when set (the workflow's, for its jobs),
    else `<data_root>/hosts` when a data root is given, else a folder of the temporary
    directory (a command run on its own)."""
    given = os.environ.get(FOLDER_ENV)
    if given:
        return Path(given)
    if data_root is not None:
        return Path(data_root).resolve() / "hosts"
    return Path(tempfile.gettempdir()) / "gridflow-hosts"


def record(data_root: str | Path | None = None) -> Record:
    """The hosts' record a run keeps (see `folder`)."""
    return Record(folder(data_root))


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Record:
    """The hosts' files in one folder."""

    folder: Path

    def _path(self, host: str) -> Path:
        return self.folder / f"{host.replace(':', '_').replace('/', '_') or 'local'}.json"

    @contextlib.contextmanager
    def _state(self, host: str):
        """The host's state, read and written back under an exclusive lock."""
        path = self._path(host)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            text = fh.read()
            state = {**FRESH, **(json.loads(text) if text.strip() else {}), "host": host}
            before = dict(state)
            yield state
            if state != before:
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps(state))

    def paused(self, host: str) -> str | None:
        """Why requests to the host are paused now, or None when they may go."""
        if not self._path(host).exists():  # the common case: a host that never failed
            return None
        with self._state(host) as state:
            if state["open_until"] and time.time() < state["open_until"]:
                return (
                    f"{host} paused after {state['failures']} failures in a row "
                    f"(last: {state['last_error']}); next try after {_when(state['open_until'])}"
                )
        return None

    def failed(self, host: str, error: str, threshold: int, cooldown: float) -> bool:
        """Count a failed request; returns True when it opened the circuit."""
        with self._state(host) as state:
            state["failures"] += 1
            state["last_error"] = error[:300]
            if state["failures"] >= threshold:
                state["open_until"] = time.time() + cooldown
                state["opened"] += 1
                return True
        return False

    def retried(self, host: str) -> None:
        with self._state(host) as state:
            state["retries"] += 1

    def succeeded(self, host: str) -> None:
        """An answer (a 404 included): the host works, its circuit closes."""
        if not self._path(host).exists():
            return
        with self._state(host) as state:
            state["failures"], state["open_until"] = 0, None

    def hosts(self) -> list[dict]:
        """Every host's state, with `paused` telling whether its circuit is open now."""
        found = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                state = {**FRESH, **json.loads(path.read_text())}
            except (OSError, ValueError):
                continue
            state["paused"] = bool(state["open_until"] and time.time() < state["open_until"])
            state["open_until"] = _when(state["open_until"]) if state["open_until"] else None
            found.append(state)
        return found
