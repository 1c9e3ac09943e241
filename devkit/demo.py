"""The offline demo: a mirror of NOAA's bucket layouts built from the bundled real sample files.

GFS files come from the GFS 2.5-degree sample (307 messages, some packing two fields) and HRRR
files from the HRRR surface-temperature and 10 m wind samples, re-dated to each simulated cycle;
each file gets a wgrib2-style `.idx` as NOAA publishes one. Scan sources get the MRMS
reflectivity and the GOES ABI samples, re-dated to scans shortly before the demo's clock (names
and the times inside the files; the values stay as published).
"""

from __future__ import annotations

import gzip
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import netCDF4
import yaml

from devkit.grib_restamp import restamp
from gridflow import inventory, paths
from gridflow.formats.grib.frames import frames
from gridflow.formats.grib.read import build_inventory
from gridflow.sources.goes_abi import bucket_folder

GFS_SAMPLE = "gfs.t12z.pgrbf120.2p5deg.grib2"
HRRR_SAMPLES = ("hrrr.t06z.wrfsfcf01-TMP.grib2", "hrrr.t06z.wrfsfcf01-UGRD.grib2")
GFS_KEY = "gfs.{cycle:%Y%m%d}/{cycle:%H}/atmos/gfs.t{cycle:%H}z.pgrb2.0p25.f{step:03d}"
HRRR_KEY = "hrrr.{cycle:%Y%m%d}/conus/hrrr.t{cycle:%H}z.wrfsfcf{step:02d}.grib2"


def grib_messages(path: Path) -> list[bytes]:
    return split_messages(path.read_bytes(), str(path))


def split_messages(data: bytes, origin: str) -> list[bytes]:
    return [data[f.offset : f.offset + f.length] for f in frames(data, origin)]


def demo_scans(clock: datetime) -> list[datetime]:
    """Two scans in the demo's last half hour."""
    return [clock - timedelta(minutes=m) for m in (28, 13)]


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


MRMS_SAMPLE = "MRMS_ReflectivityAtLowestAltitude_00.50_20230406-120039.grib2.gz"
MRMS_PRODUCT = "ReflectivityAtLowestAltitude_00.50"
ABI_SAMPLES = (
    "OR_ABI-L2-CMIPM1-M3C01_G16_s20171931811268_e20171931811326_c20171931811382.nc",
    "OR_ABI-L2-RRQPEF-M6_G16_s20230761510209_e20230761519517_c20230761520040.nc",
)
_ABI_NAME = re.compile(
    r"(OR_ABI-(L1b|L2)-(?P<product>[A-Za-z0-9]+)-M\d+(C\d\d)?_G\d\d)_s\d{14}_e\d{14}_c\d{14}\.nc"
)


def write_mrms(samples: Path, bucket: Path, scan: datetime) -> Path:
    """The MRMS sample as scan `scan`: gzip of the GRIB with its times re-stamped."""
    messages = split_messages(gzip.decompress((samples / MRMS_SAMPLE).read_bytes()), MRMS_SAMPLE)
    key = f"CONUS/{MRMS_PRODUCT}/{scan:%Y%m%d}/MRMS_{MRMS_PRODUCT}_{scan:%Y%m%d-%H%M%S}.grib2.gz"
    target = bucket / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(b"".join(restamp(m, scan, 0) for m in messages)))
    return target


def write_abi(samples: Path, name: str, bucket: Path, scan: datetime, minutes: int = 5) -> Path:
    """An ABI sample as scan `scan`: the name's start/end/creation stamps and the file's
    time_coverage attributes moved; the pixels untouched."""
    match = _ABI_NAME.fullmatch(name)
    end = scan + timedelta(minutes=minutes)
    created = end + timedelta(seconds=30)
    stamp = "{:%Y%j%H%M%S}0"
    new_name = (
        f"{match.group(1)}_s{stamp.format(scan)}_e{stamp.format(end)}_c{stamp.format(created)}.nc"
    )
    target = bucket / f"{bucket_folder(match['product'])}/{scan:%Y/%j/%H}/{new_name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".partial")
    shutil.copyfile(samples / name, tmp)
    with netCDF4.Dataset(tmp, "a") as ds:
        ds.time_coverage_start = f"{scan:%Y-%m-%dT%H:%M:%S}.0Z"
        ds.time_coverage_end = f"{end:%Y-%m-%dT%H:%M:%S}.0Z"
        ds.dataset_name = new_name
    tmp.replace(target)
    return target


# A GOES-16 source for the demo's samples (a mesoscale sector and the full-disk rain rate);
# config/sources/goes19.yaml is the operational equivalent.
DEMO_GOES = {
    "family": "goes_abi",
    "anonymous": True,
    "satellite": "G16",
    "key": "{folder}/{scan:%Y}/{scan:%j}/{scan:%H}",  # NOAA's: ABI-L2-CMIPM/ holds CMIPM1
    "products": [
        {"product": "CMIPM1", "variable": "CMI", "bands": [1], "stride": 2, "dqf_keep": [0, 1]},
        {"product": "RRQPEF", "variable": "RRQPE", "stride": 4, "dqf_keep": [0]},
    ],
    "window_hours": 1,
    "retention_hours": 24,
    "select": "all",
}


