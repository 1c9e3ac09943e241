"""Drop-in for the systems gridflow replaces: Jackfruit's ClickHouse point query, AERIS's PostGIS
cells, routes and last update, and the weather ingester's bookkeeping run their own SQL
unchanged against views, and GIS clients (GDAL) read the cells with stable ids and rings that
turn counter-clockwise."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import shapely
import yaml
from tests_support import REPO, tempo_source

from devkit.demo import grib_messages
from devkit.grib_restamp import restamp
from devkit.throwaway_postgres import PASSWORD as PG_PASSWORD
from gridflow import inventory
from gridflow.formats.grib import cells as grib_cells
from gridflow.formats.grib.read import build_inventory, iter_fields
from gridflow.pipeline.shred import shred
from gridflow.query import grids as query
from gridflow.sinks import clickhouse, postgis

CH_MIGRATIONS = REPO / "migrations" / "clickhouse"
PG_MIGRATIONS = REPO / "migrations" / "postgres"
GFS_SAMPLE = "gfs.t12z.pgrbf120.2p5deg.grib2"
AQM_SAMPLE = "aqm.t12z.ave_1hr_pm25-PMTF.grib2"
TEMPO_TIF = "tempo_vcd_troposphere_utm11_clipped.tif"
NO2 = "vertical_column_troposphere"

# The seed systems' SQL, as they ran it; only the gas, the time and the place are filled in.
JACKFRUIT_POINT = (
    "SELECT value FROM grid_data WHERE variable = '{gas}' AND timestamp = '{time}' "
    "ORDER BY greatCircleDistance(lon, lat, {lon}, {lat}) LIMIT 1"
)
AERIS_ROUTE = (
    "SELECT AVG(pollution_value), SUM(severity_level) FROM pollution_grid WHERE "
    "ST_Intersects(geom, ST_GeomFromText(:wkt, 4326)) AND timestamp BETWEEN "
    ":max_ts - interval '1 hour' AND :max_ts"
)


def _bound(sql: str) -> str:
    """A `:name` query as psycopg takes it (`%(name)s`): the text is otherwise AERIS's."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)


# -- rings --------------------------------------------------------------------------------------


def _exteriors_ccw(wkb) -> bool:
    polygons = shapely.from_wkb(wkb)
    return bool(all(shapely.is_ccw(p.exterior) for p in polygons))


def test_cells_turn_counter_clockwise_on_rasters_and_projected_grids(samples, tmp_path):
    from gridflow.formats.geotiff import GeoTiff
    from gridflow.pipeline.fetch import fetch
    from gridflow.pipeline.fetch_job import FetchSpec, Operating

    # a raster's rows run north to south: its corners, walked in index order, turn clockwise
    mirror = tmp_path / "m"
    mirror.mkdir()
    shutil.copyfile(samples / TEMPO_TIF, mirror / TEMPO_TIF)
    raw, idx = tmp_path / "x.tif", tmp_path / "x.tif.idx"
    spec = FetchSpec("tempo", "harmony", "geotiff", TEMPO_TIF, None, "raw/tempo/x.tif")
    fetch(spec, Operating(f"file://{mirror}"), raw, idx, tmp_path / "x.tif.json")
    entries = inventory.parse(idx.read_text())
    thresholds = {NO2: [5e15, 1e16, 2e16, 4e16]}
    (tempo,) = GeoTiff().cells(raw, entries, {"variables": [NO2], "thresholds": thresholds})
    assert len(tempo.wkb) > 1000 and _exteriors_ccw(tempo.wkb)
    # a Lambert grid whose rows run south to north
    for _, handle in iter_fields(samples / AQM_SAMPLE):
        aqm = grib_cells.field_cells(
            handle, "PMTF", [9.1, 55.5, 125.5, 225.5], [-113, 33, -111, 34]
        )
    assert len(aqm.wkb) > 100 and _exteriors_ccw(aqm.wkb)


# -- Jackfruit, on the embedded store -------------------------------------------------------------


