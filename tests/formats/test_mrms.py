"""MRMS radar scans: targets keyed by scan time, gzip transport, in-band missing values."""

from __future__ import annotations

import gzip
import json
import lzma
import subprocess
from datetime import UTC, datetime

import numpy as np
import pytest
import yaml
from conftest import copy_sample
from tests_support import REPO, configured_source

from devkit.simulate import run_snakemake
from gridflow.net.transport import Settings
from gridflow.pipeline.fetch import FetchError, fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating
from gridflow.sinks import clickhouse

SAMPLE = "MRMS_ReflectivityAtLowestAltitude_00.50_20230406-120039.grib2.gz"
PRODUCT = "ReflectivityAtLowestAltitude_00.50"
KEY = f"CONUS/{PRODUCT}/20230406/{SAMPLE}"
BBOX = [-91.5, 34.0, -90.0, 35.0]  # echoes and no-data points side by side


def test_scan_times_come_from_file_names():
    src = configured_source("mrms")
    assert src.scan_time(PRODUCT, KEY) == datetime(2023, 4, 6, 12, 0, 39, tzinfo=UTC)
    for bad in (
        KEY.replace("120039", "12x039"),
        KEY.replace(".gz", ""),
        KEY.replace(PRODUCT, "PrecipRate_00.00", 1),
    ):
        assert src.scan_time(PRODUCT, bad) is None


def test_gzip_cut_short_is_an_error(samples, tmp_path):
    data = (samples / SAMPLE).read_bytes()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "cut.grib2.gz").write_bytes(data[: len(data) // 2])
    spec = FetchSpec(
        source="mrms",
        family="noaa_scan",
        format="grib2",
        key="cut.grib2.gz",
        idx_key=None,
        raw_key="raw/x",
    )
    where = Operating(f"file://{tmp_path / 'm'}", Settings(max_retries=0))
    out = tmp_path / "out"
    with pytest.raises(FetchError, match="cut.grib2.gz: the gzip stream is cut short"):
        fetch(spec, where, out / "x.grib2", out / "x.idx", out / "x.json")
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_scans_load_bit_for_bit_with_wgrib2(samples, mirror_dir, tmp_path):
    copy_sample(samples, SAMPLE, mirror_dir / KEY)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "now": "2023-04-06T12:30:00Z",
                "data_root": "data",
                "sources_enabled": ["mrms"],
                "fetch": {"settle_seconds": 0},
                "sources": {
                    "mrms": {
                        "url": f"file://{mirror_dir}",
                        "products": [PRODUCT],
                        "bbox": BBOX,
                        "stride": 1,
                    }
                },
            }
        )
    )
    run = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "gridflow plan: 1 file(s) published" in run.stderr
    sidecar = json.loads(
        (tmp_path / f"data/cycles/mrms/20230406120039/raw/{PRODUCT}.grib2.json").read_text()
    )
    assert sidecar["upstream_size"] == (samples / SAMPLE).stat().st_size
    raw = (tmp_path / f"data/cycles/mrms/20230406120039/raw/{PRODUCT}.grib2").read_bytes()
    assert raw == gzip.decompress((samples / SAMPLE).read_bytes())

    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    rows = client.query(
        "SELECT variable, level, ref_time, lat, lon, value FROM grid_data_all_points"
    ).result_rows
    client.close()
    assert {(r[0], r[1]) for r in rows} == {
        ("ReflectivityAtLowestAltitude", "500 m above mean sea level")
    }
    assert rows[0][2] == datetime(2023, 4, 6, 12, 0, 39)  # seconds kept
    ref = np.frombuffer(
        lzma.decompress((samples / "mrms-reflectivity-wgrib2-le.bin.xz").read_bytes()), dtype="<f4"
    )
    lat = np.array([r[3] for r in rows], dtype=np.float64)
    lon = np.array([r[4] for r in rows], dtype=np.float64)
    j = np.rint((54.995 - lat) / 0.01).astype(int)
    i = np.rint((lon + 129.995) / 0.01).astype(int)
    expected = ref[j * 7000 + i]
    assert len(rows) == 150 * 100
    got = np.array([np.nan if r[5] is None else r[5] for r in rows], dtype=np.float32)
    missing = np.isin(expected, [-999.0, -99.0])
    assert 0 < missing.sum() < len(rows)
    assert np.array_equal(np.isnan(got), missing)
    assert np.array_equal(got[~missing].view(np.int32), expected[~missing].view(np.int32))

    latest = subprocess.run(
        [
            "gridflow",
            "latest",
            "--dsn",
            f"chdb://{tmp_path}/data/clickhouse",
            "--source",
            "mrms",
            "--variable",
            "ReflectivityAtLowestAltitude",
            "--level",
            "500 m above mean sea level",
            "--lat",
            "34.5",
            "--lon",
            "-90.5",
        ],
        capture_output=True,
        text=True,
    )
    assert json.loads(latest.stdout)["ref_time"] == "2023-04-06T12:00:39Z"

    later = run_snakemake(
        REPO / "Snakefile",
        tmp_path,
        "purge",
        "--configfile",
        str(cfg),
        "--config",
        "now=2023-04-08T00:00:00Z",
    )
    assert later.returncode == 0, later.stderr[-2000:]
    assert not (tmp_path / "data/cycles/mrms/20230406120039/raw").exists()


def test_mrms_table_names_are_abbreviations():
    """GDAL's MRMS table runs two columns together for RhoHV and Zdr (`MergedRhoHV,5-min`)."""
    from gridflow.formats.grib import names as grib_names

    assert grib_names.variable_name(209, 9, 3, 161) == "MergedRhoHV"
    assert grib_names.variable_name(209, 9, 4, 161) == "MergedZdr"
    assert grib_names.variable_name(209, 3, 57, 161) == "ReflectivityAtLowestAltitude"
    for table in grib_names._local_tables().values():
        for name in table.values():
            assert not set(name) & set(",: "), name


def test_a_rhohv_scan_is_named_merged_rhohv(samples):
    """The real scan's header relabelled as RhoHV (9.3) names its field as MRMS does."""
    import eccodes

    from gridflow.formats.grib.names import field_names

    handle = eccodes.codes_new_from_message(gzip.decompress((samples / SAMPLE).read_bytes()))
    header = eccodes.codes_clone(handle, headers_only=True)
    eccodes.codes_release(handle)
    try:
        eccodes.codes_set(header, "parameterCategory", 9)
        eccodes.codes_set(header, "parameterNumber", 3)
        assert field_names(header)[0] == "MergedRhoHV"
    finally:
        eccodes.codes_release(header)
