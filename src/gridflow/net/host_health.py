"""Each upstream host's health, shared by every process of a run and by the runs after it.

One small JSON file per host counts the retries made against it and its failures in a row. A
host that keeps failing trips a circuit breaker: for a cool-down no request goes to it (each one
fails at once, saying why and until when), so a dead mirror is not hammered by every fetch job
of a run. After the cool-down one request tries the host again; a success closes the circuit, a
failure opens it for another cool-down. The workflow keeps these files in `<data_root>/hosts`
(`GRIDFLOW_HOSTS_DIR`), where `gridflow status` and the metrics read them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

FOLDER_ENV = "GRIDFLOW_HOSTS_DIR"
FRESH = {"failures": 0, "retries": 0, "open_until": None, "opened": 0, "last_error": None}


def folder() -> Path:
    return Path(os.environ.get(FOLDER_ENV) or Path(tempfile.gettempdir()) / "gridflow-hosts")


def use_data_root(root: str | Path) -> None:
    """Keep the hosts' files under the data root, unless GRIDFLOW_HOSTS_DIR says otherwise."""
    os.environ.setdefault(FOLDER_ENV, str(Path(root).resolve() / "hosts"))


def _path(host: str) -> Path:
    return folder() / f"{host.replace(':', '_').replace('/', '_') or 'local'}.json"


@contextlib.contextmanager
def _state(host: str):
    """The host's state, read and written back under an exclusive lock."""
    path = _path(host)
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


def _when(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def paused(host: str) -> str | None:
    """Why requests to the host are paused now, or None when they may go."""
    path = _path(host)
    if not path.exists():  # the common case: a host that never failed costs one stat
        return None
    with _state(host) as state:
        if state["open_until"] and time.time() < state["open_until"]:
            return (
                f"{host} paused after {state['failures']} failures in a row "
                f"(last: {state['last_error']}); next try after {_when(state['open_until'])}"
            )
    return None


def failed(host: str, error: str, threshold: int, cooldown: float) -> bool:
    """Count a failed request; returns True when it opened the circuit."""
    with _state(host) as state:
        state["failures"] += 1
        state["last_error"] = error[:300]
        if state["failures"] >= threshold:
            state["open_until"] = time.time() + cooldown
            state["opened"] += 1
            return True
    return False


def retried(host: str) -> None:
    with _state(host) as state:
        state["retries"] += 1


def succeeded(host: str) -> None:
    """An answer (a 404 included): the host works, its circuit closes."""
    if not _path(host).exists():
        return
    with _state(host) as state:
        state["failures"], state["open_until"] = 0, None


def hosts() -> list[dict]:
    """Every host's state, with `paused` telling whether its circuit is open now."""
    found = []
    for path in sorted(folder().glob("*.json")):
        try:
            state = {**FRESH, **json.loads(path.read_text())}
        except (OSError, ValueError):
            continue
        state["paused"] = bool(state["open_until"] and time.time() < state["open_until"])
        state["open_until"] = _when(state["open_until"]) if state["open_until"] else None
        found.append(state)
    return found
