"""`gridflow verify --repair`: plan the rebuild of exactly the files that disagree, have
Snakemake accept it, and only then touch anything.

A repair names its targets as the rules spell them (the configured `data_root`, relative or
absolute, never a resolved path that no rule produces) and asks Snakemake for a dry run that
forces exactly those targets, and makes again the summaries (`cycle.json`) of their cycles.
Only when that dry run succeeds are rows without a marker deleted and the forced run started.
Nothing is removed beforehand: Snakemake replaces a forced output when its job runs, and a job
that fails leaves no output that looks complete.

Snakemake works in the project folder (`--project`, unless `--directory` is given), where a
relative data_root lies and where `gridflow run` works, holding the same run lock: a repair
and a scheduled run never overlap.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gridflow import formats, paths
from gridflow.config import loading as config
from gridflow.errors import GridflowError
from gridflow.ops import run_lock
from gridflow.ops.verify import Finding
from gridflow.sinks import clickhouse


class RepairRefused(GridflowError):
    """A rebuild Snakemake would not accept (or that would rebuild other files): nothing was
    removed."""


@dataclass(frozen=True)
class RepairPlan:
    targets: tuple[str, ...]  # rule outputs, spelled as the rules spell them, to make again
    summaries: tuple[str, ...]  # the existing cycle.json of their cycles, made again after them
    unmarked: tuple[Finding, ...]  # rows that no marker stands for: deleted, nothing rebuilt
    snakemake_args: tuple[str, ...]  # Snakefile, config files and the user's own options


def _option(args: list[str], *names: str) -> str | None:
    """The value of a Snakemake option given as `NAME VALUE` or `NAME=VALUE`."""
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
        for name in names:
            if name.startswith("--") and arg.startswith(f"{name}="):
                return arg.split("=", 1)[1]
    return None


def snakemake_args(project: str, configfiles: list[str], given: list[str]) -> tuple[str, ...]:
    """The repair's Snakemake options: the project's Snakefile and folder unless given (verify
    may run from any folder) and the config files verify read, spelled absolute."""
    args = []
    if _option(given, "-s", "--snakefile") is None:
        args += ["--snakefile", str((Path(project) / "Snakefile").resolve())]
    if _option(given, "-d", "--directory") is None:
        args += ["--directory", str(Path(project).resolve())]
    if configfiles:
        args += ["--configfile", *(str(Path(f).resolve()) for f in configfiles)]
    return (*args, *given)


def workdir_of(args: tuple[str, ...]) -> Path:
    """Where the repair's Snakemake works (and takes the run lock)."""
    return Path(_option(list(args), "-d", "--directory") or ".")


def _check_same_data_root(cfg: dict, args: tuple[str, ...]) -> None:
    """A relative data root is read below the project folder and rebuilt below Snakemake's
    --directory: they must be one folder, or the repair would rebuild another data root's
    files."""
    data_root = cfg["data_root"]
    if Path(data_root).is_absolute():
        return
    workdir = workdir_of(args)
    read, rebuilt = config.data_root(cfg).resolve(), (workdir / data_root).resolve()
    if read != rebuilt:
        raise RepairRefused(
            f"data_root {data_root!r} is relative: verify read {read} but Snakemake "
            f"(--directory {workdir}) would rebuild {rebuilt}; give --project the folder "
            "Snakemake works in, or an absolute data_root; nothing was removed"
        )


def _spelled(data_root: str, root: Path, path: Path) -> str:
    """A file under the data root as the rules name it: `{root}/cycles/...` with the root as
    configured (paths' templates)."""
    return f"{data_root}/{path.relative_to(root).as_posix()}"


def _step_of(raw: Path) -> str:
    found = paths.steps_of([f"{raw.name}.json"], formats.extensions())
    if not found:
        raise RepairRefused(f"{raw}: not a raw file name the rules make; nothing was removed")
    return found[0][0]


