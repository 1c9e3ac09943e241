"""The PostgreSQL sink on a real PostgreSQL 15 + PostGIS server: catalog, cells, routes."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime

import numpy as np
import psycopg
import pytest
import yaml
from conftest import copy_sample
from tests_support import REPO

from devkit.simulate import run_snakemake
from gridflow import inventory
from gridflow.formats.grib import cells as grib_cells
from gridflow.formats.grib.read import build_inventory, iter_fields
from gridflow.geo import cells
from gridflow.pipeline.sidecar import Sidecar
from gridflow.sinks import postgis

pytestmark = [pytest.mark.postgres]

MIGRATIONS = REPO / "migrations" / "postgres"
PM25 = [9.1, 55.5, 125.5, 225.5]


@pytest.fixture
def db(postgres):
    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    return postgres.dsn(db=name)


def test_migrations_apply_once_in_order(db):
    with postgis.connect(db) as conn:
        applied = postgis.migrate(conn, MIGRATIONS)
        assert applied == [
            "001_catalog.sql",
            "002_cells.sql",
            "003_reader.sql",
            "004_source_updates.sql",
            "005_gauges.sql",
            "006_catalog_facts.sql",
            "007_gis_keys.sql",
            "008_aeris.sql",
            "009_ingester.sql",
        ]
        assert postgis.migrate(conn, MIGRATIONS) == []
        assert conn.execute("SELECT postgis_version()").fetchone()[0]


def test_people_read_as_a_role_that_can_only_read(db):
    with postgis.connect(db) as conn:
        postgis.migrate(conn, MIGRATIONS)
        with postgis.reading(conn):
            assert conn.execute("SELECT current_user").fetchone()[0] == "gridflow_reader"
            assert conn.execute("SELECT count(*) FROM catalog.raw_files").fetchone()[0] == 0
        for write in (
            "DELETE FROM catalog.raw_files",
            "DROP TABLE pollution_grid",
            "CREATE TABLE catalog.stolen (x int)",
        ):
            with (
                pytest.raises(psycopg.Error, match="read-only transaction"),
                postgis.reading(conn),
            ):
                conn.execute(write)
        assert conn.execute("SELECT to_regclass('pollution_grid')").fetchone()[0]


def test_bad_connections_are_named_without_secrets(postgres):
    with pytest.raises(postgis.PostgisError) as err:
        postgis.connect(postgres.dsn(password="wrong"))
    assert "password authentication failed" in str(err.value)
    assert "wrong" not in str(err.value) and f"127.0.0.1:{postgres.port}" in str(err.value)
    with pytest.raises(postgis.PostgisError, match="cannot connect"):
        postgis.connect("postgresql://u:p@127.0.0.1:9/x")


def test_database_without_postgis_is_named(postgres):
    postgres.psql("CREATE ROLE plain LOGIN PASSWORD 'plain'")
    postgres.psql("CREATE DATABASE plaindb OWNER plain")
    plain = postgres.dsn(user="plain", password="plain", db="plaindb")
    with (
        postgis.connect(plain) as conn,
        pytest.raises(postgis.PostgisError, match="'plaindb' has no PostGIS"),
    ):
        postgis.migrate(conn, MIGRATIONS)


def test_a_table_changed_by_hand_is_named(db):
    with postgis.connect(db) as conn:
        postgis.migrate(conn, MIGRATIONS)
        conn.execute("ALTER TABLE pollution_grid DROP COLUMN severity CASCADE")  # and its views
        conn.commit()
        with pytest.raises(postgis.PostgisError, match="pollution_grid .*missing: severity"):
            postgis.migrate(conn, MIGRATIONS)


def test_cell_footprints_tile_the_lambert_grid(samples):
    raw = samples / "aqm.t12z.ave_1hr_pm25-PMTF.grib2"
    for _, handle in iter_fields(raw):  # a handle lives only inside the loop
        got = grib_cells.field_cells(handle, "PMTF", PM25, bbox=[-113, 33, -111, 34])
    import shapely

    polys = shapely.from_wkb(got.wkb)
    assert len(polys) > 100 and shapely.get_srid(polys[0]) == 4326
    assert all(shapely.is_valid(polys))
    # neighbours share edges: the union of the cells has no holes and the areas add up
    union = shapely.union_all(polys)
    assert union.area == pytest.approx(shapely.area(polys).sum(), rel=1e-6)
    # a 5 km Lambert cell is about 0.05 degrees across at 33N
    side = np.sqrt(shapely.area(polys))
    assert 0.04 < side.mean() < 0.07
    assert set(np.unique(got.severity)) <= {0, 1, 2, 3, 4}
    assert np.array_equal(cells.severity(np.array([0, 9.1, 60, 130, 300]), PM25), [0, 1, 2, 3, 4])


def _aqm_mirror(samples, mirror_dir):
    key = "AQMv7/CS/20240516/12/aqm.t12z.ave_1hr_pm25_bc.20240516.227.grib2"
    copy_sample(samples, "aqm.t12z.ave_1hr_pm25-PMTF.grib2", mirror_dir / key)
    return key


def test_workflow_loads_cells_scores_routes_and_traces_lineage(samples, mirror_dir, tmp_path, db):
    _aqm_mirror(samples, mirror_dir)
    with postgis.connect(db) as conn:
        postgis.migrate(conn, MIGRATIONS)
        conn.execute(
            "INSERT INTO saved_routes (name, origin, destination) VALUES ('phoenix', "
            "ST_SetSRID(ST_MakePoint(-112.3, 33.3), 4326), "
            "ST_SetSRID(ST_MakePoint(-111.7, 33.6), 4326))"
        )
        conn.commit()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "now": "2024-05-16T20:00:00Z",
                "data_root": "data",
                "sources_enabled": ["aqm"],
                "fetch": {"settle_seconds": 0},
                "sources": {
                    "aqm": {
                        "url": f"file://{mirror_dir}",
                        "window_hours": 12,
                        "postgis": {
                            "variables": ["PMTF"],
                            "stride": 1,
                            "bbox": [-125, 30, -100, 45],
                        },
                    }
                },
            }
        )
    )
    env = os.environ | {"GRIDFLOW_PG_DSN": db}
    run = run_snakemake(
        REPO / "Snakefile",
        tmp_path,
        "--configfile",
        str(cfg),
        env=env,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert "gridflow-test-secret" not in run.stdout + run.stderr
    marker = json.loads(
        next((tmp_path / "data/cycles").glob("*/*/loaded/postgis/*.json")).read_text()
    )
    assert "gridflow-test-secret" not in json.dumps(marker)
    with psycopg.connect(db) as conn:
        cells_in = conn.execute(
            'SELECT count(*), count(DISTINCT severity), min("timestamp") FROM pollution_grid'
        ).fetchone()
        assert marker["rows"] == cells_in[0] > 10000
        assert cells_in[2] == datetime(2024, 5, 16, 13, tzinfo=UTC)
        route = conn.execute(
            "SELECT last_cells, last_mean, last_score, last_computed FROM saved_routes"
        ).fetchone()
        assert route[0] > 5 and route[1] > 0 and route[2] >= route[1] and route[3] is not None
        raw = conn.execute("SELECT id::text, source_url FROM catalog.raw_files").fetchall()
    assert len(raw) == 1 and raw[0][1].endswith(".227.grib2")
    trace = subprocess.run(
        [
            "gridflow",
            "trace",
            "--configfile",
            str(cfg),
            "--dsn",
            f"chdb://{tmp_path}/data/clickhouse",
            "--source",
            "aqm",
            "--variable",
            "PMTF",
            "--level",
            "1 sigma level",
            "--lat",
            "33.45",
            "--lon",
            "-112.07",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )
    assert trace.returncode == 0, trace.stderr
    row = json.loads(trace.stdout.splitlines()[0])
    assert row["raw_file_id"] == raw[0][0] and row["source_url"] == raw[0][1]
    # a second run changes nothing; a rebuilt file replaces its rows and catalog entry
    again = run_snakemake(
        REPO / "Snakefile",
        tmp_path,
        "data/cycles/aqm/2024051612/cycle.json",  # as the rules spell it
        "--forcerun",
        "fetch",
        "--configfile",  # last: it takes every argument after it
        str(cfg),
        env=env,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM pollution_grid").fetchone()[0] == cells_in[0]
        assert conn.execute("SELECT count(*) FROM catalog.raw_files").fetchone()[0] == 1
        assert conn.execute("SELECT id::text FROM catalog.raw_files").fetchone()[0] != raw[0][0]


def test_without_a_dsn_the_postgis_rules_are_not_in_the_dag(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "GRIDFLOW_PG_DSN"}
    run = subprocess.run(
        [
            "snakemake",
            "-s",
            str(REPO / "Snakefile"),
            "--directory",
            str(tmp_path),
            "-n",
            "--configfile",
            str(REPO / "tests/lint-config.yaml"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0
    assert (run.stdout + run.stderr).count("PostGIS sink off") == 1


def test_failed_cell_load_leaves_nothing_half_loaded(samples, tmp_path, db):
    raw = samples / "aqm.t12z.ave_1hr_pm25-PMTF.grib2"
    idx = tmp_path / "a.idx"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    sidecar = Sidecar(
        source="aqm",
        raw_key="raw/aqm/x",
        run_id=str(uuid.uuid4()),
        url="file:///m/aqm.grib2",
        key="aqm.grib2",
        byte_ranges=[[0, 1]],
        size=1,
        sha256="0",
    )

    def batches():
        yield from grib_cells.file_cells(
            raw, build_inventory(raw), ["PMTF"], {"PMTF": PM25}, [-113, 33, -111, 34]
        )
        raise RuntimeError("the job died half-way")

    with postgis.connect(db) as conn:
        postgis.migrate(conn, MIGRATIONS)
        with pytest.raises(RuntimeError), conn.transaction():
            postgis.register(conn, sidecar, datetime(2024, 5, 16, 12, tzinfo=UTC))
            postgis.load_cells(conn, sidecar, batches())
        assert conn.execute("SELECT count(*) FROM pollution_grid").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM catalog.raw_files").fetchone()[0] == 0


def test_purge_removes_expired_cells_and_catalog_rows(samples, tmp_path, db):
    from gridflow.config import loading as config
    from gridflow.pipeline import purge

    raw = samples / "aqm.t12z.ave_1hr_pm25-PMTF.grib2"
    idx = tmp_path / "a.idx"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    raw_cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    raw_cfg.update(data_root=str(tmp_path / "data"), sources_enabled=["aqm"])
    (tmp_path / "data").mkdir()
    cfg = config.resolve(raw_cfg, REPO)
    with postgis.connect(db) as conn:
        postgis.migrate(conn, MIGRATIONS)
        for day in (10, 16):
            sidecar = Sidecar(
                source="aqm",
                raw_key=f"raw/aqm/202405{day}12/f000.grib2",
                run_id=str(uuid.uuid4()),
                url=f"file:///m/{day}.grib2",
                key=f"{day}.grib2",
                byte_ranges=[[0, 1]],
                size=1,
                sha256="0",
            )
            with conn.transaction():
                postgis.register(conn, sidecar, datetime(2024, 5, day, 12, tzinfo=UTC))
                postgis.load_cells(
                    conn,
                    sidecar,
                    grib_cells.file_cells(
                        raw, build_inventory(raw), ["PMTF"], {"PMTF": PM25}, [-113, 33, -111, 34]
                    ),
                )
        now = datetime(2024, 5, 17, 0, tzinfo=UTC)  # retention 72 h: the 10th is past it
        plan = purge.expired(cfg, now, tmp_path, pg=conn)
        assert [i.kind for i in plan.items] == ["pg_rows"]
        report = purge.execute(plan, cfg, tmp_path, pg=conn)
        assert report["failures"] == []
        left = conn.execute("SELECT DISTINCT raw_key FROM pollution_grid").fetchall()
        assert left == [("raw/aqm/2024051612/f000.grib2",)]
        assert conn.execute("SELECT count(*) FROM catalog.raw_files").fetchone()[0] == 1
