"""(k) Keeping up: a simulated hour of real publication cadence, replayed on this machine.

A mirror receives, at the times the systems we replace publish them, re-stamped real samples:
GFS 0.25 degree (the default fields, 4 cycles a day, every forecast hour, from 3 h 45 min after
the cycle, 0.2 min apart), HRRR hourly (18 hours, 48 at the synoptic cycles, one an hour after
the cycle, 0.5 min apart), GOES-19 ABI CONUS CMIP bands 2, 8 and 13 every 5 minutes, and MRMS
reflectivity and precipitation rate over the whole CONUS every 2 minutes. Every 15 simulated
minutes (the README's cron line) `gridflow run` runs the workflow as cron would, with the local
profile and `--config now=...`: Snakemake, a process per job, imports, loads. The figure is the
processing seconds a simulated hour takes over the 3,600 it lasts (1.0: just keeping up).

What stands in for what (the samples hold one or two fields of each system):
- GFS: the real 0.25 degree TMP field (`gfs...f023-PV-TMP-missing`) as `TMP:2 m above ground`,
  the real complex-packed 0.25 degree HGT 500 mb field (`gfs.complex`) as UGRD, VGRD, PRMSL and
  APCP. Each file holds the 5 selected messages and a real `.idx` of them.
- HRRR: the real surface TMP as `TMP:2 m above ground`, the real 10 m UGRD, and it again as VGRD.
- GOES: the 1000 x 1000 mesoscale CMIP sample, named and timed as each CONUS band's scan, read
  at stride 1: 1 M pixels, about the rows of a CONUS band at the default strides (band 2 at 8,
  bands 8 and 13 at 2: 1250 x 750). A CONUS file is larger to read (band 2: 10000 x 6000).
- MRMS: the whole-CONUS reflectivity scan (7000 x 3500, 24.5 M points, the default stride 4), as
  itself filed as MergedReflectivityQCComposite and again as PrecipRate.

The hour replayed, 02:53-03:53, holds about what an average hour of the day holds: GFS 40 files
(the day 34.8 an hour), HRRR 19 (24), GOES 36, MRMS 60; 155 files (154.8). `--thin K`
publishes every K-th file of each product (one K-th of the work) and scales: an hour's figure
is the runs' fixed cost (the wall of a run with nothing new, measured first) times the runs,
plus K times the rest. The default (K 6) takes a few minutes; `--thin 1` replays the whole
hour.

The store is young after an hour: queries that name a raw file (two in a file's first load)
read the `raw_key` column of every row of the source's partitions they open, so they grow with
the store; the check before each run reads `grid_fields`, a row per loaded field. Each is timed on
the hour's store and extrapolated linearly to the rows the shipped retentions keep (GFS 7 days,
HRRR 3, scans 1), labelled so.

`python -m bench.keep_up [--thin K] [--hours H] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.common import REPO, SAMPLES, report
from devkit import demo
from devkit.grib_restamp import reidentify, restamp
from devkit.simulate import LOCAL_EXECUTOR_ENV, folder_bytes

START = datetime(2025, 3, 12, 2, 53, tzinfo=UTC)
LOOKUPS_A_LOAD = 2  # queries of a first load that read a raw file's rows: the count, the checks
TICK = timedelta(minutes=15)
GFS_CYCLES = (0, 6, 12, 18)
MRMS_PRODUCTS = {  # product -> (category, number) it is filed as in MRMS's table (discipline 209)
    "MergedReflectivityQCComposite_00.50": (10, 0),
    "PrecipRate_00.00": (6, 1),
}
GOES_BANDS = (2, 8, 13)
GOES_SAMPLE = "OR_ABI-L2-CMIPM1-M3C01_G16_s20171931811268_e20171931811326_c20171931811382.nc"


@dataclass(frozen=True)
class Publication:
    at: datetime  # when the object appears upstream
    source: str
    stream: str  # the source's product or band: thinning keeps each stream's share
    write: Callable[[], None]


@dataclass(frozen=True)
class Run:
    now: datetime
    seconds: float
    published: dict[str, int]


def _schedule(name: str) -> dict:
    src = yaml.safe_load((REPO / "config" / "sources" / f"{name}.yaml").read_text())
    by_cycle = src.get("forecast_hours_by_cycle") or {}
    src["forecast_hours_by_cycle"] = {str(h): spec for h, spec in by_cycle.items()}  # as loaded
    return src


def _forecast_publications(
    name: str, bucket: Path, messages: list[bytes], start: datetime, end: datetime
) -> list[Publication]:
    """Every file of the source's shipped schedule whose publication falls in [start, end)."""
    from gridflow.sources import timetable

    src = _schedule(name)
    found = []
    cycle = (start - timedelta(days=1)).replace(minute=0)
    while cycle < end:
        if cycle.hour in src["cycles"]:
            for step in timetable.forecast_hours(src, cycle):
                at = timetable.expected_at(src, cycle, step)
                if start <= at < end:
                    key = src["key"].format(cycle=cycle, step=step)

                    def write(key=key, cycle=cycle, step=step):
                        demo.write_object(bucket, key, messages, cycle, step)

                    found.append(Publication(at, name, name, write))
        cycle += timedelta(hours=1)
    return found


