"""(c) Bytes on disk per stored value in `grid_data`, against the bytes per value of the GRIB
files the rows came from (the packing their producers chose: the floor a lossless store is
measured by), in two layouts:

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


def _sizes(client, source: str) -> tuple[int, int, list]:
    """(rows, compressed bytes, [(column, compressed bytes)] largest first) of one source."""
    rows, size = client.query(
        "SELECT sum(rows), sum(data_compressed_bytes) FROM system.parts WHERE database = "
        "currentDatabase() AND table = 'grid_data' AND active AND partition LIKE %(p)s",
        parameters={"p": f"('{source}',%"},
    ).result_rows[0]
    columns = client.query(
        "SELECT column, sum(column_data_compressed_bytes) AS size FROM system.parts_columns "
        "WHERE database = currentDatabase() AND table = 'grid_data' AND active "
        "AND partition LIKE %(p)s GROUP BY column ORDER BY size DESC LIMIT 4",
        parameters={"p": f"('{source}',%"},
    ).result_rows
    return int(rows), int(size), columns


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        client = clickhouse.connect(f"chdb://{tmp}/ch")
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        for source, names in LAYOUTS.items():
            for name in names:
                _load(client, Path(tmp), source, name)
        client.command("OPTIMIZE TABLE grid_data FINAL")
        sizes = {source: _sizes(client, source) for source in LAYOUTS}
        client.close()
    for source, names in LAYOUTS.items():
        rows, size, columns = sizes[source]
        stored = size / rows
        grib = sum((SAMPLES / name).stat().st_size for name in names) / rows
        # small parts are compact (one file for all columns): no per-column figure then
        largest = ", ".join(f"{name} {col / rows:.2f}" for name, col in columns if col)
        report(
            f"grid_data bytes per value / GRIB bytes per value, {source}",
            stored / grib,
            f"{rows:,} rows of {len(names)} GRIB file(s): store {stored:.2f} bytes/value"
            + (f" ({largest})" if largest else "")
            + f", GRIB {grib:.2f}",
        )


if __name__ == "__main__":
    main()
