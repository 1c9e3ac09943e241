"""Prometheus metrics: conventions (`promtool check metrics`, counters with `_total`, one unit
per metric), counters kept between runs in the data root, what the dashboards read by source,
and bytes over the wire against the upstream objects' size (gzipped MRMS objects too)."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import copy_sample
from prometheus_client.parser import text_string_to_metric_families

from gridflow import paths
from gridflow.net.transport import Settings
from gridflow.ops import metrics, report
from gridflow.pipeline import purge
from gridflow.pipeline.fetch import fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating

MRMS_SAMPLE = "MRMS_ReflectivityAtLowestAltitude_00.50_20230406-120039.grib2.gz"
MRMS_KEY = f"CONUS/ReflectivityAtLowestAltitude_00.50/20230406/{MRMS_SAMPLE}"
GFS_SELECT = [":TMP:2 m above ground:", ":PRMSL:"]


def _fetch_into(root: Path, source: str, cycle: str, step: str, spec: FetchSpec, url: str):
    """A real fetch into the data root's layout: raw file, inventory, sidecar."""
    names = dict(root=root, source=source, cycle=cycle, step=step, fmt="grib2")
    raw = Path(paths.RAW.format(**names))
    where = Operating(url, Settings(max_retries=0))
    return fetch(spec, where, raw, Path(paths.RAW_IDX.format(**names)), raw.with_suffix(".json"))


def _mrms(samples, mirror_dir, root):
    copy_sample(samples, MRMS_SAMPLE, mirror_dir / MRMS_KEY)
    spec = FetchSpec("mrms", "noaa_scan", "grib2", MRMS_KEY, None, "raw/mrms.grib2")
    step = "ReflectivityAtLowestAltitude_00.50"
    return _fetch_into(root, "mrms", "20230406120039", step, spec, f"file://{mirror_dir}")


def _gfs(gfs_object, mirror_dir, root):
    spec = FetchSpec(
        "gfs", "noaa_model", "grib2", gfs_object, gfs_object + ".idx", "raw/g", GFS_SELECT
    )
    return _fetch_into(root, "gfs", "2025031206", "f003", spec, f"file://{mirror_dir}")


def _config(tmp_path: Path) -> dict:
    return {
        "data_root": str(tmp_path / "data"),
        "metrics": {"textfile": str(tmp_path / "textfile" / "gridflow.prom")},
        "sources": {"gfs": {"retention_hours": 72}, "mrms": {"retention_hours": 24}},
    }


def _samples(cfg: dict) -> dict[tuple, float]:
    text = Path(cfg["metrics"]["textfile"]).read_text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _families(cfg: dict) -> dict[str, str]:
    text = Path(cfg["metrics"]["textfile"]).read_text()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def test_a_gzipped_object_counts_its_packed_bytes_over_the_wire(samples, mirror_dir, tmp_path):
    cfg = _config(tmp_path)
    sidecar = _mrms(samples, mirror_dir, Path(cfg["data_root"]))
    packed = (samples / MRMS_SAMPLE).stat().st_size
    assert sidecar.wire_bytes == sidecar.upstream_size == packed
    assert sidecar.size == len(gzip.decompress((samples / MRMS_SAMPLE).read_bytes()))
    assert sidecar.size > packed  # the raw file kept is the unpacked GRIB
    metrics.write(cfg, None, tmp_path)
    got = _samples(cfg)
    assert got[("gridflow_fetched_bytes_total", (("source", "mrms"),))] == packed
    assert got[("gridflow_upstream_object_bytes_total", (("source", "mrms"),))] == packed
    fetched, whole, _ = report._per_source(Path(cfg["data_root"]), ["mrms"])  # its figure too
    assert fetched == whole == {"mrms": packed}


def test_ranged_gets_count_only_their_ranges(gfs_object, mirror_dir, tmp_path):
    cfg = _config(tmp_path)
    sidecar = _gfs(gfs_object, mirror_dir, Path(cfg["data_root"]))
    ranges = sum(end - start + 1 for start, end in sidecar.byte_ranges)
    assert sidecar.wire_bytes == ranges < sidecar.upstream_size
    metrics.write(cfg, None, tmp_path)
    got = _samples(cfg)
    assert got[("gridflow_fetched_bytes_total", (("source", "gfs"),))] == ranges
    whole = got[("gridflow_upstream_object_bytes_total", (("source", "gfs"),))]
    assert whole == sidecar.upstream_size


