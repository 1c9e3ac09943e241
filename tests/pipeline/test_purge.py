"""Retention: the purge removes exactly what is past it, everywhere, and nothing else.

Rows expire with the cycle that loaded them, never by their own times: a kept cycle whose rows
are years old (CAMS, TEMPO and gauge records as the demo loads them) keeps every row, and an
expired cycle whose rows are recent loses every one.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from tests_support import REPO, gridflow

from devkit import simulate
from devkit.demo import grib_messages
from devkit.grib_restamp import restamp
from devkit.simulate import run_snakemake
from gridflow import formats, inventory, paths
from gridflow.config import loading as config
from gridflow.formats.grib.read import build_inventory
from gridflow.ops import verify
from gridflow.pipeline import purge
from gridflow.pipeline.shred import shred
from gridflow.pipeline.sidecar import Sidecar
from gridflow.sinks import clickhouse

START = datetime(2025, 3, 10, 0, tzinfo=UTC)
DEMO_NOW = "2025-03-12T12:00:00Z"  # the clock `make demo` pins


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
    assert records <= 3 * 7 + 1  # three cycles' outputs (seven each), and nothing purged
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
    assert "would delete 0 file(s) in 0 cycle folder(s) (0 bytes), 0 partition(s), 0 rows" in (
        again.stdout
    )


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
    p = purge.expired(cfg, datetime(2025, 1, 1, tzinfo=UTC), tmp_path)
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
    purge.execute(purge.expired(cfg, datetime(2025, 1, 1, tzinfo=UTC), tmp_path), cfg, tmp_path)
    assert (elsewhere / "f000.parquet").read_text() == "not ours"


def test_the_reports_counts_are_files_and_agree_with_status_and_metrics(tmp_path):
    """The report's `files_deleted` counts files, not cycle folders (the demo's purge said 7
    for 123 files): the same number as the sources' sums, `gridflow status` and the metrics."""
    from gridflow.ops import metric_counts, status

    gfs = tmp_path / "data" / "cycles" / "gfs"
    layout = {"2020010100": 5, "2020010106": 3}  # two expired cycles, eight files
    for cycle, count in layout.items():
        for n in range(count):
            path = gfs / cycle / ("raw" if n % 2 else "shred") / f"f{n:03d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * 10)
    (gfs / "2025010100" / "raw").mkdir(parents=True)  # kept
    (gfs / "2025010100" / "raw" / "f000.bin").write_bytes(b"kept")
    cfg = _store_cfg(tmp_path)
    p = purge.expired(cfg, datetime(2025, 1, 1, 12, tzinfo=UTC), tmp_path)
    preview = purge.expired_summary(p)
    assert (preview["files"], preview["paths"], preview["bytes"]) == (8, 2, 80)
    assert "would delete 8 file(s) in 2 cycle folder(s) (80 bytes)" in "\n".join(
        purge.expired_lines(p, dry_run=True)
    )
    report = purge.execute(p, cfg, tmp_path)
    assert report["files_deleted"] == 8 == report["sources"]["gfs"]["files"]
    assert (report["cycle_folders_deleted"], report["bytes_freed"]) == (2, 80)
    assert purge.report_line(report).startswith("purged 8 file(s) in 2 cycle folder(s)")
    said = status.last_purge(tmp_path / "data")
    assert (said["files_deleted"], said["bytes_freed"]) == (8, 80)
    table = status.table({"sources": [], "hosts": [], "last_purge": said})
    assert ": 8 files, 80 B, 0 rows" in table
    counts = metric_counts.update(tmp_path / "data", tmp_path)
    assert counts.of("purge_files_deleted") == {("gfs",): 8}


def test_status_counts_the_files_of_an_older_report_as_the_metrics_do(tmp_path):
    """A report written before the fix said cycle folders at the top; its sources say files."""
    from gridflow.ops import status

    reports = tmp_path / purge.REPORTS
    reports.mkdir()
    old = {
        "purged_at": "2025-03-19T03:00:00+00:00",
        "files_deleted": 7,
        "bytes_freed": 900,
        "rows_deleted": 0,
        "sources": {"gfs": {"files": 100, "bytes": 800, "rows": 0}, "hrrr": {"files": 23}},
        "failures": [],
    }
    (reports / "20250319T030000000000Z.json").write_text(json.dumps(old))
    said = status.last_purge(tmp_path)
    assert (said["files_deleted"], said["bytes_freed"]) == (123, 800)


