"""People's queries read and nothing else: every write, settings change, table function that
reaches outside the store and multi-statement is refused in one line, and the store is intact."""

from __future__ import annotations

import json
import subprocess

import pytest
from tests_support import REPO

from gridflow import inventory
from gridflow.grib_read import build_inventory
from gridflow.readonly import _statements
from gridflow.shred import shred
from gridflow.sinks import clickhouse

HOSTILE = [
    "DROP TABLE grid_data",
    "INSERT INTO grid_data (source, variable) VALUES ('x', 'y')",
    "ALTER TABLE grid_data DELETE WHERE 1",
    "SYSTEM DROP MARK CACHE",
    "SET readonly = 0",
    "SELECT 1 SETTINGS readonly = 0",
    "SELECT * FROM file('/etc/passwd', 'LineAsString')",
    "SELECT * FROM url('http://127.0.0.1:9/x', 'LineAsString')",
    "SELECT * FROM s3('http://127.0.0.1:9/some-bucket/key', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1:9', system.one)",
    "SELECT 1; DROP TABLE grid_data",
    "CREATE TABLE stolen ENGINE = Memory AS SELECT * FROM grid_data",
]


@pytest.fixture(scope="module")
def store(tmp_path_factory, samples):
    tmp = tmp_path_factory.mktemp("ro")
    raw = samples / "gfs.complex.grib2"
    (tmp / "x.idx").write_text(inventory.format_lines(build_inventory(raw)))
    meta = {"source": "gfs", "run_id": "r1", "raw_key": "raw/x", "format": "grib2"}
    (tmp / "x.json").write_text(json.dumps(meta))
    shred(raw, tmp / "x.idx", tmp / "x.json", tmp / "x.parquet")
    dsn = f"chdb://{tmp}/store"
    client = clickhouse.connect(dsn)
    clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    rows = clickhouse.load(client, tmp / "x.parquet", "gfs", "raw/x")
    client.close()
    return dsn, rows


def _gridflow(*args):
    return subprocess.run(["gridflow", *args], capture_output=True, text=True, timeout=60)


def test_statements_split_outside_quotes_and_comments():
    assert _statements("SELECT ';' -- a; comment\n") == ["SELECT ';'"]
    assert len(_statements("SELECT 1; SELECT 2;")) == 2


def test_writes_and_reaching_out_are_refused(store):
    dsn, rows = store
    for sql in HOSTILE:
        result = _gridflow("sql", "--dsn", dsn, sql)
        where = f"{sql}: {result.stderr}"
        assert result.returncode == 2, where
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gridflow sql: error: refused"), where
        assert "root:" not in result.stdout + result.stderr
    count = _gridflow("sql", "--dsn", dsn, "SELECT count() AS n FROM grid_data")
    assert json.loads(count.stdout) == {"n": rows}


def test_place_queries_bind_what_they_are_given(store):
    dsn, rows = store
    for command in ("point", "latest"):
        result = _gridflow(
            command,
            *("--dsn", dsn, "--source", "gfs", "--level", "500 mb", "--lat", "1", "--lon", "2"),
            *("--variable", "HGT' OR 1=1; DROP TABLE grid_data --"),
        )
        assert result.returncode == 2 and "no data for source=gfs" in result.stderr
        assert "Traceback" not in result.stderr
    count = _gridflow("sql", "--dsn", dsn, "SELECT count() AS n FROM grid_data")
    assert json.loads(count.stdout) == {"n": rows}
