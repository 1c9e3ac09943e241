"""(c) `gridflow point` (nearest grid point, then its whole series) at 100 M+ rows, against the
obvious query, `ORDER BY greatCircleDistance(...) LIMIT 1`, in the same chDB store.

The store is built from one real shred (the GFS 0.25 degree sample field, 1,038,240 points)
loaded 100 times, each copy re-stamped to its own run: four runs a day over 25 days, so the
series crosses 25 day partitions as a real archive's does. `POINT_QUERY_RUNS` sets the runs
(1,000: a billion rows). The scan is the obvious query on `grid_data`, the view people read.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from bench.common import REPO, SAMPLES, p50, report
from gridflow import inventory, rows
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import shred
from gridflow.query import grids as query
from gridflow.sinks import clickhouse

RUNS = int(os.environ.get("POINT_QUERY_RUNS", "100"))
RUNS_AN_INSERT = 50  # 52 M rows: one statement's sort stays in memory
FIELD = query.Field("gfs", "HGT", "500 mb")
FIRST_RUN = datetime(2025, 3, 1, tzinfo=UTC)


def _shred(tmp: Path) -> Path:
    raw = SAMPLES / "gfs.complex.grib2"
    idx, side, out = tmp / "x.idx", tmp / "x.json", tmp / "x.parquet"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    side.write_text(
        json.dumps({"source": "gfs", "run_id": "b", "raw_key": "raw/x", "format": "grib2"})
    )
    shred(raw, idx, side, out)
    return out


def build_store(tmp: Path):
    """(client, seconds spent loading) for a store of RUNS re-stamped copies of one shred."""
    client = clickhouse.connect(f"chdb://{tmp}/ch")
    clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    parquet = _shred(tmp)
    clickhouse.load(client, parquet, "gfs", "raw/x")  # registers the grid
    client.command("TRUNCATE TABLE grid_values")
    client.command("TRUNCATE TABLE grid_fields")
    (field,) = rows.fields_of(pq.read_metadata(parquet).metadata)  # the sample holds one field
    variable, level, forecast, descriptor, _, step = field.identity
    start = time.perf_counter()
    values = {
        "variable": variable,
        "level": level,
        "forecast": forecast,
        "descriptor": descriptor,
        "step": step,
        "first": FIRST_RUN.replace(tzinfo=None, hour=0),
        "grid": field.grid,
        "points": field.points,
        "packed": int(field.packing is not None),
        "scales": list(field.packing.as_json()) if field.packing else [0.0, 1.0, 1.0],
    }
    run = "number"  # one row of numbers() per run: the runs are 6 hours apart
    ref = f"toDateTime(%(first)s, 'UTC') + toIntervalHour(6 * {run})"
    key = f"concat('raw/run', toString({run}))"
    for first in range(0, RUNS, RUNS_AN_INSERT):
        runs = f"numbers({first}, {min(RUNS_AN_INSERT, RUNS - first)})"
        client.command(
            "INSERT INTO grid_values (variable, level, forecast, descriptor, ref_time, step, "
            "grid, point, value, packed, source, raw_file_id, raw_key) SELECT %(variable)s, "
            f"%(level)s, %(forecast)s, %(descriptor)s, {ref}, %(step)s, %(grid)s, point, "
            f"value, packed, 'gfs', 'bench', {key} FROM file('{parquet}', Parquet) AS shred "
            f"CROSS JOIN {runs} AS runs",
            parameters=values,
        )
        client.command(
            "INSERT INTO grid_fields (source, raw_key, raw_file_id, variable, level, forecast, "
            "descriptor, ref_time, step, grid, points, rows, packed, reference, scale, "
            f"decimal) SELECT 'gfs', {key}, 'bench', %(variable)s, %(level)s, %(forecast)s, "
            f"%(descriptor)s, {ref}, %(step)s, %(grid)s, %(points)s, %(points)s, %(packed)s, "
            f"%(scales)s[1], %(scales)s[2], %(scales)s[3] FROM {runs}",
            parameters=values,
        )
    client.command("OPTIMIZE TABLE grid_values FINAL")  # one part per day, as a settled store has
    return client, time.perf_counter() - start


def main() -> None:
    rng = random.Random(17)
    places = [(rng.uniform(-80, 80), rng.uniform(-180, 180)) for _ in range(41)]
    with tempfile.TemporaryDirectory() as tmp:
        client, building = build_store(Path(tmp))
        rows = int(client.command("SELECT count() FROM grid_values"))

        def ours(lat, lon):
            assert len(query.series(client, FIELD, lat, lon)) == RUNS

        def scan(lat, lon):
            client.query(
                "SELECT lat, lon, value FROM grid_data WHERE source = 'gfs' AND variable = "
                "'HGT' AND level = '500 mb' ORDER BY greatCircleDistance(lon, lat, "
                f"{lon}, {lat}) LIMIT 1"
            )

        ours(*places[0])  # the first query loads the primary index
        t_ours = p50(ours, places)
        t_scan = p50(scan, places[: 3 if RUNS <= 100 else 1])  # a billion rows: minutes each
        client.close()
    report(
        "point series time / greatCircleDistance LIMIT 1 time",
        t_ours / t_scan,
        f"{rows:,} rows in {RUNS} runs (built in {building:.0f} s); gridflow point p50 "
        f"{t_ours * 1000:.1f} ms for the whole series of {RUNS} values, nearest-point scan p50 "
        f"{t_scan * 1000:.0f} ms for one value, {t_scan / t_ours:.0f}x",
    )


if __name__ == "__main__":
    main()