def test_refuses_a_data_root_that_is_not_a_data_folder(tmp_path):
    cfg = _store_cfg(tmp_path)
    cfg["data_root"] = "/"
    with pytest.raises(purge.PurgeError, match="not a data folder"):
        purge.expired(cfg, datetime(2025, 1, 1, tzinfo=UTC), tmp_path)


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
    said = run.stdout + run.stderr
    assert "would delete" not in said and "purged 0 file(s) in 0 cycle folder(s)" in said
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


# -- which rows a purge takes: a real chDB store, files loaded as the rules load them ---------


def _load(client, root: Path, source: str, cycle: str, step: str, fmt: str, data: bytes) -> str:
    """Fetch-less: put `data` where the fetch would, shred and load it as the rules do, and
    leave its load marker. `fmt` is the format, or `format.extension`. Returns its raw key."""
    fmt, _, ext = fmt.partition(".")
    ext = ext or fmt
    raw = Path(paths.RAW.format(root=root, source=source, cycle=cycle, step=step, fmt=ext))
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_bytes(data)
    kind = formats.get(fmt)
    idx = Path(f"{raw}.idx")
    entries = build_inventory(raw) if fmt == "grib2" else kind.inspect(raw, str(raw)).entries
    idx.write_text(inventory.format_lines(entries))
    raw_key = paths.raw_key(source, paths.parse_cycle(cycle), paths.parse_step(step), ext)
    sidecar = Path(f"{raw}.json")
    run_id = f"run-{cycle}-{step}"
    sidecar.write_text(
        json.dumps({"source": source, "run_id": run_id, "raw_key": raw_key, "format": fmt})
    )
    shredded = Path(paths.SHRED.format(root=root, source=source, cycle=cycle, step=step))
    shredded.parent.mkdir(parents=True, exist_ok=True)
    shred(raw, idx, sidecar, shredded)
    table = kind.table.name
    rows = clickhouse.load(client, shredded, source, raw_key, table)
    marker = Path(paths.MARKER.format(root=root, source=source, cycle=cycle, step=step))
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(
        json.dumps(
            {"table": table, "rows": rows, "source": source, "raw_key": raw_key, "run_id": run_id}
        )
    )
    return raw_key


def _rows_by_file(client, table: str = "grid_data") -> dict[str, int]:
    return dict(client.query(f"SELECT raw_key, count() FROM {table} GROUP BY raw_key").result_rows)


@pytest.fixture(scope="module")
def gfs_fields(samples) -> list[bytes]:
    """Three fields of the GFS 2.5 degree sample (10,512 points each)."""
    return grib_messages(samples / "gfs.t12z.pgrbf120.2p5deg.grib2")[:3]


def _dated(messages: list[bytes], ref: datetime) -> bytes:
    return b"".join(restamp(m, ref, 0) for m in messages)


