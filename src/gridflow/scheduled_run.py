"""`gridflow run`: the scheduled entry point around `snakemake`.

It keeps overlapping runs apart (see run_lock), clears a stale Snakemake lock, maps the running
environment onto Snakemake's options (GRIDFLOW_PARALLEL_DOWNLOADS), and with an interval
(GRIDFLOW_POLL_INTERVAL or --every) runs again and again, for containers that stay up.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gridflow import logs, run_lock
from gridflow.errors import UsageError

log = logging.getLogger(__name__)


class RunError(UsageError, ValueError):
    """A setting of the run that cannot be used."""


def _positive_int(variable: str) -> int | None:
    text = os.environ.get(variable, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise RunError(f"{variable}={text!r}: not a positive whole number")
    return int(text)


def workdir_of(snakemake_args: list[str]) -> Path:
    for i, arg in enumerate(snakemake_args):
        if arg in ("-d", "--directory") and i + 1 < len(snakemake_args):
            return Path(snakemake_args[i + 1])
        if arg.startswith("--directory="):
            return Path(arg.split("=", 1)[1])
    return Path(".")


def snakemake_command(snakemake_args: list[str]) -> list[str]:
    # after the user's options: --quiet takes any number of values, a target would be one
    command = [sys.executable, "-m", "snakemake", *snakemake_args, *_quietness(snakemake_args)]
    downloads = _positive_int("GRIDFLOW_PARALLEL_DOWNLOADS")
    if downloads:
        # --resources replaces the profile's list: the store's one-writer limit goes with it
        command += ["--resources", "chdb_store=1", f"downloads={downloads}"]
    return command


def _quietness(snakemake_args: list[str]) -> list[str]:
    """Snakemake's own chatter follows gridflow's -v/-q: its host block (date, platform, user)
    only with -v, and with -q its rule and progress lines go too; errors always show. Options
    the user gave Snakemake win."""
    given = {"-q", "--quiet", "--verbose"}
    if any(arg in given or arg.startswith("--quiet=") for arg in snakemake_args):
        return []
    if logs.verbosity() > 0:
        return []
    if logs.verbosity() < 0:
        return ["--quiet", "host", "rules", "progress"]
    return ["--quiet", "host"]


def _run(command: list[str]) -> int:
    """Run Snakemake; a SIGTERM (cron, systemd, Kubernetes stopping us) reaches it as SIGINT,
    the signal it stops cleanly on."""
    child = subprocess.Popen(command)
    previous = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGINT))
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)


def clear_stale_lock(workdir: Path, snakemake_args: list[str]) -> None:
    if not run_lock.snakemake_locks(workdir):
        return
    alive = run_lock.snakemake_processes(workdir)
    if alive:
        raise run_lock.RunActive(
            f"a Snakemake not started by `gridflow run` (pid {', '.join(map(str, alive))}) "
            f"is working in {workdir}"
        )
    log.info("clearing a stale Snakemake lock in %s (its run is gone)", workdir)
    if _run([sys.executable, "-m", "snakemake", *snakemake_args, "--unlock"]) != 0:
        raise RunError(f"`snakemake --unlock` failed in {workdir}")


def _configfiles(snakemake_args: list[str]) -> list[str]:
    found, taking = [], False
    for arg in snakemake_args:
        if arg in ("--configfile", "--configfiles"):
            taking = True
        elif arg.startswith("-"):
            taking = False
        elif taking:
            found.append(arg)
    return found


def cheap_verify(snakemake_args: list[str]) -> None:
    """Row counts per file against the markers before the run (gridflow verify's cheap form):
    what disagrees is said, and `gridflow verify --repair` rebuilds it. Never stops the run."""
    from gridflow import config, verify
    from gridflow.errors import GridflowError
    from gridflow.sinks import clickhouse

    try:
        cfg = config.load_files(_configfiles(snakemake_args), ".")
        client = clickhouse.connect(cfg["sinks"]["clickhouse"]["dsn"], wait_seconds=5)
        try:
            findings = verify.rows(cfg, client)
        finally:
            client.close()
    except (GridflowError, OSError) as exc:
        log.warning("rows not verified (%s)", exc)
        return
    for finding in findings[:10]:
        log.warning("verify: %s", verify.describe(finding))
    if findings:
        log.warning(
            "verify: %d file(s) disagree with their markers; `gridflow verify --repair` "
            "rebuilds them",
            len(findings),
        )


def run(snakemake_args: list[str], every: float | None = None, verify: bool = False) -> int:
    interval = every or _positive_int("GRIDFLOW_POLL_INTERVAL")
    command = snakemake_command(snakemake_args)
    workdir = workdir_of(snakemake_args)
    with run_lock.exclusive_run(workdir):
        while True:
            clear_stale_lock(workdir, snakemake_args)
            if verify:
                cheap_verify(snakemake_args)
            code = _run(command)
            if not interval:
                return code
            log.info("exit %s; next run in %g s", code, interval)
            time.sleep(interval)