def _gfs_run(samples: Path, tmp_path: Path, ref: datetime, step: int) -> Path:
    """The GFS 2 m temperature re-dated as run `ref`, lead `step` hours, shredded."""
    messages = grib_messages(samples / GFS_SAMPLE)
    entries = build_inventory(samples / GFS_SAMPLE)
    (at,) = [e.offset for e in entries if (e.variable, e.level) == ("TMP", "2 m above ground")]
    message = next(m for m, o in zip(messages, _offsets(messages), strict=True) if o == at)
    name = f"gfs{ref:%Y%m%d%H}f{step:03d}"
    raw = tmp_path / f"{name}.grib2"
    raw.write_bytes(restamp(message, ref, step))
    idx = tmp_path / f"{name}.grib2.idx"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    sidecar = tmp_path / f"{name}.grib2.json"
    run_id = str(uuid.uuid4())
    sidecar.write_text(
        json.dumps({"source": "gfs", "run_id": run_id, "raw_key": name, "format": "grib2"})
    )
    out = tmp_path / f"{name}.parquet"
    shred(raw, idx, sidecar, out)
    return out


def _offsets(messages: list[bytes]) -> list[int]:
    offsets, at = [], 0
    for message in messages:
        offsets.append(at)
        at += len(message)
    return offsets


def test_jackfruits_point_query_gets_the_newest_runs_value(samples, tmp_path):
    dsn = f"chdb://{tmp_path}/ch"
    valid = datetime(2025, 3, 12, 12, tzinfo=UTC)
    older = _gfs_run(samples, tmp_path, valid - timedelta(hours=6), 6)
    newer = _gfs_run(samples, tmp_path, valid, 0)
    client = clickhouse.connect(dsn)
    try:
        assert "005_jackfruit.sql" in clickhouse.migrate(client, CH_MIGRATIONS)
        for shred_file in (newer, older):  # loaded newest first: the order must not matter
            clickhouse.load(client, shred_file, "gfs", shred_file.stem)
        series = query.series(
            client, query.Field("gfs", "TMP", "2 m above ground"), 52.52, 13.40, with_lineage=True
        )
        points = client.command("SELECT uniqExact(lat, lon) FROM grid_data")
    finally:
        client.close()
    assert [r["ref_time"] for r in series] == ["2025-03-12T06:00:00Z", "2025-03-12T12:00:00Z"]
    newest = series[-1]
    jackfruit = clickhouse.clickhouse_connect.get_client(dsn=dsn, database="jackfruit")
    try:
        sql = JACKFRUIT_POINT.format(gas="TMP", time="2025-03-12 12:00:00", lon=13.40, lat=52.52)
        assert jackfruit.query(sql).result_rows == [(pytest.approx(newest["value"]),)]
        # one row per point and valid time, from the newest run, with a UUID for the catalog
        rows = jackfruit.query(
            "SELECT count(), uniqExact(raw_file_id), any(raw_file_id), toTypeName(any(raw_file_id))"
            " FROM grid_data WHERE variable = 'TMP' AND timestamp = '2025-03-12 12:00:00'"
        ).result_rows[0]
    finally:
        jackfruit.close()
    assert rows == (points, 1, uuid.UUID(newest["raw_file_id"]), "UUID")


def test_a_loads_marker_lists_the_fields_the_store_holds(samples, tmp_path):
    """What the PostGIS step records of a ClickHouse load comes from the shred, without a
    second pass over the store: the same fields, rows and extents as the store's GROUP BY."""
    from gridflow.pipeline import load_marker

    shred_file = _gfs_run(samples, tmp_path, datetime(2025, 3, 12, 6, tzinfo=UTC), 3)
    client = clickhouse.connect(f"chdb://{tmp_path}/ch")
    try:
        clickhouse.migrate(client, CH_MIGRATIONS)
        clickhouse.load(client, shred_file, "gfs", shred_file.stem)
        stored = client.query(
            "SELECT variable, level, forecast, descriptor, ref_time, step, count(), "
            "min(lon), min(lat), max(lon), max(lat) FROM grid_data GROUP BY ALL"
        ).result_rows
    finally:
        client.close()
    (field,) = load_marker.shred_fields(shred_file)
    (row,) = stored
    assert astuple(field)[:4] == row[:4] and field.ref_time == row[4].replace(tzinfo=UTC)
    assert (field.step, field.rows) == (row[5], row[6]) == (180, 10512)
    assert astuple(field)[7:] == pytest.approx(row[7:])
    assert load_marker.LoadedField.from_json(json.loads(json.dumps(field.as_json()))) == field