def test_rows_expire_with_their_cycle_whatever_their_own_times(gfs_fields, tmp_path):
    """Kept cycles whose rows are old (an analysis of 2011 fetched for today's cycle, as the
    demo's CAMS sample is) keep every row, even in a partition shared with an expired cycle;
    an expired cycle whose rows are recent loses them; a partition holding only expired
    cycles' rows is dropped whole. The dry run lists exactly what then goes."""
    cfg = _store_cfg(tmp_path, retention=24)  # now 2025-03-12T12: cycles before 03-11T12 go
    root = Path(cfg["data_root"])
    now = datetime(2025, 3, 12, 12, tzinfo=UTC)
    old, today = datetime(2011, 9, 29, tzinfo=UTC), datetime(2025, 3, 12, 6, tzinfo=UTC)
    client = clickhouse.connect(f"chdb://{tmp_path}/ch")
    try:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        kept = [
            _load(client, root, "gfs", "2025031200", "f000", "grib2", _dated(gfs_fields, old)),
            _load(client, root, "gfs", "2025031206", "f000", "grib2", _dated(gfs_fields, today)),
        ]
        gone = [
            # an old backfilled cycle sharing the 2011 partition with a kept one
            _load(client, root, "gfs", "2025030100", "f000", "grib2", _dated(gfs_fields, old)),
            # an expired cycle whose rows are of today
            _load(client, root, "gfs", "2025031100", "f000", "grib2", _dated(gfs_fields, today)),
            # an expired cycle alone in its (month) partition
            _load(
                client,
                root,
                "gfs",
                "2025031000",
                "f000",
                "grib2",
                _dated(gfs_fields, datetime(2025, 2, 10, tzinfo=UTC)),
            ),
        ]
        before = _rows_by_file(client)
        assert set(before) == set(kept + gone) and set(before.values()) == {3 * 10512}

        plan = purge.expired(cfg, now, tmp_path, client)
        store = [i for i in plan.items if i.sink == "clickhouse"]
        assert sorted((i.kind, i.target) for i in store) == [
            ("partition", "grid_values ('gfs', 202502)"),
            ("rows", "grid_values ('gfs', 201109)"),
            ("rows", "grid_values ('gfs', 202503)"),
        ]
        assert sorted(k for i in store for k in i.keys) == sorted(gone)
        assert sum(i.rows for i in store) == sum(before[k] for k in gone)
        folders = {Path(i.target).name for i in plan.items if i.kind == "path"}
        assert folders == {"2025030100", "2025031000", "2025031100"}

        report = purge.execute(plan, cfg, tmp_path, client)
        assert report["failures"] == []
        assert report["partitions_dropped"] == 1
        assert _rows_by_file(client) == {k: before[k] for k in kept}
        assert verify.rows({**cfg, "sources_enabled": ["gfs"]}, client) == []
        # what the purge left, the loads' records (grid_fields) say too: the check before a run
        assert verify.rows({**cfg, "sources_enabled": ["gfs"]}, client, recorded=True) == []
        again = purge.expired(cfg, now, tmp_path, client)
        assert [i for i in again.items if i.kind != "log"] == []
        # rows deleted by hand are the full count's to find; a lost load record, both counts'
        sync = {"lightweight_deletes_sync": 2}
        client.command(
            "DELETE FROM grid_values WHERE raw_key = %(k)s", {"k": kept[0]}, settings=sync
        )
        gfs_only = {**cfg, "sources_enabled": ["gfs"]}
        assert [f.kind for f in verify.rows(gfs_only, client)] == ["missing"]
        assert verify.rows(gfs_only, client, recorded=True) == []
        client.command(
            "DELETE FROM grid_fields WHERE raw_key = %(k)s", {"k": kept[0]}, settings=sync
        )
        assert [f.kind for f in verify.rows(gfs_only, client, recorded=True)] == ["missing"]
    finally:
        client.close()


FOPR, LIVE = "fopr_59700.r2025093000", "live_59700.r2023061512"  # as the mcfcd family names them


def test_gauge_records_expire_with_their_water_year_not_their_days(samples, tmp_path):
    """MCFCD: the period-of-record workbook fetched for a kept water year holds days back to
    1997 and keeps them all; the live page fetched for an expired water year holds days of
    2025 and they go."""
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    raw.update(data_root=str(tmp_path / "data"), sources_enabled=["mcfcd"])
    year = 24 * 366
    raw["sources"] = {"mcfcd": {"retention_hours": 2 * year, "window_hours": year}}
    cfg = config.resolve(raw, REPO)
    root = Path(cfg["data_root"])
    client = clickhouse.connect(f"chdb://{tmp_path}/ch")
    try:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        fopr = (samples / "59700_FOPR.xlsx").read_bytes()
        kept = _load(client, root, "mcfcd", "2024100100", FOPR, "mcfcd_fopr.xlsx", fopr)
        page = (samples / "fcdmc_alert_showdata_59700_AztecPark_2025-10-14.html").read_bytes()
        gone = _load(client, root, "mcfcd", "2022100100", LIVE, "mcfcd_alert.html", page)
        before = _rows_by_file(client, "gauge_observations")
        span = client.query(
            "SELECT raw_key, min(time), max(time) FROM gauge_observations GROUP BY raw_key"
        ).result_rows
        assert {k: (a.year, b.year) for k, a, b in span} == {kept: (1997, 2024), gone: (2025, 2025)}

        now = datetime(2025, 10, 15, tzinfo=UTC)
        plan = purge.expired(cfg, now, tmp_path, client)
        store = [i for i in plan.items if i.sink == "clickhouse"]
        assert {k for i in store for k in i.keys} == {gone}
        assert sum(i.rows for i in store) == before[gone]
        report = purge.execute(plan, cfg, tmp_path, client)
        assert report["failures"] == []
        assert _rows_by_file(client, "gauge_observations") == {kept: before[kept]}
        assert not (root / "cycles" / "mcfcd" / "2022100100").exists()
        assert (root / "cycles" / "mcfcd" / "2024100100").is_dir()
    finally:
        client.close()


