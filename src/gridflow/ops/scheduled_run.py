"""`gridflow run`: the scheduled entry point around `snakemake`.

It runs in the project's checkout (the current folder, or --project), refuses in one line what
Snakemake would end in a traceback (a missing --configfile, no Snakefile), keeps overlapping
runs apart (see run_lock), clears a stale Snakemake lock, maps the running environment onto
Snakemake's options (GRIDFLOW_PARALLEL_DOWNLOADS), and with an interval
(GRIDFLOW_POLL_INTERVAL or --every) runs again and again, for containers that stay up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from gridflow import logs
from gridflow.errors import UsageError
from gridflow.ops import run_lock

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


# Where Snakemake looks for the workflow when no --snakefile is given, in this order.
SNAKEFILES = ("Snakefile", "snakefile", "workflow/Snakefile", "workflow/snakefile")
CONFIGFILE_OPTIONS = ("--configfile", "--configfiles")


def _configfile_positions(snakemake_args: list[str]) -> list[int]:
    """Where the --configfile values are: Snakemake takes several after one option
    (`--configfile a.yaml b.yaml`), one after `--configfile=a.yaml`."""
    found, taking = [], False
    for i, arg in enumerate(snakemake_args):
        if arg in CONFIGFILE_OPTIONS:
            taking = True
        elif arg.startswith(tuple(f"{option}=" for option in CONFIGFILE_OPTIONS)):
            found.append(i)
            taking = False
        elif arg.startswith("-"):
            taking = False
        elif taking:
            found.append(i)
    return found


def _configfile_value(arg: str) -> str:
    return arg.split("=", 1)[1] if arg.startswith(CONFIGFILE_OPTIONS) else arg


def _configfiles(snakemake_args: list[str]) -> list[str]:
    return [_configfile_value(snakemake_args[i]) for i in _configfile_positions(snakemake_args)]


def _absolute_configfiles(snakemake_args: list[str]) -> list[str]:
    """The options with each --configfile made absolute from here, so that Snakemake started in
    another folder reads the files the user named."""
    changed = list(snakemake_args)
    for i in _configfile_positions(snakemake_args):
        arg = changed[i]
        absolute = str(Path(_configfile_value(arg)).absolute())
        changed[i] = f"{arg.split('=', 1)[0]}={absolute}" if arg.startswith("-") else absolute
    return changed


def _names_snakefile(snakemake_args: list[str]) -> bool:
    return any(
        arg in ("-s", "--snakefile") or arg.startswith("--snakefile=") for arg in snakemake_args
    )


def project_folder(project: str | Path) -> Path:
    folder = Path(project)
    if not folder.is_dir():
        raise RunError(f"--project {project}: no such folder")
    return folder


def checked_args(snakemake_args: list[str], project: Path | None) -> list[str]:
    """The Snakemake options for a run in `project` (None: here), after refusing in one line
    what would stop Snakemake: a --configfile that does not exist, no Snakefile to run. A
    --configfile is read from where the command is given, as by every gridflow command."""
    folder = Path(".") if project is None else project_folder(project)
    if project is not None:
        snakemake_args = _absolute_configfiles(snakemake_args)
    for path in _configfiles(snakemake_args):
        if not Path(path).is_file():
            raise RunError(f"configuration file {path} does not exist")
    if not _names_snakefile(snakemake_args) and not any(
        (folder / name).is_file() for name in SNAKEFILES
    ):
        if project is not None:
            raise RunError(f"--project {project}: no Snakefile there (not a gridflow checkout)")
        raise RunError(
            f"no Snakefile in {Path.cwd()}: run this from the gridflow checkout, "
            "or give --project DIR"
        )
    return snakemake_args


def cheap_verify(snakemake_args: list[str]) -> None:
    """Row counts per file against the markers before the run, as the loads recorded them
    (gridflow verify's cheap form: a load missing, half done or done twice; rows deleted by
    hand are `gridflow verify`'s): what disagrees is said, and `gridflow verify --repair`
    rebuilds it. Never stops the run."""
    from gridflow.config import loading as config
    from gridflow.errors import GridflowError
    from gridflow.ops import verify
    from gridflow.sinks import clickhouse

    try:
        cfg = config.load_files(_configfiles(snakemake_args), ".")
        client = clickhouse.connect(cfg["sinks"]["clickhouse"]["dsn"], wait_seconds=5)
        try:
            findings = verify.rows(cfg, client, recorded=True)
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


def run_held(snakemake_args: list[str]) -> int:
    """One Snakemake run for a caller that holds the run lock already (a repair)."""
    return _run(snakemake_command(snakemake_args))


def run(
    snakemake_args: list[str],
    every: float | None = None,
    verify: bool = False,
    project: Path | None = None,
) -> int:
    """Snakemake with these options, in `project` (None: here), one run at a time."""
    snakemake_args = checked_args(snakemake_args, project)
    interval = every or _positive_int("GRIDFLOW_POLL_INTERVAL")
    command = snakemake_command(snakemake_args)
    with contextlib.chdir(project or "."):  # Snakemake's folder, and the config's data root
        workdir = workdir_of(snakemake_args)
        if project is not None:  # a busy run names the folder, not "."
            workdir = Path.cwd() / workdir
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
