"""`gridflow verify` and its repair: a repair plans first and removes nothing until Snakemake has
accepted the rebuild, names targets as the rules do wherever the data root is, and rebuilds
exactly the files that disagree. Where the stores live is no tracked parameter: a moved project
folder, or a DSN spelled another way, reruns nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from tests_support import REPO, SMALL_DEMO_ROWS, build_small_demo, gridflow, rows_by_source

from devkit.simulate import run_snakemake
from devkit.throwaway_postgres import PASSWORD as PG_PASSWORD
from gridflow.config import operating
from gridflow.errors import UsageError
from gridflow.ops import repair
from gridflow.ops.verify import Finding
from gridflow.sinks import clickhouse


def _cfg(data_root: str, pg_dsn: str | None = None) -> dict:
    return {"data_root": data_root, "sinks": {"postgis": {"dsn": pg_dsn}}}


def _marker(root: Path, step: str = "f003") -> Path:
    marker = root / "cycles" / "gfs" / "2025031206" / "loaded" / "clickhouse" / f"{step}.json"
    marker.parent.mkdir(parents=True)
    marker.write_text("{}")
    return marker


def test_targets_are_spelled_as_the_rules_spell_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = _marker(tmp_path / "data")
    raw = marker.parents[2] / "raw" / "f003.grib2"
    raw.parent.mkdir()
    findings = [
        Finding("partial", "gfs", "cycles/gfs/2025031206/raw/f003.grib2", 9, 4, str(marker)),
        Finding(
            "changed_bytes", "gfs", "cycles/gfs/2025031206/raw/f003.grib2", None, None, str(raw)
        ),
        Finding("unmarked", "gfs", "cycles/gfs/nowhere/raw/f000.grib2", None, 5, None),
    ]
    relative = repair.plan(_cfg("data"), findings, ())
    assert relative.targets == (
        "data/cycles/gfs/2025031206/loaded/clickhouse/f003.json",
        "data/cycles/gfs/2025031206/raw/f003.grib2",
    )
    assert [f.raw_key for f in relative.unmarked] == ["cycles/gfs/nowhere/raw/f000.grib2"]
    # an absolute root through a symbolic link stays as configured: it is what the rules name
    (tmp_path / "link").symlink_to(tmp_path)
    spelled = str(tmp_path / "link" / "data")
    absolute = repair.plan(_cfg(spelled, "env:GRIDFLOW_PG_DSN"), findings[:1], ())
    assert absolute.targets == (f"{spelled}/cycles/gfs/2025031206/loaded/clickhouse/f003.json",)
    assert marker.exists() and raw.parent.exists()  # planning touches nothing


def test_a_relative_data_root_rebuilt_in_another_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = _marker(tmp_path / "data")
    finding = Finding("missing", "gfs", "cycles/gfs/2025031206/raw/f003.grib2", 9, 0, str(marker))
    (tmp_path / "other").mkdir()
    with pytest.raises(repair.RepairRefused) as refused:
        repair.plan(_cfg("data"), [finding], ("--directory", str(tmp_path / "other")))
    assert "data_root 'data' is relative" in str(refused.value)
    assert "nothing was removed" in str(refused.value) and "\n" not in str(refused.value)
    assert repair.plan(_cfg("data"), [finding], ("--directory", ".")).targets


def test_the_snakefile_and_config_files_come_from_the_checkout(tmp_path):
    args = repair.snakemake_args(str(REPO), ["my.yaml"], ["--cores", "1"])
    assert args[:2] == ("--snakefile", str(REPO / "Snakefile"))
    assert args[2:4] == ("--directory", str(REPO))  # where `gridflow run` works, not here
    assert args[4:6] == ("--configfile", str(Path("my.yaml").resolve()))
    assert args[-2:] == ("--cores", "1")
    given = repair.snakemake_args(str(REPO), [], ["-s", "other/Snakefile", "-d", "there"])
    assert given == ("-s", "other/Snakefile", "-d", "there")


def test_jobs_take_the_store_dsn_from_the_untracked_settings(monkeypatch):
    monkeypatch.setenv(
        operating.ENV,
        operating.for_jobs({}, "/checkout", {}, {"clickhouse": "chdb:///x", "postgres": None}),
    )
    assert operating.dsn("clickhouse") == "chdb:///x"
    assert operating.dsn("clickhouse", "chdb:///given") == "chdb:///given"
    with pytest.raises(UsageError, match="no --dsn and no postgres DSN"):
        operating.dsn("postgres")


def _drop_rows_of(workdir: Path, raw_key: str) -> None:
    client = clickhouse.connect(f"chdb://{workdir}/data/clickhouse")
    try:
        client.command(
            "DELETE FROM grid_values WHERE raw_key = %(k)s",
            parameters={"k": raw_key},
            settings={"lightweight_deletes_sync": 2},
        )
    finally:
        client.close()


@pytest.mark.slow
def test_repair_from_another_folder_plans_first_then_rebuilds_exactly_the_damaged_file(
    demo_run,
):
    """The demo's data root is absolute; verify runs from a folder that is neither the checkout
    nor Snakemake's working directory (given after `--`)."""
    workdir, cfg_path, _, _ = demo_run
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    options = ["--project", str(REPO), "--configfile", str(cfg_path)]
    markers = sorted((workdir / "data" / "cycles").glob("*/*/loaded/clickhouse/*.json"))
    victim = markers[0]
    raw_key = json.loads(victim.read_text())["raw_key"]
    _drop_rows_of(workdir, raw_key)

    found = gridflow("verify", "--json", *options, cwd=elsewhere)
    assert found.returncode == 1, found.stderr
    *records, summary = [json.loads(line) for line in found.stdout.splitlines()]
    assert [(r["raw_key"], r["kind"], r["found"]) for r in records] == [(raw_key, "missing", 0)]
    assert records[0]["path"] == str(victim)
    assert summary == {"summary": True, "problems": 1, "markers": 6, "repaired": False}

    # a rebuild Snakemake cannot plan (its data root is not the one verify read) removes nothing
    before = {m: m.stat().st_mtime_ns for m in markers}
    other_root = f"data_root={workdir / 'other-data'}"
    snakemake_in = ["--", "--directory", str(workdir)]
    refused = gridflow(
        "verify", "--repair", *options, *snakemake_in, "--config", other_root, cwd=elsewhere
    )
    assert refused.returncode == 1, refused.stderr
    said = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(said) == 1, refused.stderr
    assert said[0].startswith("gridflow verify: error: the rebuild of 1 file(s) cannot be planned")
    assert "nothing was removed: MissingRuleException: No rule to produce" in said[0]
    assert {m: m.stat().st_mtime_ns for m in markers} == before
    assert gridflow("verify", *options, cwd=elsewhere).returncode == 1  # still found

    repaired = gridflow("verify", "--repair", "--json", *options, *snakemake_in, cwd=elsewhere)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    *_, summary = [json.loads(line) for line in repaired.stdout.splitlines()]
    spelled = f"{workdir / 'data'}/{victim.relative_to(workdir / 'data')}"
    assert summary == {
        "summary": True,
        "problems": 1,
        "markers": 6,
        "repaired": True,
        "rebuilt": [spelled],
        "left": 0,
    }
    after = {m: m.stat().st_mtime_ns for m in markers}
    assert after[victim] > before[victim]
    assert {m: t for m, t in after.items() if m != victim} == {
        m: t for m, t in before.items() if m != victim
    }  # nothing else was made again
    clean = gridflow("verify", *options, cwd=elsewhere)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert rows_by_source(workdir) == SMALL_DEMO_ROWS


