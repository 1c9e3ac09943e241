"""`gridflow run`: overlapping runs, stale locks, the GRIDFLOW_* environment, the checkout it
runs in (--project), and the options refused before Snakemake starts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from tests_support import (
    REPO,
    SMALL_DEMO_ROWS,
    build_small_demo,
    checkout_at,
    rows_by_source,
)

from gridflow.config import loading as config
from gridflow.ops.run_lock import ANOTHER_RUN_ACTIVE


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


@pytest.mark.slow
def test_two_runs_started_together_one_works_the_other_steps_aside(workdir):
    first, second = _gridflow_run(workdir), _gridflow_run(workdir)
    results = [(p.wait(), p.stderr.read()) for p in (first, second)]
    codes = sorted(code for code, _ in results)
    assert codes == [0, ANOTHER_RUN_ACTIVE], [err[-2000:] for _, err in results]
    refused = next(err for code, err in results if code == ANOTHER_RUN_ACTIVE)
    lines = refused.strip().splitlines()
    assert len(lines) == 1 and "another gridflow run is active in" in lines[0], refused
    assert rows_by_source(workdir) == SMALL_DEMO_ROWS


@pytest.mark.slow
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
    from gridflow.ops.scheduled_run import RunError, snakemake_command

    monkeypatch.setenv("GRIDFLOW_PARALLEL_DOWNLOADS", "8")
    assert snakemake_command(["--cores", "2"])[-3:] == [
        "--resources",
        "chdb_store=1",
        "downloads=8",
    ]
    monkeypatch.setenv("GRIDFLOW_PARALLEL_DOWNLOADS", "many")
    with pytest.raises(RunError, match="GRIDFLOW_PARALLEL_DOWNLOADS='many'"):
        snakemake_command([])


@pytest.fixture
def refused(capsys, monkeypatch):
    """The one line `gridflow run` exits 2 with, before any Snakemake starts (gridflow's main
    in this process, started in `cwd`)."""
    from gridflow.cli import main as cli

    def run(*options: str, cwd: Path) -> str:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit:
            cli.main(["run", *options])
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit.value.code == 2 and len(lines) == 1, (exit.value.code, lines)
        assert not (cwd / ".snakemake").exists()  # neither Snakemake nor the run lock started
        return lines[0]

    return run


def test_a_configfile_that_does_not_exist_is_one_line_before_snakemake(tmp_path, refused):
    checkout = checkout_at(tmp_path / "checkout")
    (tmp_path / "real.yaml").write_text("now: 2025-03-12T12:00:00Z\n")
    line = refused("--cores", "1", "--configfile", "nope.yaml", cwd=checkout)
    assert line == "gridflow run: error: configuration file nope.yaml does not exist"
    # Snakemake takes several files after one --configfile: each is checked
    real = str(tmp_path / "real.yaml")
    line = refused("--configfile", real, "also-nope.yaml", "--cores", "1", cwd=checkout)
    assert line.endswith("configuration file also-nope.yaml does not exist")
    line = refused("--configfile=gone.yaml", "--cores", "1", cwd=checkout)
    assert line.endswith("configuration file gone.yaml does not exist")
    # with --project the files are read from where the command was given
    options = ("--project", str(checkout), "--configfile", "real.yaml", "x.yaml")
    line = refused(*options, cwd=tmp_path)
    assert line.endswith(f"configuration file {tmp_path / 'x.yaml'} does not exist")
    assert not (checkout / ".snakemake").exists()


def test_run_outside_the_checkout_says_where_to_run_it(tmp_path, refused):
    checkout = checkout_at(tmp_path / "checkout")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    line = refused("--cores", "1", cwd=elsewhere)
    assert line == (
        f"gridflow run: error: no Snakefile in {elsewhere}: run this from the gridflow "
        "checkout, or give --project DIR"
    )
    line = refused("--project", str(elsewhere), "--cores", "1", cwd=checkout)
    assert line.endswith(f"--project {elsewhere}: no Snakefile there (not a gridflow checkout)")
    line = refused("--cores", "1", "--project", str(tmp_path / "gone"), cwd=checkout)
    assert line.endswith(f"--project {tmp_path / 'gone'}: no such folder")


def test_run_options_are_its_own_wherever_they_are_given():
    from gridflow.cli.main import _run_options

    own, snakemake = _run_options(["--cores", "2", "--project", "/srv/gf", "--every=60", "-n"])
    assert own == ["--project", "/srv/gf", "--every=60"]
    assert snakemake == ["--cores", "2", "-n"]
    assert _run_options(["--", "--project", "x"]) == ([], ["--", "--project", "x"])


@pytest.mark.slow
def test_run_with_project_runs_in_thatcheckout_at(samples, tmp_path):
    checkout = checkout_at(tmp_path / "checkout")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    build_small_demo(samples, tmp_path / "mirror", elsewhere / "demo.yaml", tmp_path / "data")
    settings = yaml.safe_load((elsewhere / "demo.yaml").read_text())
    settings["data_root"] = "data"  # relative: to Snakemake's working directory
    (elsewhere / "demo.yaml").write_text(yaml.safe_dump(settings))

    done = subprocess.run(
        [
            *("timeout", "-s", "INT", "600", "gridflow", "run", "--cores", "2"),
            *("--project", "../checkout", "--configfile", "demo.yaml"),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert rows_by_source(checkout) == SMALL_DEMO_ROWS
    assert (checkout / ".snakemake" / "gridflow-run.lock").exists()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["demo.yaml"]