def _targets(cfg: dict, finding: Finding, root: Path) -> list[str]:
    """What to make again for one finding: the load of a file whose rows are wrong; the fetch
    of a file whose bytes changed, and every load made from those bytes."""
    data_root, path = cfg["data_root"], Path(finding.path)
    if finding.kind != "changed_bytes":
        return [_spelled(data_root, root, path)]
    names = dict(root=str(root), source=finding.source, cycle=path.parent.parent.name)
    loads = [paths.MARKER]
    if cfg["sinks"]["postgis"]["dsn"]:  # their rules exist only with the sink on
        loads += [paths.PG_MARKER, paths.ROUTES_MARKER]
    step = _step_of(path)
    markers = [Path(m.format(**names, step=step)) for m in loads]
    return [_spelled(data_root, root, p) for p in (path, *markers) if p == path or p.exists()]


def _summaries(cfg: dict, findings: list[Finding], root: Path) -> list[str]:
    """The cycle summaries of the cycles a repair touches, where one was made: stale after it
    unless made again."""
    found = set()
    for f in findings:
        if f.kind == "unmarked":
            continue
        cycle = Path(f.path).parents[2] if f.kind != "changed_bytes" else Path(f.path).parents[1]
        summary = Path(paths.CYCLE.format(root=root, source=f.source, cycle=cycle.name))
        if summary.exists():
            found.add(_spelled(cfg["data_root"], root, summary))
    return sorted(found)


def plan(cfg: dict, findings: list[Finding], args: tuple[str, ...]) -> RepairPlan:
    """What the repair will make again and delete; touches nothing."""
    _check_same_data_root(cfg, args)
    root = config.data_root(cfg).resolve()
    targets = sorted({t for f in findings if f.kind != "unmarked" for t in _targets(cfg, f, root)})
    summaries = _summaries(cfg, findings, root)
    unmarked = tuple(f for f in findings if f.kind == "unmarked")
    return RepairPlan(tuple(targets), tuple(summaries), unmarked, args)


def _forced(plan: RepairPlan) -> list[str]:
    # targets first: an option taking several values (--configfile) would swallow them;
    # --forcerun makes the damaged outputs again, and the summaries after them as their input
    # changed, and nothing else
    return [*plan.targets, *plan.summaries, "--forcerun", *plan.targets, *plan.snakemake_args]


def _first_reason(output: str) -> str:
    """Snakemake's reason in one line: its exception's name and the message under it."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if re.match(r"^\w*(Exception|Error)\b", line):
            rest = line.split(":", 1)[1].strip() if ":" in line else ""
            message = rest or (lines[i + 1] if i + 1 < len(lines) else "")
            return f"{line.split(':', 1)[0]}: {message}".rstrip(": ")
    return lines[-1] if lines else "Snakemake said nothing"


def accept(plan: RepairPlan) -> None:
    """Snakemake's dry run of exactly the forced targets; refuses the plan when it fails."""
    if not plan.targets:
        return
    command = [sys.executable, "-m", "snakemake", *_forced(plan), "--dry-run", "--quiet"]
    dry = subprocess.run(command, capture_output=True, text=True)
    if dry.returncode:
        raise RepairRefused(
            f"the rebuild of {len(plan.targets)} file(s) cannot be planned, nothing was "
            f"removed: {_first_reason(dry.stderr + dry.stdout)}"
        )


def delete_unmarked(plan: RepairPlan, client) -> None:
    """Rows that no load marker stands for: no rule makes them, so they go."""
    for finding in plan.unmarked:
        for table in (clickhouse.VALUES, clickhouse.FIELDS):
            client.command(
                f"DELETE FROM {table} WHERE source = %(s)s AND raw_key = %(k)s",
                parameters={"s": finding.source, "k": finding.raw_key},
                settings={"lightweight_deletes_sync": 2},
            )


@contextlib.contextmanager
def holding_the_run_lock(plan: RepairPlan) -> Iterator[None]:
    """`gridflow run`'s lock on Snakemake's folder, from the dry run to the last delete:
    busy (RunActive, exit 75) while a run works there."""
    from gridflow.ops import scheduled_run

    workdir = workdir_of(plan.snakemake_args)
    with run_lock.exclusive_run(workdir):
        scheduled_run.clear_stale_lock(workdir, list(plan.snakemake_args))
        yield


def rebuild(plan: RepairPlan) -> int:
    """The forced run, the run lock held (holding_the_run_lock); Snakemake's exit code."""
    from gridflow.ops import scheduled_run

    if not plan.targets:
        return 0
    return scheduled_run.run_held(_forced(plan))
