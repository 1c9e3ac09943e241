"""(c) `gridflow point` (nearest point by cell key, then its series) at 10 M+ rows, against the
seed's query, `ORDER BY greatCircleDistance(...) LIMIT 1`, in the same chDB store.

The store holds ten forecast steps of the GFS 0.25 degree sample field (1,038,240 points each).
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.common import REPO, SAMPLES, best_of, report
from devkit.grib_restamp import restamp
from gridflow import inventory, query
from gridflow.grib_read import build_inventory
from gridflow.shred import shred
from gridflow.sinks import clickhouse

STEPS = range(0, 30, 3)
PLACES = [(52.52, 13.40), (40.71, -74.01), (-33.87, 151.21), (64.15, -21.94)]


def build_store(tmp: Path):
    message = (SAMPLES / "gfs.complex.grib2").read_bytes()
    client = clickhouse.connect(f"chdb://{tmp}/ch")
    clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    ref = datetime(2025, 3, 12, 0, tzinfo=UTC)
    for step in STEPS:
        raw = tmp / f"f{step:03d}.grib2"
        raw.write_bytes(restamp(message, ref, step))
        idx, side, out = tmp / "x.idx", tmp / "x.json", tmp / f"f{step:03d}.parquet"
        idx.write_text(inventory.format_lines(build_inventory(raw)))
        side.write_text(
            json.dumps({"source": "gfs", "run_id": "b", "raw_key": raw.name, "format": "grib2"})
        )
        shred(raw, idx, side, out)
        clickhouse.load(client, out, "gfs", raw.name)
    return client


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = build_store(Path(tmp))
        rows = int(client.command("SELECT count() FROM grid_data"))

        def ours():
            for lat, lon in PLACES:
                assert len(
                    query.series(client, query.Field("gfs", "HGT", "500 mb"), lat, lon)
                ) == len(STEPS)

        def seed():
            for lat, lon in PLACES:
                client.query(
                    "SELECT lat, lon, value FROM grid_data WHERE source = 'gfs' AND variable = "
                    "'HGT' AND level = '500 mb' ORDER BY greatCircleDistance(lon, lat, "
                    f"{lon}, {lat}) LIMIT 1"
                )

        t_ours = best_of(ours) / len(PLACES)
        t_seed = best_of(seed) / len(PLACES)
        client.close()
    report(
        "point series time / greatCircleDistance LIMIT 1 time",
        t_ours / t_seed,
        f"{rows:,} rows; gridflow point {t_ours * 1000:.1f} ms for the whole series, "
        f"nearest-point scan {t_seed * 1000:.1f} ms for one value",
    )


if __name__ == "__main__":
    main()
