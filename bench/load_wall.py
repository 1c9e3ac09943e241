"""(f) Wall time of `gridflow.sinks.clickhouse.load` for one whole file (the GFS 2.5 degree
sample, 343 fields, 3.4 M valued points) against the bare insert of the same rows,
`INSERT INTO grid_values SELECT * FROM file(rows)`, where `rows` is a Parquet file holding every
column of the stored rows (the shred expanded by `gridflow.rows.as_stored`), into the same
chDB store: the floor of moving those rows.

The store already holds other runs of the file (a day of GFS cycles), as a scheduled load finds
it. What the ratio measures is the load's own work around that insert: each row's field
identity and grid looked up from its index, the grid found registered, the counts that tell
whether rows must be replaced, the file's `grid_fields` rows, and the count after. Both a first
load and a reload (which replaces the file's rows) are timed.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

from bench.common import REPO, SAMPLES, report
from gridflow import inventory, rows
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import shred
from gridflow.sinks import clickhouse

SAMPLE = SAMPLES / "gfs.t12z.pgrbf120.2p5deg.grib2"
OTHER_RUNS = 8
TRIES = 3


def _shreds(tmp: Path, count: int) -> list[Path]:
    """`count` shreds of the sample, each of its own raw key (the same rows otherwise)."""
    idx = tmp / "x.idx"
    idx.write_text(inventory.format_lines(build_inventory(SAMPLE)))
    first = tmp / "0.parquet"
    side = tmp / "x.json"
    side.write_text(
        json.dumps({"source": "gfs", "run_id": "b", "raw_key": "raw/0", "format": "grib2"})
    )
    shred(SAMPLE, idx, side, first)
    table, footer = pq.read_table(first), pq.read_metadata(first).metadata
    made = [first]
    for n in range(1, count):
        lineage = {"source": "gfs", "raw_file_id": "b", "raw_key": f"raw/{n}"}
        out = tmp / f"{n}.parquet"
        meta = {rows.FIELDS_KEY: footer[rows.FIELDS_KEY], rows.LINEAGE_KEY: json.dumps(lineage)}
        pq.write_table(table.replace_schema_metadata(meta), out, compression="zstd")
        made.append(out)
    return made


def _bare_insert(client, parquet: Path) -> None:
    client.command(f"INSERT INTO grid_values SELECT * FROM file('{parquet}', Parquet)")


def _expanded(shreds: list[Path]) -> list[Path]:
    """Each shred's rows with every column the stored rows have, as Parquet."""
    made = []
    for shred_path in shreds:
        out = shred_path.with_suffix(".rows.parquet")
        file = pq.ParquetFile(shred_path)
        footer = file.metadata.metadata
        lineage = json.loads(footer[rows.LINEAGE_KEY])
        stored = rows.as_stored(file.read(), rows.fields_of(footer), lineage)
        pq.write_table(stored, out, compression="zstd")
        made.append(out)
    return made


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shreds = _shreds(Path(tmp), OTHER_RUNS + 2 * TRIES)
        expanded = _expanded(shreds)
        client = clickhouse.connect(f"chdb://{tmp}/ch")
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        for n, parquet in enumerate(shreds[:OTHER_RUNS]):
            clickhouse.load(client, parquet, "gfs", f"raw/{n}")
        bare, first, again = [], [], []
        for t in range(TRIES):
            ours, theirs = OTHER_RUNS + 2 * t, OTHER_RUNS + 2 * t + 1
            bare.append(_timed(_bare_insert, client, expanded[theirs]))
            load = (client, shreds[ours], "gfs", f"raw/{ours}")
            first.append(_timed(clickhouse.load, *load))
            again.append(_timed(clickhouse.load, *load))
        total = int(client.command("SELECT count() FROM grid_values"))
        client.close()
    bare_s, first_s, again_s = min(bare), min(first), min(again)
    report(
        "load wall / bare INSERT INTO grid_values SELECT * FROM file(rows)",
        first_s / bare_s,
        f"first load {first_s * 1000:.0f} ms, reload {again_s * 1000:.0f} ms "
        f"({again_s / bare_s:.2f}), bare insert {bare_s * 1000:.0f} ms, into {total:,} rows",
    )


if __name__ == "__main__":
    main()
