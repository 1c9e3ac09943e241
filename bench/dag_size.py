"""(g) `snakemake -n` over the shipped GFS and HRRR schedules with their full forecast hours: the
default catch-up windows and a 24-hour one (GFS 209 steps x 4 cycles, HRRR 49/19 steps x 24
cycles), with everything pending (cold) and with everything done (steady state), against a bare
Snakefile of the same jobs (fetch -> shred -> load per file, one summary per cycle): Snakemake's
own cost for that DAG, the floor gridflow's plan and input functions add to.

The mirror holds a placeholder object and `.idx` for every file of the window (a dry run only
lists them); the steady state is made by creating every output the cold DAG names, in stage
order, so mtimes say each is newer than its inputs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import REPO, report
from devkit.simulate import LOCAL_EXECUTOR_ENV

NOW = datetime(2025, 3, 12, 23, 59, tzinfo=UTC)
SOURCES = ("gfs", "hrrr")
STAGES = ("/raw/", "/loaded/", "cycle.json")  # the order outputs are made in


def _hours(spec: str) -> list[int]:
    from gridflow.sources.timetable import parse_hours

    return parse_hours(spec)


def _publish(mirror: Path, name: str, window_hours: int) -> int:
    """Placeholders for every file of `name`'s cycles in the window; returns how many."""
    src = yaml.safe_load((REPO / "config" / "sources" / f"{name}.yaml").read_text())
    made, cycle = 0, NOW.replace(minute=0) - timedelta(hours=window_hours)
    while cycle <= NOW:
        if cycle.hour in src["cycles"]:
            spec = (src.get("forecast_hours_by_cycle") or {}).get(cycle.hour, src["forecast_hours"])
            for step in _hours(spec):
                path = mirror / name / src["key"].format(cycle=cycle, step=step)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"GRIB")
                path.with_name(path.name + ".idx").write_text("1:0:d=0:TMP:2 m above ground:\n")
                made += 1
        cycle += timedelta(hours=1)
    old = (NOW - timedelta(days=2)).timestamp()  # published long ago, past any delay
    for path in (mirror / name).rglob("*"):
        os.utime(path, (old, old))
    return made


def _config(work: Path, mirror: Path, window: int | None) -> Path:
    sources = {}
    for name in SOURCES:
        sources[name] = {"url": f"file://{mirror / name}"}
        if window:
            sources[name].update(window_hours=window, retention_hours=max(window, 72))
    cfg = {
        "now": NOW.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data_root": "data",
        "fetch": {"settle_seconds": 0},
        "sources_enabled": list(SOURCES),
        "sources": sources,
    }
    path = work / "dag.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _snakemake(work: Path, snakefile: Path, *args: str) -> tuple[float, str]:
    # the local profile's dry run: SLURM's clients pointed at nothing, as the README says
    env = {k: v for k, v in os.environ.items() if k != "GRIDFLOW_PG_DSN"} | LOCAL_EXECUTOR_ENV
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(work)]
    start = time.perf_counter()
    done = subprocess.run(
        [*command, "--cores", "2", *args], capture_output=True, text=True, env=env, cwd=work
    )
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"snakemake failed: {done.stderr[-2000:]}")
    return seconds, done.stdout + done.stderr


def _jobs(said: str) -> int:
    for line in said.splitlines():
        if line.strip().startswith("total"):
            return int(line.split()[1])
    return 0


def _make_outputs(work: Path, snakefile: Path, config: list[str]) -> int:
    """Every output the DAG names, created stage by stage with rising mtimes; returns how many
    raw files the DAG fetches."""
    _, said = _snakemake(work, snakefile, "--summary", *config)
    outputs = [line.split("\t")[0] for line in said.splitlines()[1:] if "\t" in line]
    stamp = time.time() - 3600
    for stage in STAGES:
        for name in outputs:
            if stage in name and not name.endswith(".parquet"):
                path = work / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("{}")
                os.utime(path, (stamp, stamp))
        stamp += 60
    return sum(1 for name in outputs if "/raw/" in name and name.endswith(".grib2"))


def _bare_snakefile(work: Path, cycles: dict[str, int]) -> Path:
    """The same jobs with nothing of gridflow's: static file lists, touch commands."""
    lines = [f"FILES = {sorted((c, s) for c, n in cycles.items() for s in range(n))!r}"]
    lines.append(f"CYCLES = {sorted(cycles)!r}")
    lines.append(
        "rule all:\n    input: expand('data/{c}/cycle.json', c=CYCLES)\n"
        "rule fetch:\n    output: 'data/{c}/raw/{s}.grib2'\n    shell: 'touch {output}'\n"
        "rule shred:\n    input: rules.fetch.output\n    output: temp('data/{c}/shred/{s}.pq')\n"
        "    shell: 'touch {output}'\n"
        "rule load:\n    input: rules.shred.output\n    output: 'data/{c}/loaded/{s}.json'\n"
        "    shell: 'touch {output}'\n"
        "rule cycle:\n    input: lambda w: [f'data/{w.c}/loaded/{s}.json' for c, s in FILES "
        "if c == w.c]\n    output: 'data/{c}/cycle.json'\n    shell: 'touch {output}'\n"
    )
    path = work / "Snakefile"
    path.write_text("\n".join(lines))
    return path


def _measure(window: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work, mirror = Path(tmp) / "work", Path(tmp) / "mirror"
        work.mkdir()
        files = sum(_publish(mirror, n, window or 24) for n in SOURCES)
        config = ["--configfile", str(_config(work, mirror, window))]
        snakefile = REPO / "Snakefile"
        cold, said = _snakemake(work, snakefile, "-n", *config)
        jobs = _jobs(said)
        planned = _make_outputs(work, snakefile, config)
        steady, said = _snakemake(work, snakefile, "-n", *config)
        if "Nothing to be done" not in said:
            raise SystemExit(f"the steady state still has work: {said[-1500:]}")
        cycles: dict[str, int] = {}
        for path in (work / "data" / "cycles").glob("*/*/loaded/clickhouse/*.json"):
            key = f"{path.parents[3].name}-{path.parents[2].name}"
            cycles[key] = cycles.get(key, 0) + 1
        bare_dir = Path(tmp) / "bare"
        bare_dir.mkdir()
        bare = _bare_snakefile(bare_dir, cycles)
        bare_cold, _ = _snakemake(bare_dir, bare, "-n")
        subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(bare), "-d", str(bare_dir), "-c2", "-q"],
            capture_output=True,
            check=True,
        )
        bare_steady, _ = _snakemake(bare_dir, bare, "-n")
        empty_dir = Path(tmp) / "empty"
        empty_dir.mkdir()
        (empty_dir / "Snakefile").write_text("rule all:\n    output: 'x'\n    shell: 'touch x'\n")
        start_up, _ = _snakemake(empty_dir, empty_dir / "Snakefile", "-n")
    name = f"window {window} h" if window else "default windows"
    report(
        f"snakemake -n, {name}, cold / bare Snakefile",
        cold / bare_cold,
        f"{cold:.1f} s vs {bare_cold:.1f} s for {jobs} jobs, {planned} of the {files} files "
        f"published in 24 h; an empty workflow's dry run takes {start_up:.1f} s here (goal <= 5 s)",
    )
    report(
        f"snakemake -n, {name}, steady state / bare Snakefile",
        steady / bare_steady,
        f"{steady:.1f} s vs {bare_steady:.1f} s, nothing to be done over {planned} files",
    )


def main() -> None:
    for window in (None, 24):
        _measure(window)


if __name__ == "__main__":
    main()