# -- the seed systems after a real workflow run (PostgreSQL + PostGIS) ---------------------------


ENDS = ("origin_lon", "origin_lat", "dest_lon", "dest_lat")


def _wkt_line(route: dict) -> str:
    return (
        f"LINESTRING({route['origin_lon']} {route['origin_lat']}, "
        f"{route['dest_lon']} {route['dest_lat']})"
    )


@pytest.fixture(scope="module")
def seeded(samples, postgres, tmp_path_factory):
    """Two real workflow runs into one store and one database, with AERIS's routes saved
    through its own view first: the AQM PM2.5 forecast of 2024-05-16 (cells), then TEMPO NO2
    through a stand-in Harmony (cells of a raster) and a GFS file fetched by ranged GET."""
    from devkit.demo import write_object
    from devkit.harmony_standin import PASSWORD, USER, HarmonyServer
    from devkit.simulate import run_snakemake

    work = tmp_path_factory.mktemp("dropin")
    mirror = work / "mirror"
    aqm_key = "AQMv7/CS/20240516/12/aqm.t12z.ave_1hr_pm25_bc.20240516.227.grib2"
    (mirror / aqm_key).parent.mkdir(parents=True)
    shutil.copyfile(samples / AQM_SAMPLE, mirror / aqm_key)
    gfs_key = "gfs.20250312/06/atmos/gfs.t06z.pgrb2.0p25.f003"
    write_object(
        mirror,
        gfs_key,
        grib_messages(samples / GFS_SAMPLE),
        datetime(2025, 3, 12, 6, tzinfo=UTC),
        3,
    )
    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    db = postgres.dsn(db=name)
    with postgis.connect(db) as conn:
        postgis.migrate(conn, PG_MIGRATIONS)
    with _aeris(db) as conn:  # as AERIS saved its routes
        conn.execute(
            "INSERT INTO saved_routes (origin_lon, origin_lat, dest_lon, dest_lat) "
            "VALUES (-112.3, 33.3, -111.7, 33.6)"
        )
        conn.execute(
            "INSERT INTO saved_routes (gas_type, origin_lon, origin_lat, dest_lon, dest_lat) "
            "VALUES (%s, -118.2, 34.05, -116.5, 33.8)",
            (NO2,),
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EARTHDATA_")}
    env |= {
        "GRIDFLOW_PG_DSN": db,
        "GRIDFLOW_HOSTS_DIR": str(work / "hosts"),
        "EARTHDATA_USERNAME": USER,
        "EARTHDATA_PASSWORD": PASSWORD,
    }
    aqm = {
        "url": f"file://{mirror}",
        "window_hours": 12,
        "postgis": {"variables": ["PMTF"], "bbox": [-113, 33, -111, 34]},  # Phoenix
    }
    first = {"now": "2024-05-16T20:00:00Z", "sources_enabled": ["aqm"], "sources": {"aqm": aqm}}
    with HarmonyServer([samples / TEMPO_TIF]) as harmony:
        gfs = {"url": f"file://{mirror}", "cycles": [6], "forecast_hours": "3", "window_hours": 18}
        tempo = tempo_source(harmony.url, postgis={"variables": [NO2]})
        second = {
            "now": "2025-03-12T20:30:00Z",
            "sources_enabled": ["gfs", "tempo"],
            "sources": {"gfs": gfs, "tempo": tempo},
        }
        for n, settings in enumerate((first, second)):
            cfg = work / f"run{n}.yaml"
            common = {"data_root": "data", "fetch": {"settle_seconds": 0}}
            cfg.write_text(yaml.safe_dump(common | settings))
            run = run_snakemake(REPO / "Snakefile", work, "--configfile", str(cfg), env=env)
            assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    return {"work": work, "db": db, "env": env, "postgres": postgres}


def _aeris(db: str):
    return psycopg.connect(db, options="-c search_path=aeris,public", autocommit=True)


def _ingester(db: str):
    return psycopg.connect(db, options="-c search_path=ingester", autocommit=True)


def _point(seeded, source: str, variable: str, level: str, lat: float, lon: float) -> list[dict]:
    """gridflow's own answer: `gridflow point`, every run at the nearest grid point."""
    store = f"chdb://{seeded['work']}/data/clickhouse"
    field = ["--source", source, "--variable", variable, "--level", level]
    done = subprocess.run(
        ["gridflow", "point", "--dsn", store, *field, "--lat", str(lat), "--lon", str(lon)],
        capture_output=True,
        text=True,
        env=seeded["env"],
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "source, gas, level, lat, lon",
    [
        ("aqm", "PMTF", "1 sigma level", 33.45, -112.07),
        ("gfs", "TMP", "2 m above ground", 52.52, 13.40),
    ],
)
def test_jackfruits_query_and_lineage_join_after_a_run(seeded, source, gas, level, lat, lon):
    (newest,) = _point(seeded, source, gas, level, lat, lon)
    when = newest["valid_time"].replace("T", " ").rstrip("Z")
    dsn = f"chdb://{seeded['work']}/data/clickhouse"
    jackfruit = clickhouse.clickhouse_connect.get_client(dsn=dsn, database="jackfruit")
    pg = seeded["postgres"]
    catalog = (
        f"postgresql('127.0.0.1:{pg.port}', '{seeded['db'].rsplit('/', 1)[1]}', 'raw_files', "
        f"'postgres', '{PG_PASSWORD}', 'catalog')"
    )
    try:
        sql = JACKFRUIT_POINT.format(gas=gas, time=when, lon=lon, lat=lat)
        assert jackfruit.query(sql).result_rows == [(pytest.approx(newest["value"]),)]
        # Jackfruit's lineage join: the view's UUID meets the catalog's uuid without a cast
        joined = jackfruit.query(
            f"SELECT g.value, r.source_url FROM grid_data AS g JOIN {catalog} AS r "
            f"ON g.raw_file_id = r.id WHERE g.variable = '{gas}' AND g.timestamp = '{when}' "
            f"ORDER BY greatCircleDistance(g.lon, g.lat, {lon}, {lat}) LIMIT 1"
        ).result_rows
    finally:
        jackfruit.close()
    assert joined[0][0] == pytest.approx(newest["value"])
    assert joined[0][1].startswith("file://") and source in joined[0][1].lower()


@pytest.mark.postgres
def test_aeris_recompute_gets_what_gridflow_routes_gave(seeded):
    with _aeris(seeded["db"]) as conn:
        routes = conn.execute(
            "SELECT id, gas_type, origin_lon, origin_lat, dest_lon, dest_lat FROM saved_routes "
            "ORDER BY id"
        ).fetchall()
        assert [r[1] for r in routes] == ["PMTF", NO2]
        for id_, gas, *ends in routes:
            route = dict(zip(ENDS, ends, strict=True))
            # the newest hour of the route's own gas: a table-wide max would be another gas's
            max_ts = conn.execute(
                "SELECT MAX(timestamp) FROM pollution_grid WHERE gas_type = %s", (gas,)
            ).fetchone()[0]
            mean, severity = conn.execute(
                _bound(AERIS_ROUTE), {"wkt": _wkt_line(route), "max_ts": max_ts}
            ).fetchone()
            cells_, last_mean, last_severity = conn.execute(
                "SELECT last_cells, last_mean, last_severity FROM public.saved_routes "
                "WHERE id = %s",
                (id_,),
            ).fetchone()
            assert cells_ > 0 and mean == pytest.approx(last_mean) and severity == last_severity
            # AERIS writes its own score back, as it did
            score = round(mean * 0.5 + severity * 10.0, 4)
            conn.execute(
                "UPDATE saved_routes SET last_computed_score = %s, last_updated_at = now() "
                "WHERE id = %s",
                (score, id_),
            )
            assert conn.execute(
                "SELECT last_score FROM public.saved_routes WHERE id = %s", (id_,)
            ).fetchone()[0] == pytest.approx(score)
        # the last update of each source, as AERIS kept it in Redis
        updates = dict(conn.execute("SELECT key, value FROM last_update").fetchall())
    assert updates["tempo:last_update"] == "2025-03-12T18:00:00+00:00"
    assert updates["aqm:last_update"] == "2024-05-16T12:00:00+00:00"


@pytest.mark.postgres
def test_aeris_saved_routes_take_inserts_updates_and_deletes(seeded):
    with _aeris(seeded["db"]) as conn:
        id_ = conn.execute(
            "INSERT INTO saved_routes (name, origin_lon, origin_lat, dest_lon, dest_lat) "
            "VALUES ('to work', 1.5, 2.5, 3.5, 4.5) RETURNING id"
        ).fetchone()[0]
        stored = conn.execute(
            "SELECT name, variable, ST_AsText(origin), ST_AsText(destination), "
            "ST_SRID(origin) FROM public.saved_routes WHERE id = %s",
            (id_,),
        ).fetchone()
        assert stored == ("to work", "PMTF", "POINT(1.5 2.5)", "POINT(3.5 4.5)", 4326)
        conn.execute("UPDATE saved_routes SET dest_lon = 5.5 WHERE id = %s", (id_,))
        assert (
            conn.execute(
                "SELECT ST_AsText(destination) FROM public.saved_routes WHERE id = %s", (id_,)
            ).fetchone()[0]
            == "POINT(5.5 4.5)"
        )
        conn.execute("DELETE FROM saved_routes WHERE id = %s", (id_,))
        assert not conn.execute(
            "SELECT count(*) FROM public.saved_routes WHERE id = %s", (id_,)
        ).fetchone()[0]


@pytest.mark.postgres
def test_the_ingesters_bookkeeping_answers_from_the_catalog(seeded):
    cycles = seeded["work"] / "data" / "cycles"
    gfs_sidecar = json.loads(next(cycles.glob("gfs/*/raw/f003.grib2.json")).read_text())
    gfs_marker = json.loads(next(cycles.glob("gfs/*/loaded/clickhouse/f003.json")).read_text())
    with _ingester(seeded["db"]) as conn:
        state = conn.execute(
            "SELECT model, ingested_at, file_size, parameters_extracted, status, raw_bytes "
            "FROM ingest_state WHERE source_key = %s",
            (gfs_sidecar["key"],),
        ).fetchone()
        datasets = conn.execute(
            "SELECT parameter, level, reference_time, forecast_hour, storage_path, file_size, "
            "bbox FROM datasets WHERE model = 'gfs' ORDER BY parameter, level"
        ).fetchall()
        models = dict(
            conn.execute("SELECT model, count(*) FROM ingest_state GROUP BY 1").fetchall()
        )
    # the upstream object's size and the bytes fetched of it by ranged GET, both kept
    assert state[:5] == (
        "gfs",
        datetime.fromisoformat(gfs_marker["loaded_at"]),
        gfs_sidecar["upstream_size"],
        len(gfs_marker["fields"]),
        "loaded",
    )
    assert state[5] == gfs_sidecar["size"] < gfs_sidecar["upstream_size"]
    assert models == {"aqm": 1, "gfs": 1, "tempo": 1}
    assert len(datasets) == len(gfs_marker["fields"]) == gfs_sidecar["fields"]
    tmp = next(d for d in datasets if d[:2] == ("TMP", "2 m above ground"))
    assert tmp[2:6] == (
        datetime(2025, 3, 12, 6, tzinfo=UTC),
        3,
        gfs_sidecar["raw_key"],
        gfs_sidecar["size"],
    )
    assert tmp[6] == [-180.0, -90.0, 177.5, 90.0]  # the global 2.5 degree grid


@pytest.mark.postgres
def test_every_load_is_in_the_catalog_with_its_fetch(seeded):
    with psycopg.connect(seeded["db"]) as conn:
        loads = conn.execute(
            "SELECT f.source, l.sink, l.rows, l.fields, l.status FROM catalog.loads l "
            "JOIN catalog.raw_files f ON f.id = l.raw_file_id ORDER BY 1, 2"
        ).fetchall()
        fetched = conn.execute(
            "SELECT source, fetched_at, upstream_bytes, raw_bytes, wire_bytes "
            "FROM catalog.raw_files ORDER BY source"
        ).fetchall()
    markers = {}
    for path in (seeded["work"] / "data" / "cycles").glob("*/*/loaded/*/*.json"):
        if path.parent.name in ("clickhouse", "postgis"):
            marker = json.loads(path.read_text())
            markers[(marker["source"], path.parent.name)] = marker["rows"]
    assert [(s, sink, rows) for s, sink, rows, *_ in loads] == [
        ("aqm", "clickhouse.grid_data", markers[("aqm", "clickhouse")]),
        ("aqm", "postgis.pollution_grid", markers[("aqm", "postgis")]),
        ("gfs", "clickhouse.grid_data", markers[("gfs", "clickhouse")]),
        ("tempo", "clickhouse.grid_data", markers[("tempo", "clickhouse")]),
        ("tempo", "postgis.pollution_grid", markers[("tempo", "postgis")]),
    ]
    assert all(status == "loaded" and fields >= 1 for *_, fields, status in loads)
    for source, fetched_at, *sizes in fetched:
        sidecar = json.loads(
            next((seeded["work"] / "data" / "cycles" / source).glob("*/raw/*.json")).read_text()
        )
        assert fetched_at == datetime.fromisoformat(sidecar["fetched_at"])
        assert sizes == [sidecar["upstream_size"], sidecar["size"], sidecar["wire_bytes"]]


# -- GIS clients ---------------------------------------------------------------------------------


def _gdal(seeded, *args: str) -> str:
    """An OGR command on the seeded database's layer named last (`ogrinfo -so ... layer`)."""
    pg = seeded["postgres"]
    name = seeded["db"].rsplit("/", 1)[1]
    source = f"PG:host=127.0.0.1 port={pg.port} dbname={name} user=postgres"
    env = os.environ | {"PGPASSWORD": PG_PASSWORD}
    done = subprocess.run([*args[:-1], source, args[-1]], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.postgres
def test_gdal_exports_the_cells_with_ids_srid_and_counter_clockwise_rings(seeded, tmp_path):
    assert shutil.which("ogr2ogr"), "GDAL's command-line tools are missing: scripts/ensure-gdal"
    info = _gdal(seeded, "ogrinfo", "-so", "pollution_grid")
    assert "FID Column = id" in info and 'ID["EPSG",4326]' in info
    out = tmp_path / "cells.geojson"
    _gdal(seeded, "ogr2ogr", "-f", "GeoJSON", "-preserve_fid", str(out), "pollution_grid")
    features = json.loads(out.read_text())["features"]
    assert json.loads(out.read_text())["crs"]["properties"]["name"].endswith("CRS84")
    ids = [f["id"] for f in features]
    with psycopg.connect(seeded["db"]) as conn:
        stored = conn.execute("SELECT count(*) FROM pollution_grid").fetchone()[0]
    assert len(ids) == len(set(ids)) == stored > 4578  # every cell once, TEMPO's and AQM's
    by_source: dict[str, int] = {}
    for feature in features:
        (ring,) = feature["geometry"]["coordinates"]
        assert shapely.is_ccw(shapely.LinearRing(ring)), feature["properties"]
        by_source[feature["properties"]["source"]] = (
            by_source.get(feature["properties"]["source"], 0) + 1
        )
    assert set(by_source) == {"aqm", "tempo"}
    # a second export gives each cell the same id
    again = tmp_path / "again.geojson"
    _gdal(seeded, "ogr2ogr", "-f", "GeoJSON", "-preserve_fid", str(again), "pollution_grid")
    assert [f["id"] for f in json.loads(again.read_text())["features"]] == ids


@pytest.mark.postgres
def test_every_geometry_table_has_one_integer_key(seeded):
    with psycopg.connect(seeded["db"]) as conn:
        keys = conn.execute(
            """
            SELECT t.name, array_agg(a.attname::text ORDER BY a.attnum),
                   min(format_type(a.atttypid, NULL))
            FROM (SELECT DISTINCT f_table_schema || '.' || f_table_name AS name
                  FROM geometry_columns) t
            LEFT JOIN pg_index i ON i.indrelid = t.name::regclass AND i.indisprimary
            LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
            WHERE (SELECT relkind FROM pg_class WHERE oid = t.name::regclass) = 'r'
            GROUP BY t.name ORDER BY t.name
            """
        ).fetchall()
    assert keys == [
        ("public.gauges", ["id"], "integer"),
        ("public.pollution_grid", ["id"], "bigint"),
        ("public.saved_routes", ["id"], "bigint"),
    ]
    assert "FID Column = id" in _gdal(seeded, "ogrinfo", "-so", "gauges")


@pytest.mark.postgres
def test_the_migrations_upgrade_a_database_that_has_rows(postgres):
    """A database made before the catalog facts and keys: its rows keep their values and get
    their ids, and loads go on as before."""

    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    db = postgres.dsn(db=name)
    gauge = {
        "gauge": 59700, "name": "Aztec Park", "former_ids": [4695], "id_history": "",
        "station_type": "", "city": "Scottsdale", "county": "Maricopa", "lat": 33.61,
        "lon": -111.87, "elevation_ft": 1400.0, "location": "", "remarks": "",
        "data_begins": None,
    }  # fmt: skip
    raw_file_id = str(uuid.uuid4())
    with postgis.connect(db) as conn:
        for path in sorted(PG_MIGRATIONS.glob("00[1-5]_*.sql")):  # as a release before these
            conn.execute(path.read_text())
        conn.execute(
            "INSERT INTO catalog.raw_files (id, source, dataset, date, cycle, object_key, "
            "source_url, raw_key, byte_ranges, size, sha256) VALUES (%s, 'gfs', 'k', "
            "'2025-03-12', '2025-03-12T06:00Z', 'u', 'u', 'r', '[]', 68308, 's')",
            (raw_file_id,),
        )
        for value in (1.0, 2.0):
            conn.execute(
                'INSERT INTO pollution_grid ("timestamp", variable, geom, value, severity, '
                "source, raw_key, raw_file_id) VALUES (now(), 'PMTF', ST_GeomFromText("
                "'POLYGON((0 0,1 0,1 1,0 1,0 0))', 4326), %s, 0, 'aqm', 'r', %s)",
                (value, raw_file_id),
            )
        conn.execute(
            "INSERT INTO gauges (source, gauge, name, geom, raw_file_id) VALUES ('mcfcd', 59700, "
            "'old name', ST_SetSRID(ST_MakePoint(-111.87, 33.61), 4326), %s)",
            (raw_file_id,),
        )
        assert "006_catalog_facts.sql" in postgis.migrate(conn, PG_MIGRATIONS)
        assert conn.execute("SELECT raw_bytes FROM catalog.raw_files").fetchone()[0] == 68308
        assert conn.execute("SELECT array_agg(id ORDER BY id) FROM pollution_grid").fetchone()[
            0
        ] == [1, 2]
        (gauge_id,) = conn.execute("SELECT id FROM gauges").fetchone()
        postgis.record_gauge(conn, "mcfcd", gauge, raw_file_id)  # a newer import: same row
        assert conn.execute("SELECT id, name FROM gauges").fetchall() == [(gauge_id, "Aztec Park")]