def _gfs_messages() -> list[bytes]:
    tmp = demo.grib_messages(SAMPLES / "gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2")[0]
    hgt = demo.grib_messages(SAMPLES / "gfs.complex.grib2")[0]
    return [
        reidentify(tmp, 0, 0, (103, 2)),  # TMP 2 m above ground
        reidentify(hgt, 2, 2, (103, 10)),  # UGRD 10 m above ground
        reidentify(hgt, 2, 3, (103, 10)),  # VGRD
        reidentify(hgt, 3, 1, (101, 0)),  # PRMSL mean sea level
        reidentify(hgt, 1, 8, (1, 0)),  # APCP surface
    ]


def _hrrr_messages() -> list[bytes]:
    tmp = demo.grib_messages(SAMPLES / "hrrr.t06z.wrfsfcf01-TMP.grib2")[0]
    ugrd = demo.grib_messages(SAMPLES / "hrrr.t06z.wrfsfcf01-UGRD.grib2")[0]
    return [reidentify(tmp, 0, 0, (103, 2)), ugrd, reidentify(ugrd, 2, 3, (103, 10))]


def _mrms_publications(bucket: Path, start: datetime, end: datetime) -> list[Publication]:
    """A scan of each product every 2 minutes (at :39 s, as the sample), a minute later online."""
    scan_message = demo.split_messages(
        gzip.decompress((SAMPLES / demo.MRMS_SAMPLE).read_bytes()), demo.MRMS_SAMPLE
    )[0]
    found = []
    scan = start.replace(minute=start.minute - start.minute % 2, second=39) - timedelta(minutes=2)
    while scan + timedelta(minutes=1) < end:
        at = scan + timedelta(minutes=1)
        if at >= start:
            for product, (category, number) in MRMS_PRODUCTS.items():
                key = f"CONUS/{product}/{scan:%Y%m%d}/MRMS_{product}_{scan:%Y%m%d-%H%M%S}.grib2.gz"
                message = reidentify(scan_message, category, number)

                def write(key=key, message=message, scan=scan):
                    target = bucket / key
                    target.parent.mkdir(parents=True, exist_ok=True)
                    data = gzip.compress(restamp(message, scan, 0), compresslevel=6)
                    target.with_name(target.name + ".partial").write_bytes(data)
                    target.with_name(target.name + ".partial").replace(target)

                found.append(Publication(at, "mrms", product, write))
        scan += timedelta(minutes=2)
    return found


def _goes_publications(bucket: Path, tmp: Path, start: datetime, end: datetime):
    """A CONUS scan of each band every 5 minutes (starting at :01:17, as ABI mode 6 does), online
    at its creation time, 3 minutes later."""
    found = []
    scan = start.replace(minute=start.minute - start.minute % 5 + 1, second=17)
    scan -= timedelta(minutes=5)
    while scan < end:
        at = scan + timedelta(minutes=3)
        if start <= at < end:
            for band in GOES_BANDS:
                # a samples folder holding the mesoscale sample under a CONUS band's name: the
                # demo's writer then names and times it as that band's scan
                name = f"OR_ABI-L2-CMIPC-M6C{band:02d}_G19" + GOES_SAMPLE[26:]
                alias = tmp / "goes-samples" / name
                if not alias.exists():
                    alias.parent.mkdir(parents=True, exist_ok=True)
                    alias.symlink_to(SAMPLES / GOES_SAMPLE)

                def write(folder=alias.parent, name=name, scan=scan):
                    demo.write_abi(folder, name, bucket, scan, minutes=2)

                found.append(Publication(at, "goes19", f"C{band:02d}", write))
        scan += timedelta(minutes=5)
    return found


