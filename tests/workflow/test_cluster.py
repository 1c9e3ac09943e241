"""profiles/cluster on a real single-node SLURM: the demo's fetch and shred jobs run as SLURM
jobs (grouped), the loads on the submitting host, and the same rows land as in a local run."""

from __future__ import annotations

import subprocess

import pytest
from tests_support import REPO, SMALL_DEMO_ROWS, build_small_demo, rows_by_source

pytestmark = [pytest.mark.slurm]


def test_demo_runs_through_the_cluster_profile(slurm, samples, tmp_path):
    assert slurm is not None, "SLURM is not installed: run scripts/ensure-slurm (as root)"
    build_small_demo(samples, tmp_path / "mirror", tmp_path / "demo.yaml", tmp_path / "data")
    run = subprocess.run(
        [
            *("timeout", "-s", "INT", "600", "gridflow", "run"),
            *("-s", str(REPO / "Snakefile"), "--profile", str(REPO / "profiles/cluster")),
            *("--configfile", str(tmp_path / "demo.yaml")),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:] + slurm.logs()
    submitted = [line for line in out.splitlines() if "submitted with SLURM jobid" in line]
    # 6 files, fetch + shred each: one grouped SLURM job instead of 12
    assert len(submitted) == 1, submitted
    jobs = subprocess.run(
        ["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True
    ).stdout
    assert "JobState=COMPLETED" in jobs
    assert list((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert rows_by_source(tmp_path) == SMALL_DEMO_ROWS  # as the local run