def build(
    samples: Path,
    out: Path,
    now: str,
    config_out: Path,
    data_root: Path,
    gfs_steps=(0, 3, 6),
    hrrr_steps=(0, 1, 2),
    scans: bool = True,
    ads_url: str | None = None,
    harmony_url: str | None = None,
    mcfcd_url: str | None = None,
    metrics: bool = False,
) -> None:
    """The mirror and its config; with `ads_url` (a stand-in ADS), CAMS through ADS jobs; with
    `harmony_url` (a stand-in Harmony and Earthdata Login), TEMPO through Harmony; with
    `mcfcd_url` (a stand-in MCFCD), a second config for the rain gauges (demo-gauges.yaml)."""
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
    for scan in demo_scans(clock) if scans else []:
        write_mrms(samples, out / "noaa-mrms-pds", scan)
        for name in ABI_SAMPLES:
            write_abi(samples, name, out / "noaa-goes16", scan)
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
                "stale_after_hours": 18,  # the demo's HRRR runs every 6 hours, not hourly
                "select": [":TMP:surface:"],
            },
        },
    }
    if scans:
        overrides["sources_enabled"] = ["gfs", "hrrr", "mrms", "goes16"]
        overrides["sources"]["mrms"] = {
            "url": f"file://{(out / 'noaa-mrms-pds').resolve()}",
            "products": [MRMS_PRODUCT],
            "bbox": [-113.5, 32.5, -111.0, 34.5],  # around Phoenix
            "stride": 1,
        }
        overrides["sources"]["goes16"] = DEMO_GOES | {
            "url": f"file://{(out / 'noaa-goes16').resolve()}"
        }
    if ads_url:  # both CAMS datasets: the European analysis as NetCDF, the global as GRIB
        overrides.setdefault("sources_enabled", ["gfs", "hrrr"]).extend(
            ["cams_europe", "cams_global"]
        )
        overrides["sources"]["cams_europe"] = {
            "url": ads_url,
            "types": ["analysis"],
            "format": "netcdf_cf",
            "window_hours": 12,
        }
        overrides["sources"]["cams_global"] = {
            "url": ads_url,
            "leadtime_hours": "0",
            "window_hours": 12,
        }
    if ads_url:  # ERA5 through the same stand-in (the CDS speaks the ADS's API): a real week
        overrides["sources_enabled"].append("era5")
        overrides["sources"]["era5"] = {
            "url": ads_url,
            "key_variable": "ADS_API_KEY",  # the stand-in's one key
            "window_hours": 144,  # one day due: the stand-in answers every day with one week
        }
    if harmony_url:  # one TEMPO hour over Los Angeles, through Harmony and Earthdata Login
        overrides.setdefault("sources_enabled", ["gfs", "hrrr"]).append("tempo")
        overrides["sources"]["tempo"] = {
            "url": harmony_url,
            "edl_url": harmony_url,
            "format": "geotiff",
            "products": [
                {
                    "name": "no2",
                    "collection": "C2930763263-LARC_CLOUD",
                    "short_name": "TEMPO_NO2_L3",
                    "variable": "product/vertical_column_troposphere",
                }
            ],
            "bbox": [-121.0, 32.0, -115.0, 36.0],
            "cycles": [clock.hour - 1],
            "publish_delay_minutes": 0,
            "window_hours": 2,
        }
    if metrics:  # Prometheus metrics after every run, beside the config
        overrides["metrics"] = {"textfile": str(config_out.parent.resolve() / "metrics.prom")}
    config_out.parent.mkdir(parents=True, exist_ok=True)
    config_out.write_text(yaml.safe_dump(overrides, sort_keys=False))
    if mcfcd_url:  # the real gauge records are of water year 2023: a run of their own clock
        gauges = {
            "now": "2023-06-15T12:00:00Z",
            "data_root": str(data_root),
            "fetch": {"settle_seconds": 0},
            "sources_enabled": ["mcfcd"],
            "sources": {"mcfcd": {"url": mcfcd_url, "water_years_back": 0, "gauges": [59700]}},
        }
        gauges_out = config_out.with_name("demo-gauges.yaml")
        gauges_out.write_text(yaml.safe_dump(gauges, sort_keys=False))
    scanned = ", 2 scans of MRMS and GOES-16" if scans else ""
    print(
        f"demo mirror: {len(cycles)} cycles of GFS and HRRR{scanned} under {out}; "
        f"config overrides in {config_out}; cycle ids {[paths.cycle_id(c) for c in cycles]}"
    )


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(
        prog="python -m devkit.demo", description="build the offline demo mirror from samples"
    )
    p.add_argument("--samples", default="samples")
    p.add_argument("--out", required=True)
    p.add_argument("--now", required=True)
    p.add_argument("--config-out", required=True)
    p.add_argument("--data-root", required=True)
    p.add_argument("--ads-url", help="a stand-in ADS (devkit.ads_standin): CAMS through jobs")
    p.add_argument("--harmony-url", help="a stand-in Harmony (devkit.harmony_standin): TEMPO")
    p.add_argument("--mcfcd-url", help="a stand-in MCFCD (devkit.mcfcd_standin): rain gauges")
    p.add_argument("--metrics", action="store_true", help="write metrics.prom after each run")
    args = p.parse_args(argv)
    build(
        Path(args.samples),
        Path(args.out),
        args.now,
        Path(args.config_out),
        Path(args.data_root),
        ads_url=args.ads_url,
        harmony_url=args.harmony_url,
        mcfcd_url=args.mcfcd_url,
        metrics=args.metrics,
    )


if __name__ == "__main__":
    main()
