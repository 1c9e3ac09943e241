"""(c) Bytes on disk per grid value (every point of every loaded field, with a value or not)
across the grid tables (`grid_values`, `grid_points`, `grids`, `grid_fields`), against the
bytes per value of the GRIB files the rows came from (the packing their producers chose: the
floor a lossless store is measured by), in two layouts, each in a store of its own:

- a settled archive: a week of ERA5 hourly 2 m temperature (168 runs of one field on one grid),
  so each point holds 24 runs a day in its day partition, as GFS and HRRR points do;
- single-file parts: seven real GFS, HRRR, AQM, GFS-Wave and ECMWF files, one run each, so every
  point is stored once per field (the worst case for the coordinate columns).

Both are loaded as gridflow loads them and merged to one part per partition (OPTIMIZE FINAL, as
a settled store is); sizes are the parts' compressed column data. Marks and indexes add a few
kilobytes a part: 0.3 bytes a value on the ERA5 box's small day parts, nothing on a real grid's.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench.common import REPO, SAMPLES, report
from gridflow import inventory
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import shred
from gridflow.sinks import clickhouse

LAYOUTS = {
    "settled": ("era5-2mt-2019-03-uk-week1.grib",),
    "single": (
        "gfs.t12z.pgrbf120.2p5deg.grib2",
        "gfs.complex.grib2",
        "hrrr.t06z.wrfsfcf01-UGRD.grib2",
        "hrrr.t06z.wrfsfcf01-TMP.grib2",
        "ecmwf-ifs-oper-surface.grib2",
        "aqm.t12z.ave_1hr_pm25-PMTF.grib2",
        "gfswave.t18z.atlocn.0p16.f001.grib2",
    ),
}


def _load(client, tmp: Path, source: str, name: str) -> None:
    raw = SAMPLES / name
    idx, side, out = tmp / f"{name}.idx", tmp / f"{name}.json", tmp / f"{name}.parquet"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    lineage = {"source": source, "run_id": "b", "raw_key": f"raw/{name}", "format": "grib2"}
    side.write_text(json.dumps(lineage))
    shred(raw, idx, side, out)
    clickhouse.load(client, out, source, f"raw/{name}")


GRID_TABLES = ("grid_values", "grid_points", "grids", "grid_fields")


def _sizes(client) -> tuple[int, int, list]:
    """(grid points of the loaded fields, compressed bytes of every grid table, [(table.column,
    compressed bytes)] largest first) of one store."""
    points = int(client.command("SELECT sum(points) FROM grid_fields"))
    size = int(
        client.command(
            "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = "
            "currentDatabase() AND table IN %(t)s AND active",
            parameters={"t": GRID_TABLES},
        )
    )
    columns = client.query(
        "SELECT concat(table, '.', column), sum(column_data_compressed_bytes) AS size "
        "FROM system.parts_columns WHERE database = currentDatabase() AND table IN %(t)s "
        "AND active GROUP BY table, column ORDER BY size DESC LIMIT 4",
        parameters={"t": GRID_TABLES},
    ).result_rows
    return points, size, columns


def main() -> None:
    sizes = {}
    for source, names in LAYOUTS.items():
        with tempfile.TemporaryDirectory() as tmp:
            client = clickhouse.connect(f"chdb://{tmp}/ch")
            clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
            for name in names:
                _load(client, Path(tmp), source, name)
            for table in GRID_TABLES:
                client.command(f"OPTIMIZE TABLE {table} FINAL")
            sizes[source] = _sizes(client)
            client.close()
    for source, names in LAYOUTS.items():
        points, size, columns = sizes[source]
        stored = size / points
        grib = sum((SAMPLES / name).stat().st_size for name in names) / points
        # small parts are compact (one file for all columns): no per-column figure then
        largest = ", ".join(f"{name} {col / points:.2f}" for name, col in columns if col)
        report(
            f"store bytes per grid value / GRIB bytes per value, {source}",
            stored / grib,
            f"{points:,} grid values of {len(names)} GRIB file(s): store {stored:.2f} "
            "bytes/value" + (f" ({largest})" if largest else "") + f", GRIB {grib:.2f}",
        )


if __name__ == "__main__":
    main()
