"""A schedule left running: step the clock, let a mirror publish each new cycle, run the
workflow (which purges after every ingest), and measure what is kept. Used by the tests (a few
simulated days) and by `bench/purge_simulation.py` (30 days)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from devkit import demo
from gridflow import paths

GFS_KEY = demo.GFS_KEY

# Snakemake imports every executor plugin installed, and the SLURM one runs `scontrol show
# config` as it loads: about 9 s where SLURM's client tools are installed but no controller
# answers. A run on the local executor needs nothing from SLURM; with an empty configuration
# scontrol fails at once and the plugin keeps its defaults (it is not the executor).
LOCAL_EXECUTOR_ENV = {"SLURM_CONF": os.devnull}


@dataclass
class Step:
    now: datetime
    run: subprocess.CompletedProcess


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def run_snakemake(
    snakefile: Path, workdir: Path, *args: str, env: dict | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    """One bounded Snakemake run on the local executor (SIGINT at the timeout: SIGTERM does
    not stop Snakemake)."""
    cmd = [
        "timeout",
        "-s",
        "INT",
        str(timeout),
        "snakemake",
        "-s",
        str(snakefile),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        *args,
    ]
    env = (env or os.environ) | {"PYTHONWARNINGS": "ignore"} | LOCAL_EXECUTOR_ENV
    return subprocess.run(cmd, capture_output=True, text=True, env=env)


def run_schedule(
    snakefile: Path,
    workdir: Path,
    mirror: Path,
    mirror_url: str,
    samples: Path,
    start: datetime,
    steps: int,
    retention_hours: int,
) -> Iterator[Step]:
    """Every 6 h: publish the cycle at `now`, then run the workflow as cron would."""
    gfs = demo.grib_messages(samples / demo.GFS_SAMPLE)
    config = workdir / "simulation.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "data_root": "data",
                "sources_enabled": ["gfs"],
                "purge": "after_ingest",
                "fetch": {"settle_seconds": 0, "max_retries": 1, "timeout_seconds": 10},
                "sources": {
                    "gfs": {
                        "url": mirror_url,
                        "forecast_hours": "0",
                        "window_hours": 6,
                        "retention_hours": retention_hours,
                        "select": [":TMP:2 m above ground:"],
                    }
                },
            }
        )
    )
    for i in range(steps):
        now = start + timedelta(hours=6 * i)
        demo.write_object(mirror, GFS_KEY.format(cycle=now, step=0), gfs, now, 0)
        run = run_snakemake(
            snakefile,
            workdir,
            "--configfile",
            str(config),
            "--config",
            f"now={now:%Y-%m-%dT%H:%M:%SZ}",
        )
        yield Step(now, run)


def kept_cycles(retention_hours: int, now: datetime, start: datetime) -> set[str]:
    """Cycles a correct archive holds at `now`: published (GFS needs 3 h 45 min), inside the
    window when they were, and not yet past retention."""
    cutoff = now - timedelta(hours=retention_hours)
    cycles = set()
    cycle = start
    while cycle + timedelta(minutes=225) <= now:
        if cycle >= cutoff:
            cycles.add(paths.cycle_id(cycle))
        cycle += timedelta(hours=6)
    return cycles
