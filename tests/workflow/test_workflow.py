"""The whole workflow, run by Snakemake against a loopback HTTP mirror of NOAA's layout."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import rasterio
import yaml
from conftest import copy_sample
from tests_support import NOW, REPO, SMALL_DEMO_ROWS, gridflow, rows_by_source, snakemake

from gridflow.sinks import clickhouse

pytestmark = [pytest.mark.slow]


def test_run_loads_published_files_and_reports_waiting(demo_run):
    workdir, cfg_path, run, mirror = demo_run
    assert "gridflow plan: 6 file(s) published" in run.stderr
    assert "gfs: 2 waiting; next 2025031212 f000 expected at 2025-03-12T15:45Z" in run.stderr
    markers = sorted((workdir / "data" / "cycles").glob("*/*/loaded/clickhouse/*.json"))
    assert len(markers) == 6
    marker = json.loads(markers[0].read_text())
    assert marker["dsn"].startswith("chdb:///") and marker["rows"] > 0
    assert rows_by_source(workdir) == SMALL_DEMO_ROWS
    # the load marker stands for its shred, which is gone (keep_shreds: false)
    assert not list((workdir / "data" / "cycles").glob("*/*/shred/*.parquet"))
    # the HRRR objects hold TMP and UGRD; only TMP was asked for, by one ranged GET each
    hrrr_gets = [r for m, p, r in mirror.requests if m == "GET" and p.endswith("f01.grib2")]
    assert len(hrrr_gets) == 2 and all(r == "bytes=0-1272860" for r in hrrr_gets)


def test_second_run_does_nothing_and_the_next_cycle_previews_alone(demo_run):
    workdir, cfg_path, _, mirror = demo_run
    again = snakemake(workdir, "--configfile", str(cfg_path))
    assert again.returncode == 0
    assert "Nothing to be done" in again.stdout + again.stderr
    later = snakemake(
        workdir, "-n", "--configfile", str(cfg_path), "--config", "now=2025-03-12T18:00:00Z"
    )
    out = later.stdout + later.stderr
    assert later.returncode == 0, out[-2000:]
    fetched = {
        line.split("wildcards: ")[1].removesuffix(", fmt=grib2")
        for line in out.splitlines()
        if "wildcards: source=" in line and "step=" in line
    }
    assert fetched == {
        "source=gfs, cycle=2025031212, step=f000",
        "source=gfs, cycle=2025031212, step=f003",
        "source=hrrr, cycle=2025031212, step=f001",
    }


def test_operating_settings_leave_finished_work_alone(demo_run):
    """Retries, timeouts, anonymous access and the mirror decide how files are fetched, never
    their bytes: changing any of them leaves nothing to do."""
    workdir, cfg_path, _, mirror = demo_run
    cfg = yaml.safe_load(cfg_path.read_text())
    for source in ("gfs", "hrrr"):  # the same objects, read from disk instead of HTTP
        bucket = cfg["sources"][source]["url"].rsplit("/", 1)[1]
        cfg["sources"][source].update(url=f"file://{mirror.root / bucket}", anonymous=False)
    cfg["fetch"].update(max_retries=1, timeout_seconds=7)
    changed = workdir / "operating.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    dry = snakemake(workdir, "-n", "--configfile", str(changed))
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr, (dry.stdout + dry.stderr)[-3000:]


def test_point_query_prints_the_series(demo_run):
    workdir, cfg_path, _, _ = demo_run
    berlin = [
        "--dsn",
        f"chdb://{workdir}/data/clickhouse",
        "--source",
        "gfs",
        "--variable",
        "TMP",
        "--level",
        "2 m above ground",
        "--lat",
        "52.52",
        "--lon",
        "13.40",
    ]
    point = gridflow("point", *berlin)
    assert point.returncode == 0, point.stderr
    rows = [json.loads(line) for line in point.stdout.splitlines()]
    assert [(r["ref_time"], r["step"]) for r in rows] == [
        ("2025-03-12T00:00:00Z", 0),
        ("2025-03-12T00:00:00Z", 180),
        ("2025-03-12T06:00:00Z", 0),
        ("2025-03-12T06:00:00Z", 180),
    ]
    assert rows[1]["valid_time"] == "2025-03-12T03:00:00Z"
    assert (rows[0]["grid_lat"], rows[0]["grid_lon"]) == (52.5, 12.5)
    assert 200 < rows[0]["value"] < 330
    latest = gridflow("latest", *berlin)
    assert [json.loads(line)["ref_time"] for line in latest.stdout.splitlines()] == [
        "2025-03-12T06:00:00Z"
    ]
    sql = gridflow(
        "sql",
        "--dsn",
        f"chdb://{workdir}/data/clickhouse",
        "SELECT count() AS n FROM grid_data WHERE source = 'hrrr'",
    )
    assert json.loads(sql.stdout) == {"n": 2 * 1905141}


def test_unreachable_source_is_reported(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "data_root": str(tmp_path / "d"),
                "sources_enabled": ["gfs"],
                "sources": {"gfs": {"url": "http://127.0.0.1:9/nowhere"}},
                "fetch": {"timeout_seconds": 2, "max_retries": 0},
            }
        )
    )
    result = gridflow("plan", "--configfile", str(cfg), "--now", NOW)
    assert result.returncode == 3
    assert "gfs: UNREACHABLE" in result.stderr and "127.0.0.1:9/nowhere" in result.stderr


def test_invalid_config_fails_at_once_naming_the_key(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"sources": {"gfs": {"cycles": [0, 30]}}}))
    run = snakemake(tmp_path, "-n", "--configfile", str(cfg))
    assert run.returncode != 0
    assert "config.sources.gfs.cycles[1]: 30 is greater than the maximum of 23" in (
        run.stdout + run.stderr
    )


def test_gfs_file_without_idx_loads_every_field_equal_to_gdal(samples, mirror_dir, tmp_path):
    """A GFS file the workflow has never seen, with no .idx: all 343 fields land, and their
    values equal GDAL's independent decode (to float32 rounding) at every checked point."""
    sample = "gfs.t12z.pgrbf120.2p5deg.grib2"
    copy_sample(samples, sample, mirror_dir / "gfs.20110110/12/gfs.t12z.pgrbf120.2p5deg.grib2")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "now": "2011-01-10T18:00:00Z",
                "data_root": "data",
                "sources_enabled": ["gfs"],
                "fetch": {"settle_seconds": 0},
                "sources": {
                    "gfs": {
                        "url": f"file://{mirror_dir}",
                        "idx": None,
                        "select": "all",
                        "key": "gfs.{cycle:%Y%m%d}/{cycle:%H}/gfs.t{cycle:%H}z.pgrbf{step:03d}"
                        ".2p5deg.grib2",
                        "forecast_hours": "120",
                        "cycles": [12],
                    }
                },
            }
        )
    )
    run = snakemake(tmp_path, "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    assert client.command("SELECT count() FROM grid_data_all_points") == 343 * 144 * 73
    idx = (tmp_path / "data/cycles/gfs/2011011012/raw/f120.grib2.idx").read_text().splitlines()
    expected: dict[tuple, list] = {}
    with rasterio.Env(GRIB_NORMALIZE_UNITS="NO"), rasterio.open(samples / sample) as ds:
        assert ds.count == 343 == len(idx)
        pixels = [(r, c) for r in range(0, 73, 9) for c in range(0, 144, 13)]
        # GDAL's own georeferencing says where each checked pixel is
        places = {(r, c): tuple(float(v) for v in ds.xy(r, c))[::-1] for r, c in pixels}
        for band, line in enumerate(idx, start=1):
            var, level, fcst = line.split(":")[3:6]
            data = ds.read(band, masked=True)  # GDAL's nodata is our NULL
            for (r, c), (lat, lon) in places.items():
                key = (var, level, fcst, lat, ((lon + 180) % 360) - 180)
                value = None if data.mask[r, c] else np.float32(data[r, c]).item()
                expected.setdefault(key, []).append(value)
    stored = client.query(
        "SELECT variable, level, forecast, lat, lon, value FROM grid_data_all_points "
        "WHERE (lat, lon) IN %(points)s ORDER BY variable, level, forecast, lat, lon, value",
        parameters={"points": sorted({k[3:] for k in expected})},
    ).result_rows
    client.close()
    by_field: dict[tuple, list] = {}
    for var, level, fcst, lat, lon, value in stored:
        by_field.setdefault((var, level, fcst, lat, lon), []).append(value)
    assert len(by_field) == len(expected) >= 343 * len(pixels) * 0.9
    nulls = 0
    for key, values in expected.items():
        got, want = by_field[key], values
        assert got.count(None) == want.count(None), key
        nulls += want.count(None)
        got, want = (
            sorted(v for v in got if v is not None),
            sorted(v for v in want if v is not None),
        )
        # GDAL unpacks in single precision, eccodes in double: the two may round to
        # neighbouring float32 values, never further apart
        ulps = np.abs(np.float32(got).view(np.int32) - np.float32(want).view(np.int32))
        assert ulps.size == 0 or ulps.max() <= 1, (key, got, want)
    assert nulls > 0  # the soil fields' land mask is checked too


def test_status_metrics_and_verify_watch_the_same_run(demo_run):
    """One run watched three ways (one run: each costs the demo's half minute)."""
    workdir, cfg_path, _, _ = demo_run
    _status_shows_each_source_and_alerts_when_stale(workdir, cfg_path)
    _every_run_writes_prometheus_metrics(workdir, cfg_path)
    _verify_finds_rows_deleted_by_hand_and_repairs_exactly_them(workdir, cfg_path)
    _the_report_renders_every_figure_in_chromium(workdir, cfg_path)


def _the_report_renders_every_figure_in_chromium(workdir, cfg_path):
    page = workdir / "report.html"
    made = gridflow(
        "report",
        "--configfile",
        str(cfg_path),
        "--out",
        str(page),
        "--source",
        "gfs",
        "--variable",
        "TMP",
        "--level",
        "2 m above ground",
    )
    assert made.returncode == 0, made.stderr
    assert "5 figures" in made.stderr
    shown = subprocess.run(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert 'data-rendered="5/5"' in shown.stdout, shown.stderr[-2000:]


def _status_shows_each_source_and_alerts_when_stale(workdir, cfg_path):
    shown = gridflow("status", "--configfile", str(cfg_path), "--json")
    assert shown.returncode == 0, shown.stderr
    *records, summary = (json.loads(line) for line in shown.stdout.splitlines())
    assert summary["summary"] is True and summary["stale"] == []
    report = {s["source"]: s for s in records}
    assert report["gfs"]["loaded"] + report["hrrr"]["loaded"] == 6
    assert report["gfs"]["waiting"] == 2 and report["gfs"]["failed"] == 0
    assert report["gfs"]["next_expected"] == "2025-03-12T15:45:00+00:00"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["sources"]["gfs"]["stale_after_hours"] = 1  # its newest complete run is hours old
    cfg_path.write_text(yaml.safe_dump(cfg))
    stale = gridflow("status", "--configfile", str(cfg_path))
    assert stale.returncode == 1
    assert stale.stdout.splitlines()[1].startswith("gfs STALE")
    cfg["sources"]["gfs"].pop("stale_after_hours")
    cfg_path.write_text(yaml.safe_dump(cfg))


def _every_run_writes_prometheus_metrics(workdir, cfg_path):
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["metrics"] = {"textfile": str(workdir / "textfile" / "gridflow.prom")}
    cfg_path.write_text(yaml.safe_dump(cfg))
    again = snakemake(workdir, "--configfile", str(cfg_path))
    assert again.returncode == 0, again.stderr[-2000:]
    from prometheus_client.parser import text_string_to_metric_families

    text = (workdir / "textfile" / "gridflow.prom").read_text()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("gridflow_runs_total", (("outcome", "success"),))] == 1
    assert samples[("gridflow_files", (("source", "gfs"), ("state", "loaded")))] >= 1
    loaded = sum(v for (n, labels), v in samples.items() if n == "gridflow_rows_loaded_total")
    assert loaded == sum(SMALL_DEMO_ROWS.values())
    assert samples[("gridflow_rule_jobs_total", (("rule", "fetch"),))] == 6
    fetched = samples[("gridflow_fetched_bytes_total", (("source", "hrrr"),))]
    assert 0 < fetched < samples[("gridflow_upstream_object_bytes_total", (("source", "hrrr"),))]


def _verify_finds_rows_deleted_by_hand_and_repairs_exactly_them(workdir, cfg_path):
    markers = sorted((workdir / "data" / "cycles").glob("*/*/loaded/clickhouse/*.json"))
    victim = json.loads(markers[0].read_text())
    client = clickhouse.connect(f"chdb://{workdir}/data/clickhouse")
    try:
        client.command(
            "DELETE FROM grid_values WHERE raw_key = %(k)s AND value > 280",
            parameters={"k": victim["raw_key"]},
            settings={"lightweight_deletes_sync": 2},
        )
        stray = client.query_df(
            "SELECT * FROM grid_values WHERE raw_key = %(k)s LIMIT 5",
            parameters={"k": victim["raw_key"]},
        )
        stray["raw_key"] = "cycles/gfs/nowhere/raw/f000.grib2"  # rows no marker stands for
        client.insert_df("grid_values", stray)
    finally:
        client.close()
    found = gridflow("verify", "--configfile", str(cfg_path))
    assert found.returncode == 1
    assert found.stdout.splitlines() == [
        line
        for line in found.stdout.splitlines()
        if line.startswith("gfs ") or line.startswith("hrrr ")
    ]
    assert f"{victim['raw_key']}: " in found.stdout and "rows are there" in found.stdout
    assert "cycles/gfs/nowhere/raw/f000.grib2: 5 rows whose raw file has no load marker" in (
        found.stdout
    )
    others = {m: m.stat().st_mtime for m in markers[1:]}
    repaired = gridflow(
        "verify",
        "--repair",
        "--configfile",
        str(cfg_path),
        "--",
        "--directory",
        str(workdir),
        "-s",
        str(REPO / "Snakefile"),
    )
    assert repaired.returncode == 0, repaired.stderr[-2000:]
    assert {m: m.stat().st_mtime for m in markers[1:]} == others  # nothing else was touched
    clean = gridflow("verify", "--configfile", str(cfg_path))
    assert clean.returncode == 0, clean.stdout
    assert rows_by_source(workdir) == SMALL_DEMO_ROWS
