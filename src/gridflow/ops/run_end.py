"""How a workflow run ends, seen from the process that runs Snakemake: its outcome (also for a
run that calls no hook), the purge after a successful ingest, and the metrics every run writes
when it exits. The workflow's lifecycle.smk wires these to Snakemake's hooks and to the
interpreter's exit.

A run with nothing to do calls no hook, and neither does one that fails while Snakemake builds
the DAG (an input function's error): Snakemake logs that error, so an error logged with no hook
called is a failed run, and no hook and no error is a run with nothing to do.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass, field


@dataclass
class Outcome:
    """success or error, as the hooks (onsuccess, onerror) and Snakemake's log tell it."""

    hooked: str | None = None  # what a hook (or a refused target) said, if one did
    logged_error: bool = False

    def note(self, outcome: str) -> None:
        self.hooked = outcome

    def final(self) -> str:
        """The outcome, once Snakemake is done."""
        if self.hooked is not None:
            return self.hooked
        # an exception nobody caught (Ctrl-C while the DAG is built) ends the run too
        ended_by_exception = getattr(sys, "last_value", None) is not None
        return "error" if self.logged_error or ended_by_exception else "success"

    def error_listener(self) -> logging.Handler:
        """A handler for Snakemake's logger: it logs every exception it ends a run with."""
        return _NoteErrors(self)


class _NoteErrors(logging.Handler):
    def __init__(self, outcome: Outcome):
        super().__init__(logging.ERROR)
        self.outcome = outcome

    def emit(self, record: logging.LogRecord) -> None:
        self.outcome.logged_error = True


@dataclass
class RunEnd:
    """One run's end: `workdir` is its working directory (--directory) as the Snakefile loads,
    `started` when Snakemake's process began, `storage` the purge's options for the outputs'
    bucket (none without one)."""

    cfg: dict
    workdir: str
    started: float
    storage: list[str] = field(default_factory=list)
    outcome: Outcome = field(default_factory=Outcome)

    def after_ingest_purge(self, cwd: str | None = None) -> None:
        """With `purge: after_ingest`, a successful scheduled run ends with a purge."""
        if self.cfg["purge"] != "after_ingest":
            return
        command = ["gridflow", "purge", "--config-json", json.dumps(self.cfg)]
        subprocess.run([*command, "--workdir", ".", *self.storage], check=True, cwd=cwd)

    def at_exit(self, listed: bool) -> None:
        """A scheduled run with nothing to do calls no hook: it purges here (so a purge cut
        short by a crash is finished by the next run, not the next one with new files), then
        every run writes its metrics. `listed`: the run listed upstream (asked for `all`)."""
        if self.outcome.hooked is None and listed:
            try:
                # at exit Snakemake has left --directory again: the run's paths are relative to it
                self.after_ingest_purge(cwd=self.workdir)
            except subprocess.CalledProcessError:
                print("gridflow: the purge failed (see above)", file=sys.stderr)
        wanted = self.cfg.get("metrics") or {}
        if wanted.get("textfile") or wanted.get("pushgateway"):
            self.write_metrics()

    def write_metrics(self) -> None:
        """With `metrics.textfile` or `metrics.pushgateway`, every run (one with nothing to do
        too) ends by writing metrics; a failure to write them is reported, never the run's own
        outcome."""
        config = json.dumps(self.cfg)
        command = ["gridflow", "metrics", "--config-json", config, "--workdir", self.workdir]
        seconds = f"{max(0.0, time.time() - self.started):.3f}"
        ran = subprocess.run(
            [*command, "--outcome", self.outcome.final(), "--run-seconds", seconds],
            cwd=self.workdir,
        )
        if ran.returncode:
            print("gridflow: the metrics were not written (see above)", file=sys.stderr)