def test_a_partition_that_gained_a_kept_file_since_the_plan_is_not_dropped(gfs_fields, tmp_path):
    """A load into a server between the plan and the drop: only the planned files' rows go."""
    cfg = _store_cfg(tmp_path, retention=24)
    root = Path(cfg["data_root"])
    client = clickhouse.connect(f"chdb://{tmp_path}/ch")
    try:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        day = _dated(gfs_fields, datetime(2025, 3, 10, tzinfo=UTC))
        gone = _load(client, root, "gfs", "2025031000", "f000", "grib2", day)
        plan = purge.expired(cfg, datetime(2025, 3, 12, 12, tzinfo=UTC), tmp_path, client)
        assert [i.kind for i in plan.items if i.sink] == ["partition"]
        late = _load(client, root, "gfs", "2025031206", "f000", "grib2", day)
        assert purge.execute(plan, cfg, tmp_path, client)["failures"] == []
        assert set(_rows_by_file(client)) == {late}
        assert gone != late
    finally:
        client.close()


# -- PostgreSQL: cells, load lineage and catalog rows of expired cycles' raw files ------------

PM25 = [9.1, 55.5, 125.5, 225.5]


def _catalogue(conn, samples: Path, cycle: str, url: str) -> str:
    """Register one AQM raw file of `cycle` fetched from `url`, with its cells (around
    Phoenix) and their lineage, as the load-postgis step does. Returns its raw key."""
    from gridflow.formats.grib import cells as grib_cells
    from gridflow.sinks import postgis

    raw = samples / "aqm.t12z.ave_1hr_pm25-PMTF.grib2"
    raw_key = f"cycles/aqm/{cycle}/raw/f000.grib2"
    run_id = str(uuid.uuid4())
    sidecar = Sidecar(
        source="aqm",
        raw_key=raw_key,
        run_id=run_id,
        url=url,
        key=url.rsplit("/", 1)[-1],
        byte_ranges=[[0, 1]],
        size=1,
        sha256="0",
    )
    with conn.transaction():
        postgis.register(conn, sidecar, paths.parse_cycle(cycle))
        made = postgis.load_cells(
            conn,
            sidecar,
            grib_cells.file_cells(
                raw, build_inventory(raw), ["PMTF"], {"PMTF": PM25}, [-113, 33, -111, 34]
            ),
        )
        postgis.record_load(conn, run_id, "postgis.pollution_grid", made)
    return raw_key


@pytest.mark.postgres
def test_postgis_rows_expire_with_their_raw_files_cycle(samples, tmp_path, postgres):
    """A refetch of one object for a later cycle moves its catalog row to that cycle's raw
    file (the row keeps the first cycle it was registered for): the kept cycle keeps its
    cells, lineage and catalog row; the expired cycles' cells and lineage go."""
    import psycopg

    from gridflow.sinks import postgis

    name = "p" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    raw = yaml.safe_load((REPO / "config/config.yaml").read_text())
    raw.update(data_root=str(tmp_path / "data"), sources_enabled=["aqm"])
    (tmp_path / "data").mkdir()
    cfg = config.resolve(raw, REPO)  # AQM keeps 72 h
    with psycopg.connect(postgres.dsn(db=name), autocommit=True) as conn:
        postgis.migrate(conn, REPO / "migrations" / "postgres")
        gone = [
            _catalogue(conn, samples, "2024051012", "file:///m/10.grib2"),
            _catalogue(conn, samples, "2024051112", "file:///m/same.grib2"),
        ]
        kept = [
            _catalogue(conn, samples, "2024051512", "file:///m/same.grib2"),
            _catalogue(conn, samples, "2024051612", "file:///m/16.grib2"),
        ]

        def state():
            cells = conn.execute(
                "SELECT raw_key, count(*) FROM pollution_grid GROUP BY raw_key"
            ).fetchall()
            catalog = conn.execute("SELECT raw_key FROM catalog.raw_files").fetchall()
            loads = conn.execute(
                "SELECT p.raw_key FROM catalog.loads l JOIN (SELECT DISTINCT raw_key, "
                "raw_file_id FROM pollution_grid) p ON p.raw_file_id = l.raw_file_id"
            ).fetchall()
            orphans = conn.execute(
                "SELECT count(*) FROM catalog.loads WHERE raw_file_id NOT IN "
                "(SELECT raw_file_id FROM pollution_grid)"
            ).fetchone()[0]
            return dict(cells), sorted(k for (k,) in catalog), sorted(k for (k,) in loads), orphans

        cells, catalog, loads, _ = state()
        assert sorted(cells) == sorted(gone + kept) and catalog == sorted([gone[0], *kept])
        plan = purge.expired(cfg, datetime(2024, 5, 17, tzinfo=UTC), tmp_path, pg=conn)
        [item] = [i for i in plan.items if i.sink]
        assert (item.kind, item.keys) == ("pg_rows", sorted(gone))
        assert item.rows == cells[gone[0]] + cells[gone[1]] + 1  # and one catalog row
        report = purge.execute(plan, cfg, tmp_path, pg=conn)
        assert report["failures"] == []
        assert state() == ({k: cells[k] for k in kept}, sorted(kept), sorted(kept), 0)