def _everything_on_disk(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


@pytest.mark.postgres
def test_a_moved_project_or_another_dsn_spelling_reruns_nothing_and_repairs_there(
    samples, mirror_dir, tmp_path, postgres
):
    """The first run names the database in the config (no password: libpq reads PGPASSWORD),
    the second through GRIDFLOW_PG_DSN, from the project folder moved elsewhere."""
    db = "v" + os.urandom(5).hex()
    postgres.psql(f"CREATE DATABASE {db}")
    project = _project_folder(tmp_path / "project")
    cfg_path = project / "demo.yaml"
    build_small_demo(samples, mirror_dir, cfg_path, project / "data")
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["data_root"] = "data"  # below the project folder: the store moves with it
    cfg["sinks"] = {
        "postgis": {"dsn": f"host=127.0.0.1 port={postgres.port} dbname={db} user=postgres"}
    }
    cfg_path.write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != "GRIDFLOW_PG_DSN"}
    first = run_snakemake(
        REPO / "Snakefile",
        project,
        "--configfile",
        str(cfg_path),
        env=env | {"PGPASSWORD": PG_PASSWORD},
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(list(project.glob("data/cycles/*/*/loaded/postgis/*.json"))) == 6

    moved = tmp_path / "moved"
    shutil.move(project, moved)
    (tmp_path / "link").symlink_to(moved)
    cfg["sinks"] = {}  # the same database, named by the environment as a URL
    (moved / "demo.yaml").write_text(yaml.safe_dump(cfg))
    absolute = moved / "absolute.yaml"  # the data root spelled absolute, through the link
    absolute.write_text(yaml.safe_dump({**cfg, "data_root": str(tmp_path / "link" / "data")}))
    env |= {"GRIDFLOW_PG_DSN": postgres.dsn(db=db)}
    for workdir, config in (
        (moved, moved / "demo.yaml"),
        (tmp_path / "link", moved / "demo.yaml"),  # the moved folder through a link
        (moved, absolute),
    ):
        dry = run_snakemake(REPO / "Snakefile", workdir, "-n", "--configfile", str(config), env=env)
        said = dry.stdout + dry.stderr
        assert dry.returncode == 0, said[-3000:]
        assert "Nothing to be done" in said, said[-3000:]
    _a_repair_there_refetches_a_file_whose_bytes_changed(moved, env)
    leaked = [
        str(p) for p, data in _everything_on_disk(moved).items() if PG_PASSWORD.encode() in data
    ]
    assert not leaked


def _a_repair_there_refetches_a_file_whose_bytes_changed(project: Path, env: dict) -> None:
    """With the data root relative and PostGIS on: the raw file and both its loads are made
    again, nothing else."""
    options = ["--sha256", "--project", str(project), "--configfile", str(project / "demo.yaml")]
    raw = project / "data" / "cycles" / "gfs" / "2025031206" / "raw" / "f003.grib2"
    others = {p: p.stat().st_mtime_ns for p in project.glob("data/cycles/*/*/*/**/*.*") if p != raw}
    data = bytearray(raw.read_bytes())
    data[len(data) // 2] ^= 0xFF
    raw.write_bytes(bytes(data))
    found = gridflow("verify", *options, env=env, cwd=project)
    assert found.returncode == 1, found.stderr
    assert found.stdout.splitlines() == [
        "gfs cycles/gfs/2025031206/raw/f003.grib2: the raw file is not the one fetched "
        "(sha256 differs, or it is gone)"
    ]
    repaired = gridflow("verify", "--repair", *options, env=env, cwd=project)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    rebuilt = [
        f"data/cycles/gfs/2025031206/{what}/f003.{ext}"
        for what, ext in (
            ("loaded/clickhouse", "json"),
            ("loaded/postgis", "json"),
            ("raw", "grib2"),
        )
    ]
    assert f"verify: rebuilding {' '.join(rebuilt)}" in repaired.stderr
    changed = [p for p, t in others.items() if p.exists() and p.stat().st_mtime_ns != t]
    assert sorted(str(p.relative_to(project)) for p in changed if "/logs/" not in str(p)) == [
        *rebuilt[:2],
        "data/cycles/gfs/2025031206/raw/f003.grib2.idx",
        "data/cycles/gfs/2025031206/raw/f003.grib2.json",
    ]
    assert gridflow("verify", *options, env=env, cwd=project).returncode == 0
    assert rows_by_source(project) == SMALL_DEMO_ROWS


def _project_folder(folder: Path) -> Path:
    """A project folder as a user has one: the checkout's Snakefile, rules and configuration,
    and the data root below it."""
    folder.mkdir()
    for name in ("Snakefile", "workflow", "config", "migrations", "envs"):
        (folder / name).symlink_to(REPO / name)
    return folder


def _marker_of(root: Path, source: str, cycle: str, step: str, rows: int) -> Path:
    marker = root / "cycles" / source / cycle / "loaded" / "clickhouse" / f"{step}.json"
    marker.parent.mkdir(parents=True)
    raw_key = f"cycles/{source}/{cycle}/raw/{step}.grib2"
    marker.write_text(json.dumps({"raw_key": raw_key, "rows": rows}))
    return marker


def test_a_relative_data_root_lies_below_the_project_whatever_the_folder(tmp_path):
    """Read from another folder, `data: data` is the project's data root for every command that
    takes --project (its store too), never the folder the command runs in; a source the
    configuration leaves out is still checked."""
    project = _project_folder(tmp_path / "project")
    (project / "mine.yaml").write_text("data_root: data\nsources_enabled: [gfs]\n")
    clickhouse.connect(f"chdb://{project}/data/clickhouse").close()  # an empty store
    marker = _marker_of(project / "data", "gfs", "2025031206", "f003", 9)
    _marker_of(project / "data", "hrrr", "2025031206", "f01", 4)  # hrrr is not enabled
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    options = ["--project", str(project), "--configfile", str(project / "mine.yaml")]

    found = gridflow("verify", "--json", *options, cwd=elsewhere)
    assert found.returncode == 1, found.stderr
    *records, summary = [json.loads(line) for line in found.stdout.splitlines()]
    assert [(r["source"], r["kind"], r["path"]) for r in records] == [
        ("gfs", "missing", str(marker)),
        ("hrrr", "missing", str(marker).replace("gfs", "hrrr").replace("f003", "f01")),
    ]
    assert summary == {"summary": True, "problems": 2, "markers": 2, "repaired": False}
    assert "checked hrrr too" in found.stderr
    sql = gridflow("sql", "SELECT count() AS n FROM system.one", *options, cwd=elsewhere)
    assert sql.returncode == 0, sql.stderr  # the project's store, found from here
    assert list(elsewhere.iterdir()) == []  # nothing was made here


def test_no_marker_under_the_data_root_is_nothing_to_verify_not_agreement(tmp_path):
    root = tmp_path / "data"
    clickhouse.connect(f"chdb://{root}/clickhouse").close()
    (tmp_path / "mine.yaml").write_text(f"data_root: {root}\n")
    options = ["--project", str(REPO), "--configfile", str(tmp_path / "mine.yaml")]
    found = gridflow("verify", *options, cwd=tmp_path)
    assert found.returncode == 1
    assert found.stderr.splitlines() == [
        f"gridflow verify: error: no load markers under {root}: nothing to verify"
    ]
    as_json = gridflow("verify", "--json", *options, cwd=tmp_path)
    assert as_json.returncode == 1
    assert [json.loads(line) for line in as_json.stdout.splitlines()] == [
        {"summary": True, "problems": 0, "markers": 0, "repaired": False}
    ]


@pytest.fixture
def project_run(samples, mirror_dir, tmp_path):
    """The small demo run in a project folder of its own, its data root relative: `data`."""
    project = _project_folder(tmp_path / "project")
    cfg_path = project / "demo.yaml"
    build_small_demo(samples, mirror_dir, cfg_path, project / "data")
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["data_root"] = "data"
    cfg_path.write_text(yaml.safe_dump(cfg))
    run = run_snakemake(project / "Snakefile", project, "--configfile", str(cfg_path))
    assert run.returncode == 0, run.stderr[-3000:]
    return project, cfg_path


@pytest.mark.slow
def test_a_repair_from_another_folder_works_in_the_project_under_the_run_lock(
    project_run, tmp_path
):
    """A file of a source the configuration leaves out is found; the repair's Snakemake works
    in the project folder (nothing made where verify ran), waits for no run but refuses while
    one holds the lock, and makes the cycle's summary again so the next run has nothing to do."""
    from gridflow.ops import run_lock

    project, cfg_path = project_run
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = next((project / "data" / "cycles" / "hrrr").glob("*/loaded/clickhouse/*.json"))
    raw_key, want = (json.loads(victim.read_text())[k] for k in ("raw_key", "rows"))
    client = clickhouse.connect(f"chdb://{project}/data/clickhouse")
    try:
        client.command(
            "DELETE FROM grid_values WHERE raw_key = %(k)s AND modulo(point, 2) = 0",
            parameters={"k": raw_key},
            settings={"lightweight_deletes_sync": 2},
        )
    finally:
        client.close()
    gfs_only = project / "gfs-only.yaml"
    gfs_only.write_text(
        yaml.safe_dump({**yaml.safe_load(cfg_path.read_text()), "sources_enabled": ["gfs"]})
    )

    found = gridflow(
        "verify", "--project", str(project), "--configfile", str(gfs_only), cwd=elsewhere
    )
    assert found.returncode == 1, found.stderr
    assert found.stdout.startswith(f"hrrr {raw_key}: ") and f"of its {want} rows" in found.stdout
    assert "checked hrrr too" in found.stderr

    options = ["--project", str(project), "--configfile", str(cfg_path)]
    markers = sorted((project / "data" / "cycles").glob("*/*/loaded/clickhouse/*.json"))
    summary_file = victim.parents[2] / "cycle.json"
    before = {p: p.stat().st_mtime_ns for p in [*markers, summary_file]}
    with run_lock.exclusive_run(project):  # a scheduled run is working there
        busy = gridflow("verify", "--repair", *options, cwd=elsewhere)
    assert busy.returncode == 75, busy.stderr
    said = [line for line in busy.stderr.splitlines() if line.startswith("gridflow verify")]
    assert len(said) == 1 and f"another gridflow run is active in {project}" in said[0]
    assert {p: p.stat().st_mtime_ns for p in before} == before

    repaired = gridflow("verify", "--repair", "--json", *options, cwd=elsewhere)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    *_, summary = [json.loads(line) for line in repaired.stdout.splitlines()]
    assert summary["rebuilt"] == [str(victim.relative_to(project))] and summary["repaired"]
    after = {p: p.stat().st_mtime_ns for p in before}
    assert after[victim] > before[victim] and after[summary_file] > before[summary_file]
    assert {p for p in before if after[p] != before[p]} == {victim, summary_file}
    assert list(elsewhere.iterdir()) == []  # no .snakemake here: it worked in the project
    assert (project / ".snakemake" / "gridflow-run.lock").exists()
    again = run_snakemake(project / "Snakefile", project, "-n", "--configfile", str(cfg_path))
    assert "Nothing to be done" in again.stdout + again.stderr, again.stderr[-3000:]
    assert rows_by_source(project) == SMALL_DEMO_ROWS
