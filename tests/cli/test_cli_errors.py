"""Every command, given bad input, says what is wrong in one line and exits with its code:
2 bad usage or configuration, 3 upstream unreachable, 1 the work failed. Never a traceback."""

from __future__ import annotations

import json
import re

import pytest
from tests_support import REPO, gridflow


@pytest.fixture
def files(tmp_path, samples):
    (tmp_path / "bad.yaml").write_text("sources: {gfs: {cycles: [0, 30]}}\n")
    (tmp_path / "cut.grib2").write_bytes((samples / "gfs.complex.grib2").read_bytes()[:5000])
    (tmp_path / "cut.grib2.idx").write_text("1:0:d=2020102600:HGT:500 mb:24 hour fcst:\n")
    meta = {"source": "t", "run_id": "r", "raw_key": "k", "format": "grib2"}
    (tmp_path / "cut.grib2.json").write_text(json.dumps(meta))
    (tmp_path / "empty").mkdir()  # a store with nothing in it yet
    return tmp_path


DEAD_PG = "postgresql://nobody:secret@127.0.0.1:9/none"
NO_STORE = "no store at .*: run the workflow first"  # a reading command creates none


def cases(t):
    place = ["--variable", "TMP", "--level", "surface", "--lat", "1", "--lon", "2"]
    store = ["--dsn", f"chdb://{t}/store"]
    shred = ["--raw", str(t / "cut.grib2"), "--idx", str(t / "cut.grib2.idx")]
    shred += ["--sidecar", str(t / "cut.grib2.json"), "--out", str(t / "o.parquet")]
    return [
        (["point", "--source", "gfs", *place, *store], 3, NO_STORE),
        (["latest", "--source", "gfs", *place, *store], 3, NO_STORE),
        (["sql", "--dsn", f"chdb://{t}/empty", "SELEC nonsense"], 2, "syntax error at character 7"),
        (["plan", "--configfile", str(t / "bad.yaml")], 2, "cycles\\[1\\]: 30 is greater"),
        (["purge", "--dry-run", "--configfile", str(t / "nope.yaml")], 2, "does not exist"),
        (["db", "migrate", "--dsn", "http://127.0.0.1:9"], 3, "cannot reach ClickHouse"),
        (["fetch", "--spec", "{not json", *["--raw", "a", "--idx", "b", "--sidecar", "c"]], 2, ""),
        (["shred", *shred], 1, "cut.grib2"),
        (["shred", *shred, "--options", "[1"], 2, "JSON"),
        (
            ["load", "--parquet", "p", "--sidecar", str(t / "none.json"), *store, "--marker", "m"],
            1,
            "none.json",
        ),
        (["trace", "--source", "gfs", *place, *store], 2, "tracing needs the catalog"),
        (["routes", "--dsn", DEAD_PG, "--marker", str(t / "m")], 3, "cannot connect"),
        (["cycle-summary", "--out", str(t / "s.json"), str(t / "none.json")], 1, "none.json"),
        (["run", "--every", "soon"], 2, "soon"),
    ]


def test_no_command_prints_usage():
    result = gridflow()
    assert result.returncode == 2 and "usage: gridflow" in result.stderr
    assert "Traceback" not in result.stderr


BAD_CLOCKS = [("2025-13-45T00:00:00Z", "month must be in 1..12"), ("2025-03-12", "not a time")]


@pytest.mark.parametrize("command", ["plan", "status", "purge"])
@pytest.mark.parametrize("clock, says", BAD_CLOCKS)
def test_a_bad_clock_is_one_line_naming_the_value_and_the_form(command, clock, says, tmp_path):
    """Item 8: `--now` goes through the configuration's clock parser: a month 13 is no
    "internal error", a date alone is refused by the command as by the configuration."""
    result = gridflow(command, "--now", clock, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"gridflow {command}: error: argument --now: '{clock}'")
    assert says in result.stderr and "YYYY-MM-DDTHH:MM[:SS]Z" in result.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("clock, says", BAD_CLOCKS)
