"""Retention: the purge removes exactly what is past it, everywhere, and nothing else."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests_support import REPO

from devkit import simulate
from devkit.simulate import run_snakemake
from gridflow import config, purge
from gridflow.sinks import clickhouse

START = datetime(2025, 3, 10, 0, tzinfo=UTC)


def cycles_in_store(workdir: Path) -> list[str]:
    client = clickhouse.connect(f"chdb://{workdir}/data/clickhouse")
    clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    try:
        rows = client.query(
            "SELECT formatDateTime(ref_time, '%Y%m%d%H') AS c, count() FROM grid_data "
            "GROUP BY c ORDER BY c"
        ).result_rows
    finally:
        client.close()
    return rows


def schedule(samples, mirror, tmp_path, steps: int, retention_hours: int):
    """Run the 6-hourly schedule in a fresh working directory; yields each step."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    yield from simulate.run_schedule(
        REPO / "Snakefile", workdir, mirror.root, mirror.url, samples, START, steps, retention_hours
    )


@pytest.mark.slow
def test_simulated_days_keep_exactly_the_retention_window(samples, http_mirror, tmp_path):
    workdir = tmp_path / "work"
    sizes = []
    for step in schedule(samples, http_mirror, tmp_path, steps=9, retention_hours=18):
        assert step.run.returncode == 0, step.run.stderr[-3000:]
        rows = cycles_in_store(workdir)
        assert {c for c, _ in rows} == simulate.kept_cycles(18, step.now, START), step.now
        assert all(n == 10512 for _, n in rows)  # one field per cycle: no duplicates
        raw_dirs = sorted((workdir / "data" / "cycles" / "gfs").glob("*/raw"))
        sizes.append(sum(simulate.folder_bytes(d) for d in raw_dirs))
        assert {d.parent.name for d in raw_dirs} == {c for c, _ in rows}
    # every object upstream was fetched once, however many runs saw it
    gets = [p for m, p, r in http_mirror.requests if m == "GET" and not p.endswith(".idx")]
    assert len(gets) == len(set(gets)) == 8
    # once retention is reached the raw zone stops growing
    assert sizes[-1] == sizes[-2] == sizes[-3]
    metadata = workdir / ".snakemake" / "metadata"
    records = len(list(metadata.iterdir()))
    assert records <= 3 * 6 + 1  # three cycles' outputs (six each), and nothing purged
    reports = sorted((workdir / "data" / "purge-reports").glob("*.json"))
    assert json.loads(reports[-1].read_text())["failures"] == []


def _store_cfg(workdir: Path, retention: int = 18) -> dict:
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    raw.update(data_root=str(workdir / "data"), sources_enabled=["gfs"])
    raw["sources"] = {"gfs": {"retention_hours": retention, "window_hours": 6}}
    return config.resolve(raw, REPO)


@pytest.fixture
def simulated(samples, http_mirror, tmp_path):
    for step in schedule(samples, http_mirror, tmp_path, steps=4, retention_hours=240):
        assert step.run.returncode == 0, step.run.stderr[-3000:]
    return tmp_path / "work"


def purge_cli(cfg: dict, workdir: Path, now: datetime, dry_run: bool = False):
    args = [
        "gridflow",
        "purge",
        "--config-json",
        json.dumps(cfg),
        "--workdir",
        str(workdir),
        "--now",
        f"{now:%Y-%m-%dT%H:%M:%SZ}",
        "--project",
        str(REPO),
    ]
    return subprocess.run(args + ["--dry-run"] * dry_run, capture_output=True, text=True)


