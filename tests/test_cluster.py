"""profiles/cluster on a real single-node SLURM: the demo's fetch and shred jobs run as SLURM
jobs (grouped), the loads on the submitting host, and the same rows land as in a local run."""

from __future__ import annotations

import subprocess

from tests_support import REPO

from gridflow import demo
from gridflow.sinks import clickhouse

NOW = "2025-03-12T12:00:00Z"
ONE_RUN = {"gfs": 4 * 5 * 10512, "hrrr": 2 * 1905141}  # what the local demo run loads


def test_demo_runs_through_the_cluster_profile(slurm, samples, tmp_path):
    assert slurm is not None, "SLURM is not installed: run scripts/ensure-slurm (as root)"
    demo.build(
        samples,
        tmp_path / "mirror",
        NOW,
        tmp_path / "demo.yaml",
        tmp_path / "data",
        gfs_steps=(0, 3),
        hrrr_steps=(1,),
        scans=False,
    )
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
    store = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    rows = dict(store.query("SELECT source, count() FROM grid_data GROUP BY source").result_rows)
    store.close()
    assert rows == ONE_RUN