@pytest.mark.slow
def test_json_lists_each_item_then_a_summary_and_verify_agrees_after(gfs_fields, tmp_path):
    """`gridflow purge --json`: only JSON lines on stdout, a record per item then a summary,
    for the preview and for the purge, the same items in both; `gridflow verify` is clean."""
    settings = tmp_path / "c.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "now": "2025-03-12T12:00:00Z",
                "data_root": str(tmp_path / "data"),
                "sources_enabled": ["gfs"],
                "sources": {"gfs": {"retention_hours": 24, "window_hours": 6}},
            }
        )
    )
    root = tmp_path / "data"
    client = clickhouse.connect(f"chdb://{root}/clickhouse")
    try:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        old = _dated(gfs_fields, datetime(2011, 9, 29, tzinfo=UTC))
        kept = _load(client, root, "gfs", "2025031200", "f000", "grib2", old)
        gone = _load(client, root, "gfs", "2025030100", "f000", "grib2", old)
    finally:
        client.close()
    options = ["--configfile", str(settings), "--project", str(REPO), "--workdir", str(tmp_path)]

    def lines(run) -> list[dict]:
        assert run.returncode == 0, run.stderr
        return [json.loads(line) for line in run.stdout.splitlines()]

    preview = lines(gridflow("purge", "--dry-run", "--json", *options))
    *planned, summary = preview
    assert summary["summary"] is True and summary["dry_run"] is True
    assert all("summary" not in r and r["status"] == "planned" for r in planned)
    [rows] = [r for r in planned if r["kind"] == "rows"]
    assert (rows["keys"], rows["rows"]) == ([gone], 3 * 10512)
    assert (summary["rows"], summary["paths"]) == (3 * 10512, 1)

    *done, summary = lines(gridflow("purge", "--json", *options))
    assert summary["summary"] is True and summary["dry_run"] is False
    assert summary["rows_deleted"] == 3 * 10512 and summary["failures"] == []
    assert [r["status"] for r in done] == ["done"] * len(done)
    assert sorted((r["kind"], r["target"]) for r in done) == sorted(
        (r["kind"], r["target"]) for r in planned
    )
    assert Path(summary["report"]).parent == root / "purge-reports"

    checked = gridflow("verify", "--configfile", str(settings), "--project", str(REPO))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = gridflow("purge", *options)
    assert text.returncode == 0, text.stderr
    assert "purged 0 file(s) in 0 cycle folder(s)" in text.stdout and "{" not in text.stdout
    client = clickhouse.connect(f"chdb://{root}/clickhouse")
    try:
        assert set(_rows_by_file(client)) == {kept}
    finally:
        client.close()


@pytest.mark.slow
def test_purge_reads_the_store_dsn_names(gfs_fields, tmp_path):
    """`gridflow purge --dsn` took the option and purged the configuration's store instead."""
    settings = tmp_path / "c.yaml"
    settings.write_text(
        yaml.safe_dump(
            {
                "now": "2025-03-12T12:00:00Z",
                "data_root": str(tmp_path / "data"),
                "sources_enabled": ["gfs"],
                "sources": {"gfs": {"retention_hours": 24, "window_hours": 6}},
            }
        )
    )
    dsn = f"chdb://{tmp_path}/elsewhere"
    client = clickhouse.connect(dsn)
    try:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        gone = _load(client, tmp_path / "data", "gfs", "2025030100", "f000", "grib2", gfs_fields[0])
    finally:
        client.close()
    options = ["--configfile", str(settings), "--project", str(REPO), "--workdir", str(tmp_path)]
    preview = gridflow("purge", "--dry-run", "--json", "--dsn", dsn, *options)
    assert preview.returncode == 0, preview.stderr
    *planned, summary = (json.loads(line) for line in preview.stdout.splitlines())
    assert [r["keys"] for r in planned if r["kind"] == "partition"] == [[gone]]
    assert summary["rows"] == 10512 and summary["partitions"] == 1