@pytest.mark.slow
def test_dry_run_lists_exactly_what_the_purge_deletes(simulated):
    workdir = simulated
    cfg = _store_cfg(workdir)
    now = START + timedelta(hours=30)
    dry = purge_cli(cfg, workdir, now, dry_run=True)
    assert dry.returncode == 0, dry.stderr
    listed = {line.split()[1] for line in dry.stdout.splitlines() if line.startswith("  path")}
    assert listed and all("2025031000" in p or "2025031006" in p for p in listed)
    before = {str(p) for p in (workdir / "data").rglob("*")}
    wet = purge_cli(cfg, workdir, now)
    assert wet.returncode == 0, wet.stderr
    after = {str(p) for p in (workdir / "data").rglob("*")}
    gone = before - after
    assert {p for p in gone if Path(p).parent.name == "gfs"} == listed
    assert all(any(p.startswith(t) for t in listed) for p in gone)
    assert [c for c, _ in cycles_in_store(workdir)] == ["2025031012"]
    again = purge_cli(cfg, workdir, now, dry_run=True)
    assert "would delete 0 path(s) (0 bytes), 0 partition(s), 0 rows" in again.stdout


def test_hostile_links_and_names_cannot_reach_outside(tmp_path):
    root = tmp_path / "data"
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    gfs = root / "cycles" / "gfs"
    gfs.mkdir(parents=True)
    (gfs / "2020010100").symlink_to(outside)  # a cycle that is a link out
    (gfs / "2020010106" / "loaded").mkdir(parents=True)
    (gfs / "2020010106" / "loaded" / "escape").symlink_to(outside / "keep.txt")
    (gfs / "..2020010100").mkdir()  # not a cycle name: ignored
    (gfs / "2020019900").mkdir()  # looks like one, is no date: ignored
    cfg = _store_cfg(tmp_path)
    p = purge.plan(cfg, datetime(2025, 1, 1, tzinfo=UTC), tmp_path)
    report = purge.execute(p, cfg, tmp_path)
    assert (outside / "keep.txt").read_text() == "mine"
    assert not (gfs / "2020010100").exists()  # the link itself went
    assert not (gfs / "2020010106").exists()
    assert (gfs / "..2020010100").exists() and (gfs / "2020019900").exists()
    assert report["failures"] == []
    # a data root whose cycles folder links elsewhere: what lies there is not ours
    elsewhere = tmp_path / "elsewhere" / "gfs" / "2020010100"
    elsewhere.mkdir(parents=True)
    (elsewhere / "f000.parquet").write_text("not ours")
    other = tmp_path / "other"
    other.mkdir()
    (other / "cycles").symlink_to(tmp_path / "elsewhere")
    cfg["data_root"] = str(other)
    purge.execute(purge.plan(cfg, datetime(2025, 1, 1, tzinfo=UTC), tmp_path), cfg, tmp_path)
    assert (elsewhere / "f000.parquet").read_text() == "not ours"


def test_refuses_a_data_root_that_is_not_a_data_folder(tmp_path):
    cfg = _store_cfg(tmp_path)
    cfg["data_root"] = "/"
    with pytest.raises(purge.PurgeError, match="not a data folder"):
        purge.plan(cfg, datetime(2025, 1, 1, tzinfo=UTC), tmp_path)


def test_retention_shorter_than_the_window_is_refused():
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    raw["sources"] = {"gfs": {"retention_hours": 6, "window_hours": 12}}
    with pytest.raises(config.ConfigError, match="shorter than window_hours"):
        config.resolve(raw, REPO)


@pytest.mark.slow
def test_snakemake_purge_rule(simulated):
    purge = [
        REPO / "Snakefile",
        simulated,
        "purge",
        "--config",
        "now=2025-03-11T06:00:00Z",
        "--configfile",
        str(simulated / "simulation.yaml"),
    ]
    run = run_snakemake(*purge)
    assert run.returncode == 0, run.stderr[-2000:]
    # retention is 240 h in this fixture's config: nothing is old enough yet
    assert "would delete" not in run.stdout and '"files_deleted": 0' in run.stdout + run.stderr
    short = run_snakemake(*purge, str(_retention(simulated, 24)))
    assert short.returncode == 0, short.stderr[-2000:]
    assert sorted(p.name for p in (simulated / "data/cycles/gfs").iterdir()) == [
        "2025031006",
        "2025031012",
    ]


def _retention(workdir: Path, hours: int) -> Path:
    path = workdir / f"retention-{hours}.yaml"
    path.write_text(yaml.safe_dump({"sources": {"gfs": {"retention_hours": hours}}}))
    return path
