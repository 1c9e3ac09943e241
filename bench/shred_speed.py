"""(b) Shred time / eccodes decode-only time on the bundled GFS 2.5 degree file (343 fields)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import eccodes

from bench.common import SAMPLES, best_of, report
from gridflow import inventory
from gridflow.formats.grib.read import build_inventory, iter_fields
from gridflow.pipeline.shred import shred

SAMPLE = SAMPLES / "gfs.t12z.pgrbf120.2p5deg.grib2"


def decode_only() -> None:
    for _, handle in iter_fields(SAMPLE):
        eccodes.codes_get_values(handle)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        idx, side, out = Path(tmp) / "x.idx", Path(tmp) / "x.json", Path(tmp) / "x.parquet"
        idx.write_text(inventory.format_lines(build_inventory(SAMPLE)))
        side.write_text(
            json.dumps({"source": "gfs", "run_id": "bench", "raw_key": "raw/x", "format": "grib2"})
        )
        shredding = best_of(lambda: shred(SAMPLE, idx, side, out), 3)
        rows = sum(1 for _ in iter_fields(SAMPLE)) * 144 * 73
    decoding = best_of(decode_only, 3)
    report(
        "shred time / eccodes decode-only time",
        shredding / decoding,
        f"shred {shredding * 1000:.0f} ms, decode {decoding * 1000:.0f} ms, {rows:,} rows",
    )


if __name__ == "__main__":
    main()