def test_counters_persist_across_runs_and_count_each_record_once(
    samples, gfs_object, mirror_dir, tmp_path
):
    cfg = _config(tmp_path)
    root = Path(cfg["data_root"])
    gfs = _gfs(gfs_object, mirror_dir, root)
    _mrms(samples, mirror_dir, root)
    marker = root / "cycles/gfs/2025031206/loaded/clickhouse/f003.json"
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"table": "grid_data", "rows": 21024, "source": "gfs"}))

    metrics.write(cfg, None, tmp_path, "success", 42.0)
    metrics.write(cfg, None, tmp_path)  # by hand: counts no run, and nothing twice
    got = _samples(cfg)
    assert got[("gridflow_runs_total", (("outcome", "success"),))] == 1
    assert got[("gridflow_runs_total", (("outcome", "error"),))] == 0
    assert got[("gridflow_files_ingested_total", (("source", "gfs"),))] == 1
    assert got[("gridflow_rows_loaded_total", (("source", "gfs"), ("table", "grid_data")))] == (
        21024
    )
    assert got[("gridflow_run_duration_seconds_count", ())] == 1
    assert got[("gridflow_run_duration_seconds_sum", ())] == 42.0
    assert got[("gridflow_run_duration_seconds_bucket", (("le", "30.0"),))] == 0
    assert got[("gridflow_run_duration_seconds_bucket", (("le", "60.0"),))] == 1

    # the textfile is rewritten by every run; the totals come from the data root's state
    Path(cfg["metrics"]["textfile"]).unlink()
    marker.write_text(json.dumps({"table": "grid_data", "rows": 21024, "source": "gfs"}))
    os.utime(marker, ns=(marker.stat().st_mtime_ns + 10**9,) * 2)  # loaded again
    metrics.write(cfg, None, tmp_path, "error", 700.0)
    got = _samples(cfg)
    assert got[("gridflow_runs_total", (("outcome", "success"),))] == 1
    assert got[("gridflow_runs_total", (("outcome", "error"),))] == 1
    assert got[("gridflow_files_ingested_total", (("source", "gfs"),))] == 2
    assert got[("gridflow_run_duration_seconds_count", ())] == 2
    assert got[("gridflow_run_duration_seconds_bucket", (("le", "600.0"),))] == 1
    assert got[("gridflow_run_duration_seconds_bucket", (("le", "1200.0"),))] == 2

    # the purge deletes the records; what they counted stays, and the purge is counted
    now = datetime(2025, 3, 20, tzinfo=UTC)
    files = sum(1 for p in (root / "cycles/gfs/2025031206").rglob("*") if p.is_file())
    size = sum(p.stat().st_size for p in (root / "cycles/gfs/2025031206").rglob("*") if p.is_file())
    purged = purge.execute(purge.expired(cfg, now, tmp_path), cfg, tmp_path)
    assert purged["sources"]["gfs"] == {"files": files, "bytes": size, "rows": 0}
    assert not (root / "cycles/gfs").exists()
    metrics.write(cfg, None, tmp_path)
    got = _samples(cfg)
    assert got[("gridflow_fetched_bytes_total", (("source", "gfs"),))] == gfs.wire_bytes
    assert got[("gridflow_files_ingested_total", (("source", "gfs"),))] == 2
    assert got[("gridflow_purge_files_deleted_total", (("source", "gfs"),))] == files
    assert got[("gridflow_purge_bytes_freed_total", (("source", "gfs"),))] == size
    assert got[("gridflow_purge_files_deleted_total", (("source", "mrms"),))] > 0
    assert ("gridflow_last_purge_timestamp_seconds", ()) not in got  # no status report given


def test_names_follow_prometheus_conventions(samples, gfs_object, mirror_dir, tmp_path):
    cfg = _config(tmp_path)
    root = Path(cfg["data_root"])
    _gfs(gfs_object, mirror_dir, root)
    _mrms(samples, mirror_dir, root)
    purge.execute(purge.expired(cfg, datetime(2025, 3, 20, tzinfo=UTC), tmp_path), cfg, tmp_path)
    _gfs(gfs_object, mirror_dir, root)  # fetched again after the purge
    watched = {
        "sources": [
            {
                "source": "gfs",
                "lag_seconds": 3600,
                "stale": False,
                **dict.fromkeys(metrics.STATES, 1),
            }
        ],
        "hosts": [],
        "last_purge": {"purged_at": "2025-03-20T00:00:00+00:00"},
    }
    metrics.write(cfg, watched, tmp_path, "success", 3.0)
    types = _families(cfg)
    for name, kind in types.items():
        assert kind in ("counter", "gauge", "histogram"), (name, kind)
    text = Path(cfg["metrics"]["textfile"]).read_text()
    for line in text.splitlines():  # what only grows is a counter named ..._total
        if line.startswith("# TYPE"):
            _, _, name, kind = line.split()
            assert name.endswith("_total") == (kind == "counter"), line
    for family in text_string_to_metric_families(text):
        for sample in family.samples if family.type == "counter" else []:
            assert sample.name.endswith("_total"), sample
    assert "gridflow_purge_last" not in text  # files, bytes and rows were one metric
    # what the dashboards of the ingester gridflow replaces read
    assert types["gridflow_runs"] == "counter"
    assert types["gridflow_files_ingested"] == "counter"
    assert types["gridflow_run_duration_seconds"] == "histogram"
    assert types["gridflow_purge_files_deleted"] == "counter"
    assert types["gridflow_purge_bytes_freed"] == "counter"
    assert 'gridflow_purge_bytes_freed_total{source="gfs"}' in text
    assert 'gridflow_files_ingested_total{source="gfs"}' not in text  # nothing loaded
    assert types["gridflow_lag_seconds"] == "gauge"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip(
            "promtool is not installed (Debian's `prometheus`; scripts/ensure-promtool): "
            "the names were checked by hand above, not by promtool"
        )
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True
    )
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
