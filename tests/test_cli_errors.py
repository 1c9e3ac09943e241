"""Every command, given bad input, says what is wrong in one line and exits with its code:
2 bad usage or configuration, 3 upstream unreachable, 1 the work failed. Never a traceback."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from tests_support import REPO


def _run(*args: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run(["gridflow", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def files(tmp_path, samples):
    (tmp_path / "bad.yaml").write_text("sources: {gfs: {cycles: [0, 30]}}\n")
    (tmp_path / "cut.grib2").write_bytes((samples / "gfs.complex.grib2").read_bytes()[:5000])
    (tmp_path / "cut.grib2.idx").write_text("1:0:d=2020102600:HGT:500 mb:24 hour fcst:\n")
    meta = {"source": "t", "run_id": "r", "raw_key": "k", "format": "grib2"}
    (tmp_path / "cut.grib2.json").write_text(json.dumps(meta))
    return tmp_path


DEAD_PG = "postgresql://nobody:secret@127.0.0.1:9/none"


def cases(t):
    place = ["--variable", "TMP", "--level", "surface", "--lat", "1", "--lon", "2"]
    store = ["--dsn", f"chdb://{t}/store"]
    shred = ["--raw", str(t / "cut.grib2"), "--idx", str(t / "cut.grib2.idx")]
    shred += ["--sidecar", str(t / "cut.grib2.json"), "--out", str(t / "o.parquet")]
    return [
        (["point", "--source", "gfs", *place, *store], 2, "nothing is loaded in chdb://"),
        (["latest", "--source", "gfs", *place, *store], 2, "nothing is loaded in chdb://"),
        (["sql", *store, "SELEC nonsense"], 1, "the store refused the query"),
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
    result = _run()
    assert result.returncode == 2 and "usage: gridflow" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_command_fails_in_one_line(files):
    for args, code, says in cases(files):
        result = _run(*args)
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
