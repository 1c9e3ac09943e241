"""`gridflow run`: overlapping runs, stale locks, and the GRIDFLOW_* environment."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
import yaml
from tests_support import REPO, SMALL_DEMO_ROWS, build_small_demo, rows_by_source

from gridflow import config
from gridflow.run_lock import ANOTHER_RUN_ACTIVE

pytestmark = [pytest.mark.slow]


@pytest.fixture
def workdir(samples, tmp_path):
    build_small_demo(samples, tmp_path / "mirror", tmp_path / "demo.yaml", tmp_path / "data")
    return tmp_path


def _gridflow_run(workdir, env=None) -> subprocess.Popen:
    command = ["timeout", "-s", "INT", "600", "gridflow", "run", "-s", str(REPO / "Snakefile")]
    return subprocess.Popen(
        [*command, "--cores", "2", "--configfile", str(workdir / "demo.yaml")],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def test_two_runs_started_together_one_works_the_other_steps_aside(workdir):
    first, second = _gridflow_run(workdir), _gridflow_run(workdir)
    results = [(p.wait(), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, ANOTHER_RUN_ACTIVE], [err[-2000:] for _, err in results]
    refused = next(err for code, err in results if code == ANOTHER_RUN_ACTIVE)
    lines = refused.strip().splitlines()
    assert len(lines) == 1 and "another gridflow run is active in" in lines[0], refused
    assert rows_by_source(workdir) == SMALL_DEMO_ROWS


def test_a_killed_run_leaves_a_lock_the_next_run_clears(workdir):
    killed = subprocess.Popen(
        [
            *("snakemake", "-s", str(REPO / "Snakefile"), "--cores", "1"),
            *("--configfile", str(workdir / "demo.yaml")),
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    locks = workdir / ".snakemake" / "locks"
    deadline = time.monotonic() + 120
    while not list(locks.glob("*.lock")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(locks.glob("*.lock")), "snakemake never took its lock"
    os.killpg(killed.pid, signal.SIGKILL)  # no clean-up: the lock stays
    killed.wait()
    assert list(locks.glob("*.lock"))

    run = _gridflow_run(workdir)
    code, err = run.wait(), run.stderr.read()
    assert code == 0, err[-3000:]
    assert "clearing a stale Snakemake lock" in err
    assert rows_by_source(workdir) == SMALL_DEMO_ROWS


def test_environment_overrides_the_config_files(monkeypatch):
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    monkeypatch.setenv("GRIDFLOW_ENABLED_SOURCES", "gfs, mrms")
    monkeypatch.setenv("GRIDFLOW_CLEANUP_ENABLED", "yes")
    monkeypatch.setenv("GRIDFLOW_MAX_RETRIES", "2")
    cfg = config.resolve(raw, REPO)
    assert cfg["sources_enabled"] == ["gfs", "mrms"]
    assert cfg["purge"] == "after_ingest"
    assert cfg["fetch"]["max_retries"] == 2
    monkeypatch.setenv("GRIDFLOW_CLEANUP_ENABLED", "sometimes")
    with pytest.raises(config.ConfigError, match="GRIDFLOW_CLEANUP_ENABLED='sometimes'"):
        config.resolve(raw, REPO)
    monkeypatch.delenv("GRIDFLOW_CLEANUP_ENABLED")
    monkeypatch.setenv("GRIDFLOW_ENABLED_SOURCES", "gfs,nosuch")
    with pytest.raises(config.ConfigError, match="source 'nosuch' has no file"):
        config.resolve(raw, REPO)


def test_parallel_downloads_keep_the_store_limit(monkeypatch):
    from gridflow.scheduled_run import RunError, snakemake_command

    monkeypatch.setenv("GRIDFLOW_PARALLEL_DOWNLOADS", "8")
    assert snakemake_command(["--cores", "2"])[-3:] == [
        "--resources",
        "chdb_store=1",
        "downloads=8",
    ]
    monkeypatch.setenv("GRIDFLOW_PARALLEL_DOWNLOADS", "many")
    with pytest.raises(RunError, match="GRIDFLOW_PARALLEL_DOWNLOADS='many'"):
        snakemake_command([])
