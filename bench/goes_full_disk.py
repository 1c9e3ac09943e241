"""GOES full disk: shred rows per second with and without a stride, each against reading the
same pixels out of the NetCDF file and nothing else (the floor: HDF5 decompression).

The grid's places come from the grid cache (gridflow.geo.grid_cache, here a folder of the run's
own): the first file of a grid computes and keeps them (printed as "first file"), every later
file of the product reads them back (the figure)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import netCDF4

from bench.common import SAMPLES, best_of, report
from gridflow.geo import grid_cache
from gridflow.pipeline.shred import ShredOptions, shred

SAMPLE = SAMPLES / "OR_ABI-L2-RRQPEF-M6_G16_s20230761510209_e20230761519517_c20230761520040.nc"


def read_only() -> None:
    with netCDF4.Dataset(SAMPLE) as ds:
        ds.set_auto_maskandscale(False)
        ds.variables["RRQPE"][:]
        ds.variables["DQF"][:]


def main() -> None:
    reading = best_of(read_only, 3)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ[grid_cache.ENV] = str(Path(tmp) / "grids")
        idx, side = Path(tmp) / "x.nc.idx", Path(tmp) / "x.nc.json"
        idx.write_text("1:0:d=2023031715:RRQPE:surface:anl:\n")
        side.write_text(
            json.dumps(
                {"source": "goes", "run_id": "bench", "raw_key": "raw/x", "format": "abi_netcdf"}
            )
        )
        for stride in (1, 4):
            options = ShredOptions(stride=stride, dqf_keep=(0,))
            out = Path(tmp) / f"stride{stride}.parquet"
            first = best_of(lambda o=options, p=out: shred(SAMPLE, idx, side, p, o), 1)
            seconds = best_of(lambda o=options, p=out: shred(SAMPLE, idx, side, p, o), 2)
            rows = shred(SAMPLE, idx, side, out, options).rows
            report(
                f"GOES full-disk shred, stride {stride}: time / read-only time",
                seconds / reading,
                f"{rows:,} rows in {seconds:.2f} s = {rows / seconds / 1e6:.2f} M rows/s "
                f"(first file of the grid {first:.2f} s); "
                f"reading 5424x5424 RRQPE + DQF alone {reading:.2f} s",
            )


if __name__ == "__main__":
    main()
