"""What the purge costs in the store: finding which rows expired, dropping and deleting them.

A synthetic `grid_values` of two sources, 40 six-hourly cycles each of four files (625,000 rows a
cycle: 50 M rows), purged at a cutoff that takes 5.5 days of each: ten whole day partitions and
one partly expired day per source. The figure is the time the purge takes to find what expired
(it reads each partition's `raw_key` column) against one GROUP BY over the whole column, the
least any selection by raw file reads; the drops and the single delete are printed beside it.

`python -m bench.purge_store [ROWS_PER_CYCLE]`
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import REPO, best_of, report
from gridflow.pipeline import purge
from gridflow.sinks import clickhouse

SOURCES = ("gfs", "hrrr")
CYCLES = 40
FILES = 4
CUTOFF = datetime(2025, 3, 6, 12, tzinfo=UTC)  # cycles from 2025-03-01 00Z: 22 of 40 expire


def _fill(client, rows_per_cycle: int) -> None:
    start = "toDateTime('2025-03-01 00:00:00', 'UTC')"
    for cycle in range(CYCLES):
        ref = f"{start} + {cycle * 6 * 3600}"
        for source in SOURCES:
            for step in range(FILES):
                key = (
                    f"concat('cycles/{source}/', formatDateTime({ref}, '%Y%m%d%H', 'UTC'), "
                    f"'/raw/f00{step}.grib2')"
                )
                client.command(
                    "INSERT INTO grid_values (source, variable, level, forecast, ref_time, step, "
                    "grid, point, value, raw_file_id, raw_key) "
                    f"SELECT '{source}', 'TMP', 'surface', 'anl', {ref}, {step}, 1, number, "
                    f"rand() / 1e9, 'run', {key} FROM numbers({rows_per_cycle // FILES})"
                )
    while int(client.command("SELECT count() FROM system.merges")):
        time.sleep(1)  # measure a settled store, not one merging under the purge


def main(rows_per_cycle: int = 625_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = clickhouse.connect(f"chdb://{Path(tmp) / 'store'}")
        try:
            clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
            _fill(client, rows_per_cycle)
            total = int(client.command("SELECT count() FROM grid_values"))
            cutoffs = dict.fromkeys(SOURCES, CUTOFF)
            select = best_of(lambda: purge.clickhouse_items(client, cutoffs), 3)
            floor = best_of(
                lambda: client.query("SELECT raw_key, count() FROM grid_values GROUP BY raw_key"), 3
            )
            items = purge.clickhouse_items(client, cutoffs)
            start = time.perf_counter()
            for item in items:
                if item.kind == "partition":
                    clickhouse.drop_partition(client, item.table, item.partition, item.keys)
            dropped = time.perf_counter()
            shared = [i for i in items if i.kind == "rows"]
            clickhouse.delete_rows(
                client,
                "grid_values",
                [i.partition for i in shared],
                [k for i in shared for k in i.keys],
            )
            deleted = time.perf_counter()
            left = int(client.command("SELECT count() FROM grid_values"))
        finally:
            client.close()
    partitions = sum(i.kind == "partition" for i in items)
    report(
        "purge selection / one GROUP BY raw_key",
        select / floor,
        f"{select * 1000:.0f} vs {floor * 1000:.0f} ms at {total / 1e6:.0f} M rows; "
        f"{partitions} partitions dropped in {(dropped - start):.2f} s, the expired rows of "
        f"{len(shared)} shared partitions deleted in {(deleted - dropped):.2f} s; "
        f"{(total - left) / 1e6:.2f} M rows gone",
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
