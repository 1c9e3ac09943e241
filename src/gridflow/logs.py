"""How the `gridflow` command speaks: through the standard `logging` module, configured once.

For people, every line reads `gridflow <command>: message` (`... error: message` for an error);
for log shippers (`--log-format json`) every record is one JSON object on a line. gridflow's
own loggers say what they do (INFO; `-q` keeps warnings and errors, `-v` adds DEBUG). Other
libraries' loggers (the ClickHouse driver, urllib3, ...) and Python warnings are off unless
`-v` asks for them: the driver, for one, logs what it then raises, and the raised error is the
line we print.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime

OURS = "gridflow"
FORMATS = ("text", "json")
SILENT = logging.CRITICAL + 1
_verbosity = 0  # as configured: what gridflow passes on to the programs it runs (Snakemake)


def _is_ours(record: logging.LogRecord) -> bool:
    return record.name == OURS or record.name.startswith(OURS + ".")


class PeopleFormatter(logging.Formatter):
    """`gridflow plan: message`; another library's record names its logger."""

    def __init__(self, program: str):
        super().__init__()
        self.program = program

    def format(self, record: logging.LogRecord) -> str:
        program = getattr(record, "program", self.program)
        level = {logging.ERROR: "error: ", logging.DEBUG: "debug: "}.get(record.levelno, "")
        origin = "" if _is_ours(record) else f"[{record.name}] "
        text = f"{program}: {level}{origin}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


class JsonFormatter(logging.Formatter):
    """One object per record: time, level, logger, program, message."""

    def __init__(self, program: str):
        super().__init__()
        self.program = program

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "program": getattr(record, "program", self.program),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class _Handler(logging.StreamHandler):
    """Ours, so configuring again replaces it and leaves other handlers (pytest's) alone.
    Another library's record passes only from `others` up (some set their own loggers' levels,
    urllib3's driver does: the root logger's level alone would not quiet them)."""

    def __init__(self, others: int):
        super().__init__(sys.stderr)
        self.others = others

    def filter(self, record: logging.LogRecord) -> bool:
        return (_is_ours(record) or record.levelno >= self.others) and super().filter(record)

    @property
    def stream(self):  # whatever sys.stderr is now (tests swap it)
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def verbosity() -> int:
    return _verbosity


def configure(program: str, verbosity: int = 0, fmt: str = "text") -> None:
    """Once per process, in main(): `verbosity` is the count of -v minus the count of -q."""
    global _verbosity
    _verbosity = verbosity
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    # other libraries: silent by default, INFO with -v, everything with -vv
    others = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else SILENT
    handler = _Handler(others)
    handler.setFormatter(JsonFormatter(program) if fmt == "json" else PeopleFormatter(program))
    root.addHandler(handler)
    root.setLevel(min(others, logging.WARNING))
    ours = logging.DEBUG if verbosity > 0 else logging.INFO if verbosity == 0 else logging.WARNING
    logging.getLogger(OURS).setLevel(ours)
    logging.captureWarnings(True)  # a library's warnings are its chatter too: py.warnings


@contextlib.contextmanager
def stdout_on_stderr() -> Iterator[None]:
    """Everything written to stdout meanwhile (by child processes too, such as Snakemake) goes
    to stderr: with `--json`, stdout carries the command's JSON records only."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