def test_a_bad_clock_in_a_config_file_is_named_the_same_way(clock, says, tmp_path):
    (tmp_path / "now.yaml").write_text(f"now: {clock}\n")
    result = gridflow("plan", "--configfile", str(tmp_path / "now.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "gridflow plan: error: invalid configuration:",
        f"  config.now: '{clock}' " + result.stderr.split(f"'{clock}' ", 1)[1].strip(),
    ]
    assert says in result.stderr and "YYYY-MM-DDTHH:MM[:SS]Z" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("clock, says", BAD_CLOCKS)
def test_snakemake_with_a_bad_clock_says_so_without_a_traceback(clock, says, tmp_path):
    """Item 8, in the workflow: `--config now=...` ends Snakemake with the configuration's
    message and exit 2, not a traceback from common.smk."""
    from devkit.simulate import run_snakemake

    run = run_snakemake(REPO / "Snakefile", tmp_path, "-n", "--config", f"now={clock}")
    assert run.returncode == 2, run.stderr[-2000:]
    said = run.stdout + run.stderr
    assert "Traceback" not in said and 'File "' not in said and "common.smk" not in said
    assert f"gridflow: invalid configuration:\n  config.now: '{clock}'" in said
    assert says in said and "YYYY-MM-DDTHH:MM[:SS]Z" in said


def test_every_command_fails_in_one_line(files):
    for args, code, says in cases(files):
        result = gridflow(*args)
        where = f"gridflow {' '.join(args)}: {result.stderr}"
        assert "Traceback" not in result.stderr, where
        assert result.returncode == code, where
        lines = result.stderr.strip().splitlines()
        # one line; a configuration error adds one indented line per bad key
        assert lines[0].startswith(f"gridflow {args[0]}"), where
        assert all(line.startswith("  config.") for line in lines[1:]), where
        assert re.search(says, result.stderr), where
        assert "secret" not in result.stderr, where


def _hostile_targets(outside) -> list[str]:
    """Target paths that try to leave the data root (`data` under the working directory)."""
    return [
        "../outside/cycles/gfs/2025031206/cycle.json",
        "data/cycles/gfs/2025031206/../../../../outside/cycle.json",
        "data/cycles/gfs/../../../outside/2025031206/cycle.json",
        "data/cycles/gfs/2025031206/raw/f000.grib2/../../../../../../outside.grib2",
        "data/cycles/gfs/2025031206/raw/..%2F..%2Foutside.grib2",
        f"{outside}/cycles/gfs/2025031206/cycle.json",
    ]


@pytest.mark.slow
def test_targets_that_leave_the_data_root_are_refused(samples, tmp_path):
    from tests_support import build_small_demo

    from devkit.simulate import run_snakemake

    work, outside = tmp_path / "work", tmp_path / "outside"
    work.mkdir()
    build_small_demo(samples, tmp_path / "mirror", work / "demo.yaml", work / "data")
    for target in _hostile_targets(outside):
        run = run_snakemake(
            REPO / "Snakefile", work, target, "--configfile", str(work / "demo.yaml")
        )
        said = run.stdout + run.stderr
        assert run.returncode != 0 and "No rule to produce" in said, (target, said[-1000:])
        assert not outside.exists() and not (tmp_path / "outside.grib2").exists(), target
    assert not (work / "data" / "cycles").exists()  # and nothing inside either


@pytest.mark.slow
def test_a_mistyped_target_is_one_line_naming_it(samples, tmp_path):
    """Item 13: a target with the shape of a rule's output whose wildcards name nothing
    (`.../loaded/clickhouse/nope.json`) is refused in one line naming the folder and what was
    expected, exit 2; no `Unknown format code 'd'` from deep inside a family. The dry run
    that finds out writes nothing (item 15: no listing cache either)."""
    from tests_support import build_small_demo

    from devkit.simulate import run_snakemake

    work = tmp_path / "work"
    work.mkdir()
    build_small_demo(samples, tmp_path / "mirror", work / "demo.yaml", work / "data")
    cycles = work / "data" / "cycles"
    wrong = {
        cycles / "gfs/2025031206/loaded/clickhouse/nope.json": "gfs has no step 'nope'",
        cycles / "gfs/2025031206/raw/f003.nc": "gfs's f003 is a .grib2 file, not .nc",
        cycles / "gfs/2025031205/cycle.json": "gfs has no cycle 2025031205",
        cycles / "gfs/2025133306/cycle.json": "cycle '2025133306' is not a time",
        cycles / "nope/2025031206/cycle.json": "no source 'nope' is enabled",
        cycles / "gfs/2025031206/job/f003.submitted.json": "gfs has no jobs",
    }
    for target, says in wrong.items():
        run = run_snakemake(
            REPO / "Snakefile", work, "-n", str(target), "--configfile", str(work / "demo.yaml")
        )
        said = run.stdout + run.stderr
        assert run.returncode == 2, (target, said[-2000:])
        assert "Traceback" not in said and "Exception" not in said, said[-2000:]
        folder = target.relative_to(cycles).parts[:2]
        line = f"gridflow: nothing makes a target in {cycles.joinpath(*folder)}: {says}"
        assert line in said, said[-2000:]
    assert not list((work / "data").rglob("listing.json"))
    ready = run_snakemake(REPO / "Snakefile", work, "-n", "--configfile", str(work / "demo.yaml"))
    assert ready.returncode == 0 and "gridflow plan: 6 file(s) published" in ready.stderr
    assert not list((work / "data").rglob("listing.json"))  # a dry run is a preview


def test_outside_the_checkout_a_command_names_the_project_option(tmp_path):
    """`gridflow db migrate` (any command reading the configuration) run away from the
    checkout says where the configuration should be and how to point at it."""
    result = gridflow("db", "migrate", "--dsn", f"chdb://{tmp_path}/store", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        "gridflow db migrate: error: configuration file config/config.yaml does not exist: "
        "run this from the gridflow checkout, or give --project DIR"
    )
    assert not (tmp_path / "store").exists()
