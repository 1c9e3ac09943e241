"""Loads into a real chDB store: idempotent, crash-safe, and one process at a time."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from tests_support import REPO

from gridflow import inventory
from gridflow import rows as rows_
from gridflow.config.dsn import redact
from gridflow.formats.grib.frames import frames
from gridflow.formats.grib.read import build_inventory
from gridflow.paths import grids_beside
from gridflow.pipeline.shred import shred
from gridflow.query import grids as query
from gridflow.sinks import clickhouse

MIGRATIONS = REPO / "migrations" / "clickhouse"


@pytest.fixture
def gfs_shred(samples, tmp_path):
    """The first 200 messages of the GFS 2.5 degree sample (TMP at 2 m among them), shredded."""
    data = (samples / "gfs.t12z.pgrbf120.2p5deg.grib2").read_bytes()
    cut = frames(data)[200].offset
    raw = tmp_path / "g.grib2"
    raw.write_bytes(data[:cut])
    idx = tmp_path / "g.idx"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    sidecar = tmp_path / "g.json"
    sidecar.write_text(
        json.dumps({"source": "gfs", "run_id": "r1", "raw_key": "raw/gfs/a", "format": "grib2"})
    )
    out = tmp_path / "g.parquet"
    shred(raw, idx, sidecar, out)
    return out


@pytest.fixture
def store(tmp_path):
    dsn = f"chdb://{tmp_path}/ch"
    client = clickhouse.connect(dsn)
    clickhouse.migrate(client, MIGRATIONS)
    yield client, dsn
    client.close()


def test_migrations_are_idempotent(store):
    client, _ = store
    assert clickhouse.migrate(client, MIGRATIONS) == []  # the fixture applied them once


def test_loading_twice_leaves_one_copy(store, gfs_shred):
    client, _ = store
    rows = pq.ParquetFile(gfs_shred).metadata.num_rows
    assert clickhouse.load(client, gfs_shred, "gfs", "raw/gfs/a") == rows
    assert clickhouse.load(client, gfs_shred, "gfs", "raw/gfs/a") == rows
    assert int(client.command("SELECT count() FROM grid_data")) == rows


def test_reload_after_a_crash_half_way_converges(store, gfs_shred):
    client, _ = store
    reader = pq.ParquetFile(gfs_shred)
    fields = rows_.fields_of(reader.metadata.metadata)
    lineage = {"source": "gfs", "raw_file_id": "r1", "raw_key": "raw/gfs/a"}
    clickhouse.register_grids(client, fields, grids_beside(gfs_shred), gfs_shred)
    clickhouse.record_fields(client, fields, lineage)  # a load records its fields first
    first_group = rows_.as_stored(reader.read_row_group(0), fields, lineage)
    client.insert_arrow("grid_values", first_group)
    # the crash: the fields recorded, half the values in
    rows = clickhouse.load(client, gfs_shred, "gfs", "raw/gfs/a")
    assert int(client.command("SELECT count() FROM grid_data")) == rows == reader.metadata.num_rows


def test_point_series_finds_the_nearest_grid_point(store, gfs_shred):
    client, _ = store
    clickhouse.load(client, gfs_shred, "gfs", "raw/gfs/a")
    rows = query.series(client, query.Field("gfs", "TMP", "2 m above ground"), 52.52, 13.40)
    assert len(rows) == 1
    assert (rows[0]["grid_lat"], rows[0]["grid_lon"]) == (52.5, 12.5)
    brute = client.query(
        "SELECT lat, lon FROM grid_data WHERE variable = 'TMP' AND level = '2 m above ground' "
        "ORDER BY greatCircleDistance(lon, lat, 13.40, 52.52) LIMIT 1"
    ).result_rows[0]
    assert (rows[0]["grid_lat"], rows[0]["grid_lon"]) == tuple(brute)
    # near the pole and the antimeridian the box grows until the answer is certain
    for lat, lon in [(89.9, 179.9), (-89.0, -179.9), (0.1, 179.99)]:
        got = query.nearest_point(client, query.Field("gfs", "TMP", "2 m above ground"), lat, lon)
        want = client.query(
            "SELECT lat, lon FROM grid_data WHERE variable = 'TMP' AND level = "
            f"'2 m above ground' ORDER BY greatCircleDistance(lon, lat, {lon}, {lat}) LIMIT 1"
        ).result_rows[0]
        assert got[3] == pytest.approx(
            client.query(
                f"SELECT greatCircleDistance({want[1]}, {want[0]}, {lon}, {lat})"
            ).result_rows[0][0]
        )


def test_a_reader_waits_for_the_store_then_fails_clearly(tmp_path):
    dsn = f"chdb://{tmp_path}/busy"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import clickhouse_connect, sys, time\n"
            f"c = clickhouse_connect.get_client(dsn={dsn!r})\n"
            "print('held', flush=True)\ntime.sleep(6)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(clickhouse.StoreBusy, match="in use by another process"):
            clickhouse.connect(dsn, wait_seconds=1.5)
        assert time.monotonic() - started >= 1.5
        client = clickhouse.connect(dsn, wait_seconds=30)  # waits for the holder to finish
        assert client.command("SELECT 1") == 1
        client.close()
    finally:
        holder.kill()


def test_dsn_is_redacted():
    assert redact("http://user:pw@host:8123/db?x=1") == "http://host:8123/db"


def test_validators_name_what_is_wrong_with_a_load(store, gfs_shred, tmp_path):
    from gridflow.pipeline import load_checks

    client, _ = store
    clickhouse.load(client, gfs_shred, "gfs", "raw/gfs/a")
    idx = (tmp_path / "g.idx").read_text()
    good = load_checks.run(client, "gfs", "raw/gfs/a", idx, {"bounds": {"TMP": [150, 350]}})
    assert good["passed"] and good["fields"] > 50
    extra = idx + "999:99999999:d=2011011012:SNOD:surface:120 hour fcst:\n"
    bad = load_checks.run(
        client,
        "gfs",
        "raw/gfs/a",
        extra,
        {
            "expected": ["TMP:2 m above ground", "WEASD:nowhere"],
            "bounds": {"TMP": [150, 250]},
            "max_missing_share": {"default": 0.0},
        },
    )
    assert not bad["passed"]
    assert "SNOD:surface: in the inventory, not in the store" in bad["problems"]
    assert "WEASD:nowhere: an expected field is missing" in bad["problems"]
    assert any(p.startswith("TMP:2 m above ground: values ") for p in bad["problems"])
