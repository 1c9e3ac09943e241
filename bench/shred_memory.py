"""Peak memory of shredding each of the largest samples, in a fresh process, against a fresh
process that only decodes the same file field by field with eccodes (the floor: a decoded field
must be in memory)."""

from __future__ import annotations

import subprocess
import sys

from bench.common import SAMPLES, report

SCRIPT = """
import json, resource, sys, tempfile
from pathlib import Path
from gridflow import inventory
from gridflow.formats.grib.read import build_inventory, iter_fields
from gridflow.pipeline.shred import shred
import eccodes
raw = Path(sys.argv[1])
if sys.argv[2] == "shred":
    with tempfile.TemporaryDirectory() as tmp:
        idx, side = Path(tmp) / "x.idx", Path(tmp) / "x.json"
        idx.write_text(inventory.format_lines(build_inventory(raw)))
        meta = {"source": "b", "run_id": "b", "raw_key": "b", "format": "grib2"}
        side.write_text(json.dumps(meta))
        shred(raw, idx, side, Path(tmp) / "x.parquet")
else:
    for _, handle in iter_fields(raw):
        eccodes.codes_get_values(handle)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_kib(sample: str, mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(SAMPLES / sample), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def main() -> None:
    for sample, what in [
        ("gfs.t12z.pgrbf120.2p5deg.grib2", "largest file, 343 fields"),
        ("hrrr.t06z.wrfsfcf01-UGRD.grib2", "largest field, 1.9 M points"),
    ]:
        peak, base = peak_kib(sample, "shred"), peak_kib(sample, "decode")
        report(
            f"shred peak memory / decode-only peak ({sample})",
            peak / base,
            f"{what}: shred {peak / 1024:.0f} MiB, eccodes decoding alone {base / 1024:.0f} MiB",
        )


if __name__ == "__main__":
    main()
