"""`gridflow backfill` over cycles upstream has and has not published: a cycle with nothing
loaded is not complete; the files not published are named per cycle, the exit code is 1, and
`--json` gives a record per cycle, then a summary. The dry run says the same before any work.
The range is given as the source counts its cycles (water years for gauges, cycle ids for the
rest), of a source the configuration enables; anything else is one line before Snakemake."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from tests_support import NOW, REPO, checkout_at

from gridflow.config import loading as config
from gridflow.ops import backfill


def _backfill(
    tmp_path: Path, cfg: Path, *options: str, snakemake: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    command = [
        "gridflow", "backfill", "gfs", "--cycles", "2025031200-2025031206", *options,
        "--configfile", str(cfg), "--", "--directory", str(tmp_path),
        "-s", str(REPO / "Snakefile"), "--cores", "1", *snakemake,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_backfill_names_what_upstream_has_not_published(gfs_object, mirror_dir, tmp_path):
    cfg = tmp_path / "backfill.yaml"
    settings = {
        "now": NOW,
        "data_root": str(tmp_path / "data"),
        "sources_enabled": ["gfs"],
        "fetch": {"settle_seconds": 0},
        "sources": {
            "gfs": {
                "url": f"file://{mirror_dir}",
                "cycles": [0, 6],
                "forecast_hours": "3",
                "select": [":TMP:2 m above ground:"],
            }
        },
    }
    cfg.write_text(yaml.safe_dump(settings))  # the mirror has 2025031206 f003, not 2025031200

    preview = _backfill(tmp_path, cfg, snakemake=("-n",))
    assert preview.returncode == 0, preview.stderr[-2000:]
    said = preview.stderr.splitlines()
    assert "backfill gfs (dry run): 0 of 2 cycles complete; not yet: 2025031200, 2025031206" in said
    assert "  2025031200: not published upstream (late: not listed yet): f003" in said
    assert "  2025031206: to fetch and load: f003" in said
    assert not (tmp_path / "data" / "cycles" / "gfs" / "2025031206" / "raw").exists()

    done = _backfill(tmp_path, cfg, "--json")
    assert done.returncode == 1, done.stderr[-2000:]  # the work is not done
    first, second, summary = (json.loads(line) for line in done.stdout.splitlines())
    assert first == {
        "source": "gfs",
        "cycle": "2025031200",
        "complete": False,
        "loaded": [],
        "not_loaded": [],
        "not_published": {"late: not listed yet": ["f003"]},
    }
    assert second["cycle"] == "2025031206" and second["complete"] and second["loaded"] == ["f003"]
    assert summary == {
        "summary": True,
        "source": "gfs",
        "cycles": 2,
        "complete": 1,
        "dry_run": False,
        "exit_code": 1,
    }
    # Snakemake made a cycle.json for the unpublished cycle; status does not take it as complete
    assert (tmp_path / "data" / "cycles" / "gfs" / "2025031200" / "cycle.json").exists()
    shown = subprocess.run(
        ["gridflow", "status", "--configfile", str(cfg), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    gfs = json.loads(shown.stdout.splitlines()[0])
    assert gfs["newest_complete"] == "2025-03-12T06:00:00+00:00"

    again = _backfill(tmp_path, cfg)
    assert again.returncode == 1
    assert "backfill gfs: 1 of 2 cycles complete; not yet: 2025031200 (run it again" in (
        again.stderr
    )
    assert "  2025031200: not published upstream (late: not listed yet): f003" in again.stderr


@pytest.mark.slow
def test_a_backfill_with_project_runs_in_that_checkout(gfs_object, mirror_dir, tmp_path):
    checkout = checkout_at(tmp_path / "checkout")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settings = {
        "now": NOW,
        "data_root": "data",  # relative: to the checkout, where Snakemake runs
        "sources_enabled": ["gfs"],
        "fetch": {"settle_seconds": 0},
        "sources": {"gfs": {"url": f"file://{mirror_dir}", "cycles": [6], "forecast_hours": "3"}},
    }
    (elsewhere / "mine.yaml").write_text(yaml.safe_dump(settings))
    preview = subprocess.run(
        [
            *("gridflow", "backfill", "gfs", "--cycles", "2025031206", "--project", "../checkout"),
            *("--configfile", "mine.yaml", "--", "--cores", "1", "-n"),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert preview.returncode == 0, preview.stderr[-2000:]
    assert "  2025031206: to fetch and load: f003" in preview.stderr.splitlines()
    assert (checkout / ".snakemake" / "gridflow-run.lock").exists()
    assert sorted(p.name for p in elsewhere.iterdir()) == ["mine.yaml"]


def _settings(tmp_path: Path, *enabled: str, url: str = "file:///nowhere") -> Path:
    cfg = tmp_path / "backfill.yaml"
    settings = {"now": NOW, "data_root": str(tmp_path / "data"), "sources_enabled": list(enabled)}
    settings["sources"] = {name: {"url": url} for name in enabled}
    cfg.write_text(yaml.safe_dump(settings))
    return cfg


@pytest.fixture
def refused(capsys, monkeypatch, tmp_path):
    """The one line a backfill exits 2 with, before Snakemake or anything in the data root
    (gridflow's main in this process, started in the checkout)."""
    from gridflow.cli import main as cli

    monkeypatch.chdir(REPO)

    def run(*options: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exit:
            cli.main(["backfill", *options, "--", "--directory", str(tmp_path), "-n"])
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit.value.code == 2 and len(lines) == 1, (exit.value.code, lines)
        assert not (tmp_path / ".snakemake").exists() and not (tmp_path / "data").exists()
        return lines[0].removeprefix("gridflow backfill: error: ")

    return run


def test_water_years_are_for_gauges_and_cycles_for_the_rest(tmp_path, refused):
    cfg = str(_settings(tmp_path, "gfs", "mcfcd"))
    said = refused("gfs", "--water-years", "2023", "--configfile", cfg)
    assert said == (
        "--water-years is for gauge sources; gfs takes --cycles FIRST-LAST "
        "(cycle ids, like 2025031200-2025031318)"
    )
    said = refused("mcfcd", "--cycles", "2022100100-2023100100", "--configfile", cfg)
    assert said == (
        "--cycles is for sources with cycle ids; mcfcd takes --water-years FIRST-LAST "
        "(like 2015-2024)"
    )
    assert refused("mcfcd", "--configfile", cfg) == "give --water-years FIRST-LAST for mcfcd"
    said = refused("gfs", "--cycles", "1", "--water-years", "2", "--configfile", cfg)
    assert said.startswith("argument --water-years: not allowed with argument --cycles")
    # the right one for each is taken
    resolved = config.load_files([cfg], REPO)
    wy2023 = backfill.cycles(resolved, "mcfcd", "2023", None, REPO)
    assert [c.isoformat() for c in wy2023] == ["2022-10-01T00:00:00+00:00"]
    gfs = backfill.cycles(resolved, "gfs", None, "2025031200-2025031212", REPO)
    assert [c.hour for c in gfs] == [0, 6, 12]


def test_a_shipped_source_not_enabled_is_told_how_to_enable_it(tmp_path, refused, monkeypatch):
    cfg = str(_settings(tmp_path, "gfs", "hrrr"))
    said = refused("mcfcd", "--water-years", "2023", "--configfile", cfg)
    assert said == (
        "source 'mcfcd' (config/sources/mcfcd.yaml) is not enabled: add it to sources_enabled "
        "in a --configfile, or set GRIDFLOW_ENABLED_SOURCES=gfs,hrrr,mcfcd (the gauge demo's "
        "config, demo-data/demo-gauges.yaml after `make demo`, has it)"
    )
    said = refused("nam", "--cycles", "2025031200", "--configfile", cfg)
    assert said == (
        "source 'nam' (config/sources/nam.yaml) is not enabled: add it to sources_enabled in a "
        "--configfile, or set GRIDFLOW_ENABLED_SOURCES=gfs,hrrr,nam"
    )
    said = refused("nosuch", "--cycles", "2025031200", "--configfile", cfg)
    assert said == "no source 'nosuch' (enabled: gfs, hrrr; no file config/sources/nosuch.yaml)"
    # as it says: the variable enables it (the checks then stop at the range)
    monkeypatch.setenv("GRIDFLOW_ENABLED_SOURCES", "gfs,hrrr,mcfcd")
    said = refused("mcfcd", "--cycles", "2025031200", "--configfile", cfg)
    assert said.startswith("--cycles is for sources with cycle ids; mcfcd takes --water-years")
