"""Peak memory of shredding each of the largest samples, in a fresh process, against the same
process that only imports the libraries (the baseline)."""

from __future__ import annotations

import subprocess
import sys

from bench.common import SAMPLES, report

SCRIPT = """
import json, resource, sys, tempfile
from pathlib import Path
from gridflow import inventory
from gridflow.grib_read import build_inventory
from gridflow.shred import shred
raw = Path(sys.argv[1])
if sys.argv[2] == "shred":
    with tempfile.TemporaryDirectory() as tmp:
        idx, side = Path(tmp) / "x.idx", Path(tmp) / "x.json"
        idx.write_text(inventory.format_lines(build_inventory(raw)))
        side.write_text(json.dumps({"source": "b", "run_id": "b", "raw_key": "b"}))
        shred(raw, idx, side, Path(tmp) / "x.parquet")
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
    base = peak_kib("gfs.complex.grib2", "import")
    for sample, what in [
        ("gfs.t12z.pgrbf120.2p5deg.grib2", "largest file, 343 fields"),
        ("hrrr.t06z.wrfsfcf01-UGRD.grib2", "largest field, 1.9 M points"),
    ]:
        peak = peak_kib(sample, "shred")
        report(
            f"shred peak memory / import-only peak ({sample})",
            peak / base,
            f"{what}: peak {peak / 1024:.0f} MiB, imports alone {base / 1024:.0f} MiB",
        )


if __name__ == "__main__":
    main()