# -- the demo as `make demo` loads it: CAMS and TEMPO cycles of today whose rows are not -------


@pytest.mark.slow
def test_the_demos_kept_cycles_keep_their_old_rows(samples, tmp_path):
    """The demo's CAMS (rows of 2011 and 2020) and TEMPO (2025-01) samples, fetched for today's
    cycles: a purge at the demo's clock keeps all of them and `gridflow verify` agrees; a
    later purge takes exactly the GFS cycle that expired (rows of the same day as the kept
    cycles') and nothing of the others."""
    from devkit import demo
    from devkit.ads_standin import KEY, AdsServer
    from devkit.harmony_standin import PASSWORD, USER, HarmonyServer

    workdir = tmp_path / "work"
    settings = workdir / "demo.yaml"
    ads_results = {"grib": samples / "chem-cams.grib"}
    ads_results["netcdf"] = samples / "test_adaptor.cams_regional_fc.nc"
    tempo = samples / "tempo_vcd_troposphere_utm11_clipped.tif"
    with AdsServer(ads_results) as ads, HarmonyServer([tempo]) as harmony:
        demo.build(
            samples,
            tmp_path / "mirror",
            DEMO_NOW,
            settings,
            workdir / "data",
            gfs_steps=(0,),
            hrrr_steps=(1,),
            scans=False,
            ads_url=ads.url,
            harmony_url=harmony.url,
        )
        enabled = workdir / "enabled.yaml"
        enabled.write_text(
            yaml.safe_dump({"sources_enabled": ["gfs", "cams_europe", "cams_global", "tempo"]})
        )
        env = {"ADS_API_KEY": KEY, "EARTHDATA_USERNAME": USER, "EARTHDATA_PASSWORD": PASSWORD}
        both = ["--configfile", str(settings), str(enabled)]  # Snakemake's --configfile takes many
        run = run_snakemake(REPO / "Snakefile", workdir, *both, env={**os.environ, **env})
        assert run.returncode == 0, run.stderr[-3000:]

    def store() -> dict[str, int]:
        client = clickhouse.connect(f"chdb://{workdir}/data/clickhouse")
        try:
            return _rows_by_file(client)
        finally:
            client.close()

    loaded = store()
    old = {k: n for k, n in loaded.items() if k.split("/")[1] in ("cams_europe", "cams_global")}
    assert old and any(k.startswith("cycles/tempo/") for k in loaded)
    configs = ["--configfile", str(settings), "--configfile", str(enabled)]
    options = [*configs, "--project", str(REPO), "--workdir", str(workdir)]
    at_demo_clock = gridflow("purge", *options)
    assert at_demo_clock.returncode == 0, at_demo_clock.stderr
    assert store() == loaded
    checked = gridflow("verify", *configs, "--project", str(REPO))
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # a day later, with GFS kept 24 h: its cycle of 00 UTC goes, every other cycle stays
    shorter = workdir / "gfs-24h.yaml"
    shorter.write_text(yaml.safe_dump({"sources": {"gfs": {"retention_hours": 24}}}))
    later = ["--now", "2025-03-13T03:00:00Z", "--configfile", str(shorter)]
    preview = gridflow("purge", "--dry-run", "--json", *options, *later)
    assert preview.returncode == 0, preview.stderr
    listed = [json.loads(line) for line in preview.stdout.splitlines()][:-1]
    expired = {k for k in loaded if k.startswith("cycles/gfs/2025031200/")}
    assert {k for r in listed if r["sink"] for k in r["keys"]} == expired
    purged = gridflow("purge", *options, *later)
    assert purged.returncode == 0, purged.stderr
    assert store() == {k: n for k, n in loaded.items() if k not in expired}
    checked = gridflow("verify", *configs, "--project", str(REPO))
    assert checked.returncode == 0, checked.stdout + checked.stderr
