"""The offline demo: a mirror of NOAA's bucket layout built from the bundled real sample files.

GFS files come from the GFS 2.5-degree sample (307 messages, some packing two fields) and HRRR
files from the HRRR surface-temperature and 10 m wind samples, re-dated to each simulated cycle;
each file gets a wgrib2-style `.idx` as NOAA publishes one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml

from gridflow import inventory, paths
from gridflow.grib_frames import frames
from gridflow.grib_read import build_inventory
from gridflow.grib_restamp import restamp

GFS_SAMPLE = "gfs.t12z.pgrbf120.2p5deg.grib2"
HRRR_SAMPLES = ("hrrr.t06z.wrfsfcf01-TMP.grib2", "hrrr.t06z.wrfsfcf01-UGRD.grib2")
GFS_KEY = "gfs.{cycle:%Y%m%d}/{cycle:%H}/atmos/gfs.t{cycle:%H}z.pgrb2.0p25.f{step:03d}"
HRRR_KEY = "hrrr.{cycle:%Y%m%d}/conus/hrrr.t{cycle:%H}z.wrfsfcf{step:02d}.grib2"


def grib_messages(path: Path) -> list[bytes]:
    data = path.read_bytes()
    return [data[f.offset : f.offset + f.length] for f in frames(data, str(path))]


def write_object(
    bucket: Path, key: str, messages: list[bytes], ref: datetime, step: int, with_idx: bool = True
) -> Path:
    """One mirror object (and its `.idx`), its messages re-dated to `ref` + `step` hours."""
    target = bucket / key
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    tmp.write_bytes(b"".join(restamp(m, ref, step) for m in messages))
    if with_idx:
        Path(str(target) + ".idx").write_text(inventory.format_lines(build_inventory(tmp)))
    tmp.replace(target)
    return target


def build(
    samples: Path,
    out: Path,
    now: str,
    config_out: Path,
    data_root: Path,
    gfs_steps=(0, 3, 6),
    hrrr_steps=(0, 1, 2),
) -> None:
    clock = datetime.fromisoformat(now.replace("Z", "+00:00"))
    day = clock.replace(hour=0, minute=0, second=0, microsecond=0)
    gfs = grib_messages(samples / GFS_SAMPLE)
    hrrr = [m for name in HRRR_SAMPLES for m in grib_messages(samples / name)]
    cycles = [day + timedelta(hours=h) for h in range(0, clock.hour + 7, 6)]
    for cycle in cycles:
        for step in gfs_steps:
            write_object(
                out / "noaa-gfs-bdp-pds", GFS_KEY.format(cycle=cycle, step=step), gfs, cycle, step
            )
        for step in hrrr_steps:
            write_object(
                out / "noaa-hrrr-bdp-pds",
                HRRR_KEY.format(cycle=cycle, step=step),
                hrrr,
                cycle,
                step,
            )
    overrides = {
        "now": now,
        "data_root": str(data_root),
        "fetch": {"settle_seconds": 0},
        "sources": {
            "gfs": {
                "url": f"file://{(out / 'noaa-gfs-bdp-pds').resolve()}",
                "forecast_hours": ",".join(map(str, gfs_steps)),
                "window_hours": 12,
            },
            "hrrr": {
                "url": f"file://{(out / 'noaa-hrrr-bdp-pds').resolve()}",
                "cycles": [0, 6, 12, 18],
                "forecast_hours": ",".join(map(str, hrrr_steps)),
                # an empty mapping would merge into the defaults, not replace them
                "forecast_hours_by_cycle": {
                    h: ",".join(map(str, hrrr_steps)) for h in (0, 6, 12, 18)
                },
                "window_hours": 12,
                "select": [":TMP:surface:"],
            },
        },
    }
    config_out.parent.mkdir(parents=True, exist_ok=True)
    config_out.write_text(yaml.safe_dump(overrides, sort_keys=False))
    print(
        f"demo mirror: {len(cycles)} cycles of GFS and HRRR under {out}; "
        f"config overrides in {config_out}; cycle ids {[paths.cycle_id(c) for c in cycles]}"
    )