def _thinned(publications: list[Publication], thin: int) -> list[Publication]:
    """Every `thin`-th publication of each stream, in time order."""
    kept, seen = [], {}
    for pub in sorted(publications, key=lambda p: p.at):
        seen[pub.stream] = seen.get(pub.stream, -1) + 1
        if seen[pub.stream] % thin == 0:
            kept.append(pub)
    return kept


def _config(work: Path, mirror: Path) -> Path:
    buckets = {
        "gfs": "noaa-gfs-bdp-pds",
        "hrrr": "noaa-hrrr-bdp-pds",
        "mrms": "noaa-mrms-pds",
        "goes19": "noaa-goes19",
    }
    sources = {name: {"url": f"file://{mirror / bucket}"} for name, bucket in buckets.items()}
    sources["goes19"]["products"] = [
        {"product": "CMIPC", "variable": "CMI", "bands": list(GOES_BANDS), "stride": 1}
    ]
    cfg = {
        "data_root": str(work / "data"),
        "fetch": {"settle_seconds": 0},
        # the HGT values filed as PRMSL are metres, not pascals (a source's own `validate`
        # fails the configuration's schema check: its reference to the shared part is dangling)
        "validate": {"bounds": {"PRMSL": [0.0, 1.0e6]}},
        "sources_enabled": list(buckets),
        "sources": sources,
    }
    path = work / "keep_up.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _gridflow_run(work: Path, config: Path, now: datetime) -> float:
    """One scheduled run, as cron starts it; returns its wall seconds."""
    command = [
        str(Path(sys.executable).parent / "gridflow"),  # the console script cron runs
        "run",
        "--project",
        str(REPO),
        "--configfile",
        str(config),
        "--directory",
        str(work),
        "--config",
        f"now={now:%Y-%m-%dT%H:%M:%SZ}",
    ]
    env = {k: v for k, v in os.environ.items() if k != "GRIDFLOW_PG_DSN"}
    env |= LOCAL_EXECUTOR_ENV | {"PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise SystemExit(f"gridflow run at {now} failed:\n{done.stderr[-4000:]}")
    return seconds


def _process_start() -> float:
    """A job's process before its work: the median of 3 `gridflow shred --help` (Python, the
    package's imports, the command line)."""
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "gridflow"), "shred", "--help"],
            capture_output=True,
            check=True,
        )
        walls.append(time.perf_counter() - start)
    return sorted(walls)[1]


_STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
_STARTED = re.compile(r"^(?:local)?rule (\w+):$")
_SOURCE = re.compile(r"^\s+wildcards: source=(\w+)")
_JOBID = re.compile(r"^\s+jobid: (\d+)$")
_FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def _job_seconds(work: Path) -> dict[tuple[str, str], list[float]]:
    """Each finished job's wall seconds by rule and source, from Snakemake's logs of every run
    (to the second: the logs' stamps)."""
    per_rule: dict[tuple[str, str], list[float]] = {}
    for log in sorted((work / ".snakemake" / "log").glob("*.snakemake.log")):
        started: dict[str, tuple[datetime, str]] = {}
        sources: dict[str, str] = {}
        stamp, rule, job = None, None, None
        for line in log.read_text().splitlines():
            if m := _STAMP.match(line):
                stamp = datetime.strptime(m[1], "%a %b %d %H:%M:%S %Y")
            elif m := _STARTED.match(line):
                rule, job = m[1], None
            elif (m := _JOBID.match(line)) and rule and stamp:
                job = m[1]
                started[job] = (stamp, rule)
            elif (m := _SOURCE.match(line)) and job:
                sources[job] = m[1]
            elif (m := _FINISHED.match(line)) and m[1] in started and stamp:
                began, rule = started.pop(m[1])
                seconds = (stamp - began).total_seconds()
                per_rule.setdefault((rule, sources.get(m[1], "-")), []).append(seconds)
    return per_rule


