"""A store made before grids were stored once (commit 5939ffa, built by devkit/old_store.py:
one row per grid point, NULL where a point has no value) migrates with no row lost."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from tests_support import REPO

from gridflow.ops.verify import Stored
from gridflow.pipeline.load_marker import LoadMarker
from gridflow.query import grids as query
from gridflow.sinks import clickhouse

OLD_STORE = Path(__file__).parent / "data" / "store-5939ffa.tar.gz"
COLUMNS = "source, variable, level, forecast, descriptor, ref_time, step, lat, lon, value, raw_key"


@pytest.fixture
def old_store(tmp_path):
    with tarfile.open(OLD_STORE) as tar:
        tar.extractall(tmp_path, filter="data")
    client = clickhouse.connect(f"chdb://{tmp_path / 'store'}")
    yield client
    client.close()


def _rows(client, table: str = "grid_data") -> list[tuple]:
    return sorted(client.query(f"SELECT {COLUMNS} FROM {table}").result_rows)


def test_a_store_of_5939ffa_migrates_with_no_row_lost(old_store):
    client = old_store
    before = _rows(client)
    valued = [r for r in before if r[9] is not None]
    assert len(valued) < len(before)  # the old table kept points without a value as NULLs
    applied = clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    assert "006_grids_stored_once.py" in applied
    assert _rows(client) == valued  # the view: every valued row, as it was
    assert _rows(client, "grid_data_all_points") == before  # and every point, NULLs too
    tables = dict(
        client.query(
            "SELECT name, engine FROM system.tables WHERE database = currentDatabase()"
        ).result_rows
    )
    assert tables["grid_data"] == "View" and "grid_data_v1" not in tables
    counted = client.query("SELECT sum(points), sum(rows) FROM grid_fields").result_rows[0]
    assert counted == (len(before), len(valued))
    # a grid a set of places: the six GFS 2.5 degree fields share one, as do ERA5's and CAMS'
    places = {(r[0], r[3], r[6]): set() for r in before}  # (source, forecast, step) of a run
    for r in before:
        places[(r[0], r[3], r[6])].add(r[7:9])
    distinct = {frozenset(p) for p in places.values()}
    assert int(client.command("SELECT count() FROM grids")) == len(distinct) == 4
    # missing points are still told: a run whose point has no value reads null
    missing = next(r for r in before if r[9] is None)
    field = query.Field(missing[0], missing[1], missing[2])
    series = query.series(client, field, missing[7], missing[8])
    at_place = [r for r in before if r[:3] == missing[:3] and r[7:9] == missing[7:9]]
    assert sorted(s["value"] is None for s in series) == sorted(r[9] is None for r in at_place)
    assert clickhouse.migrate(client, REPO / "migrations" / "clickhouse") == []


def test_old_markers_count_missing_points_as_rows():
    old, new = LoadMarker(rows=5), LoadMarker(rows=3, points=5)
    assert Stored(rows=3, missing=2).against(old) == 5
    assert Stored(rows=3, missing=2).against(new) == 3
