"""Build the store of a release before grids were stored once (commit 5939ffa), for the test
that migrates it: `python devkit/old_store.py <checkout of 5939ffa> <out.tar.gz>`.

Run with that checkout's `src` first on sys.path (it does so itself): the old shred and load
write the old `grid_data` table, one row per grid point, NULL where a point has no value.
Kept small: fields thinned by a stride, a few messages each.
"""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from pathlib import Path

OLD, OUT = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
sys.path.insert(0, str(OLD / "src"))
SAMPLES = Path(__file__).resolve().parents[1] / "samples"

from gridflow.grib_frames import frames  # noqa: E402
from gridflow.grib_read import build_inventory  # noqa: E402
from gridflow.shred import ShredOptions, shred  # noqa: E402

from gridflow import inventory  # noqa: E402  (the old release's, from OLD)
from gridflow.sinks import clickhouse  # noqa: E402

assert str(OLD) in clickhouse.__file__, clickhouse.__file__

# (source, sample, messages kept, stride): a field with missing points, two runs of one grid
FILES = [
    ("gfs", "gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2", None, 16),
    ("gfs", "gfs.t12z.pgrbf120.2p5deg.grib2", 6, 1),
    ("era5", "era5-2mt-2019-03-uk-3msg.grib", None, 1),
    ("cams", "chem-cams.grib", None, 1),
]

with tempfile.TemporaryDirectory() as tmp:
    tmp = Path(tmp)
    store = tmp / "store"
    client = clickhouse.connect(f"chdb://{store}")
    clickhouse.migrate(client, OLD / "migrations" / "clickhouse")
    for n, (source, name, messages, stride) in enumerate(FILES):
        data = (SAMPLES / name).read_bytes()
        if messages is not None:
            data = data[: frames(data)[messages].offset]
        raw = tmp / f"{n}.grib2"
        raw.write_bytes(data)
        idx = tmp / f"{n}.idx"
        idx.write_text(inventory.format_lines(build_inventory(raw)))
        key = f"cycles/{source}/2020010100/raw/f{n:03d}.grib2"
        sidecar = tmp / f"{n}.json"
        sidecar.write_text(
            json.dumps({"source": source, "run_id": f"run-{n}", "raw_key": key, "format": "grib2"})
        )
        out = tmp / f"{n}.parquet"
        shred(raw, idx, sidecar, out, ShredOptions(stride=stride))
        print(name, clickhouse.load(client, out, source, key), "rows")
    client.close()
    with tarfile.open(OUT, "w:gz") as tar:
        tar.add(store, arcname="store")
print(OUT, OUT.stat().st_size, "bytes")