def _store(work: Path) -> tuple[int, dict[str, tuple[int, int]]]:
    """(bytes of the store's active parts, {source: (rows, files)})."""
    from gridflow.sinks import clickhouse

    client = clickhouse.connect(f"chdb://{work / 'data' / 'clickhouse'}", create=False)
    try:
        size = client.query(
            "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = "
            "currentDatabase()"
        ).result_rows[0][0]
        rows = client.query(
            "SELECT source, count(), uniqExact(raw_file_id) FROM grid_values GROUP BY source"
        ).result_rows
    finally:
        client.close()
    return int(size), {source: (int(n), int(files)) for source, n, files in rows}


@dataclass(frozen=True)
class StoreScan:
    """What a query that filters on a raw file costs: the store's order and partitions do not
    include `raw_key`, so it reads the column for every row of the source (all of them for the
    verify before each run)."""

    source: str
    rows: int  # the source's rows now
    retained: float  # its rows once retention is reached (this hour's rate x retention hours)
    lookup: float  # seconds of one `WHERE source AND raw_key` count now


def _median_seconds(client, sql: str, parameters: dict | None = None) -> float:
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        client.query(sql, parameters=parameters or {})
        walls.append(time.perf_counter() - start)
    return sorted(walls)[1]


def _store_scans(
    work: Path, config: Path, files_an_hour: dict[str, float]
) -> tuple[list[StoreScan], float]:
    """Each source's raw-file lookup (a file's first load runs two: the count after and the
    checks; the count before reads `grid_fields`) and the check before each run (a GROUP BY
    of `grid_fields`), timed on the store as it is, less a query's own cost (`SELECT 1`); the
    rows retained are the day's files an hour x the rows a file x the retention hours."""
    from gridflow.config import loading
    from gridflow.sinks import clickhouse

    cfg = loading.load_files([str(config)], str(REPO))
    client = clickhouse.connect(f"chdb://{work / 'data' / 'clickhouse'}", create=False)
    try:
        scans, fixed = [], _median_seconds(client, "SELECT 1")
        for source, rows, files, key in client.query(
            "SELECT source, count(), uniqExact(raw_key), any(raw_key) FROM grid_values "
            "GROUP BY source ORDER BY source"
        ).result_rows:
            lookup = _median_seconds(
                client,
                "SELECT count() FROM grid_values WHERE source = %(s)s AND raw_key = %(k)s",
                {"s": source, "k": key},
            )
            retention = cfg["sources"][source]["retention_hours"]
            retained = rows / files * files_an_hour[source] * retention
            scans.append(StoreScan(source, int(rows), retained, max(lookup - fixed, 0.0)))
        verify = _median_seconds(  # what `gridflow run` checks before each run
            client, "SELECT source, raw_key, sum(rows) FROM grid_fields GROUP BY source, raw_key"
        )
        verify = max(verify - fixed, 0.0)
    finally:
        client.close()
    return scans, verify


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.keep_up", description=__doc__.split("\n")[0])
    p.add_argument("--thin", type=int, default=6, help="publish every K-th file (default 6)")
    p.add_argument("--hours", type=float, default=1.0, help="simulated hours (default 1)")
    p.add_argument("--keep", help="work in this folder and keep it (default: a temporary one)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(args.keep or tmp_name)
        _measure(tmp, args.thin, args.hours)


def _publications(tmp: Path, start: datetime, end: datetime) -> list[Publication]:
    mirror = tmp / "mirror"
    return (
        _forecast_publications("gfs", mirror / "noaa-gfs-bdp-pds", _gfs_messages(), start, end)
        + _forecast_publications("hrrr", mirror / "noaa-hrrr-bdp-pds", _hrrr_messages(), start, end)
        + _goes_publications(mirror / "noaa-goes19", tmp, start, end)
        + _mrms_publications(mirror / "noaa-mrms-pds", start, end)
    )


def _files_an_hour(tmp: Path) -> dict[str, float]:
    """Each source's files an hour over a whole day of its schedule."""
    day: dict[str, float] = {}
    for pub in _publications(tmp, START, START + timedelta(days=1)):
        day[pub.source] = day.get(pub.source, 0) + 1 / 24
    return day


def _measure(tmp: Path, thin: int, hours: float) -> None:
    work = tmp / "work"
    work.mkdir(parents=True)
    end = START + timedelta(hours=hours)
    publications = _thinned(_publications(tmp, START, end), thin)
    config = _config(work, tmp / "mirror")
    # the store and Snakemake's folder made, then a run with nothing new: the fixed cost
    _gridflow_run(work, config, START)
    idle = _gridflow_run(work, config, START)
    print(f"  a run with nothing new: {idle:.1f} s", flush=True)
    runs, pending = [], list(publications)
    now = START
    while now < end:
        now = min(now + TICK, end)
        published: dict[str, int] = {}
        while pending and pending[0].at < now:
            pub = pending.pop(0)
            pub.write()
            published[pub.source] = published.get(pub.source, 0) + 1
        seconds = _gridflow_run(work, config, now)
        runs.append(Run(now, seconds, published))
        print(f"  run at {now:%H:%M}: {seconds:6.1f} s for {published}", flush=True)
    _summarise(work, config, runs, idle, thin, hours, _files_an_hour(tmp))


def _summarise(
    work: Path,
    config: Path,
    runs: list[Run],
    idle: float,
    thin: int,
    hours: float,
    files_an_hour: dict[str, float],
) -> None:
    total = sum(r.seconds for r in runs)
    scaled = len(runs) * idle + thin * (total - len(runs) * idle)
    per_hour = scaled / hours
    files: dict[str, int] = {}
    for run in runs:
        for source, n in run.published.items():
            files[source] = files.get(source, 0) + n
    size, rows = _store(work)
    per_day = size * thin * 24 / hours
    for source, (n, loaded) in sorted(rows.items()):
        print(
            f"  {source}: {files.get(source, 0)} files published, {loaded} loaded, "
            f"{n / max(loaded, 1) / 1e6:.2f} M rows a file",
            flush=True,
        )
    per_rule = _job_seconds(work)
    for (rule, source), seconds in sorted(per_rule.items(), key=lambda kv: -sum(kv[1])):
        ordered = sorted(seconds)
        print(
            f"  rule {rule} ({source}): {len(seconds)} jobs, {sum(seconds):.0f} job-seconds, "
            f"median {ordered[len(ordered) // 2]:.0f} s",
            flush=True,
        )
    jobs = sum(len(s) for (rule, _), s in per_rule.items() if rule != "all")
    job_seconds = sum(sum(s) for s in per_rule.values())
    started = _process_start()
    print(
        f"  a job's process start (imports, command line): {started:.2f} s, x {jobs} jobs = "
        f"{started * jobs:.0f} of {job_seconds:.0f} job-seconds; runs' fixed cost "
        f"{len(runs)} x {idle:.1f} s of {total:.0f} s",
        flush=True,
    )
    print(
        f"  store {size / 1e6:.1f} MB for {hours:g} simulated hour(s) of 1/{thin} of the files: "
        f"{per_day / 1e9:.1f} GB per simulated day (extrapolated), data root "
        f"{folder_bytes(work / 'data') / 1e6:.1f} MB",
        flush=True,
    )
    scans, verify = _store_scans(work, config, files_an_hour)
    stored = sum(scan.rows for scan in scans)
    retained = sum(scan.retained for scan in scans)
    at_retention = len(runs) / hours * verify * (retained / stored - 1)
    for scan in scans:
        growth = scan.retained / scan.rows
        published = files_an_hour[scan.source]
        added = published * LOOKUPS_A_LOAD * scan.lookup * (growth - 1)
        at_retention += added
        print(
            f"  {scan.source}: a raw-file lookup {scan.lookup * 1e3:.0f} ms at "
            f"{scan.rows / 1e6:.0f} M rows; at retention {scan.retained / 1e9:.1f} G rows "
            f"(extrapolated, linear): {LOOKUPS_A_LOAD} lookups x {published:.0f} files an hour = "
            f"+{added:.0f} s an hour",
            flush=True,
        )
    print(
        f"  the verify before each run: {verify:.1f} s at {stored / 1e6:.0f} M rows; at "
        f"retention {retained / 1e9:.1f} G rows (extrapolated, linear) the hour would take "
        f"{per_hour + at_retention:.0f} s, not {per_hour:.0f}",
        flush=True,
    )
    report(
        "keep-up processing seconds per simulated hour / 3,600",
        per_hour / 3600,
        f"{per_hour:.0f} s an hour; {len(runs)} runs, {total:.0f} s measured, a run with "
        f"nothing new {idle:.1f} s" + (f", the rest x{thin} (thinned)" if thin > 1 else ""),
    )


if __name__ == "__main__":
    main()
