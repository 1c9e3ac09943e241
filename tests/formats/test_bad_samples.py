"""Every bad or odd sample gets its documented one-line outcome (README, "Bad and odd input")
and leaves nothing partial: a refused file leaves no output at all, an odd one loads exactly
what it holds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from test_netcdf_cf import _monthly, _rotated_pm10
from test_tempo_formats import _bare_geotiff

from gridflow.errors import GridflowError
from gridflow.pipeline.fetch import fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating
from gridflow.pipeline.shred import ShredOptions, shred

MRMS = "MRMS_ReflectivityAtLowestAltitude_00.50_20230406-120039.grib2.gz"
HTML = b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head></html>\n"


def _cut_gzip(samples: Path) -> bytes:
    data = (samples / MRMS).read_bytes()
    return data[: len(data) // 2]


def _corrupt_gzip(samples: Path) -> bytes:
    data = bytearray((samples / MRMS).read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # the CRC no longer adds up
    return bytes(data)


def _gfs_with_a_stale_index(samples: Path) -> tuple[bytes, bytes]:
    """NOAA's real 0.25 degree .idx beside a different GFS file: its offsets point nowhere."""
    grib = (samples / "gfs.t12z.pgrbf120.2p5deg.grib2").read_bytes()
    return grib, (samples / "gfs.20250801.t00z.pgrb2.0p25.f000.idx").read_bytes()


def _sample(name: str):
    return lambda samples: (samples / name).read_bytes()


def _written(write):
    """The bytes of a file `write(samples, path)` makes from the real samples."""

    def make(samples: Path) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "made"
            write(samples, path)
            return path.read_bytes()

    return make


def _static_grid(samples: Path, path: Path) -> None:
    """EAC4's 3 x 3 grid with a field and no time at all."""
    import netCDF4
    import numpy as np

    eac4 = samples / "cams_eac4_232f85b4_tco3_tcwv.nc"
    with netCDF4.Dataset(eac4) as src, netCDF4.Dataset(path, "w") as ds:
        for name in ("latitude", "longitude"):
            ds.createDimension(name, 3)
            ds.createVariable(name, "f4", (name,))[:] = src.variables[name][:]
        ds.createVariable("orography", "f4", ("latitude", "longitude"))[:] = np.ones((3, 3))


# (case, format, bytes of the object, its .idx or None, the one line or the rows kept)
CASES = [
    (
        "truncated GRIB",
        "grib2",
        _sample("hrrr.t11z.wrfsfcf12.grib2"),
        None,
        "the file is truncated",
    ),
    (
        "stray bytes",
        "grib2",
        _sample("subset_20201214_hrrr.t00z.wrfsfcf12.grib2"),
        None,
        "stray bytes at offset 887243",
    ),
    ("stale index", "grib2", _gfs_with_a_stale_index, True, "stale or wrong index"),
    ("gzip cut short", "grib2", _cut_gzip, None, "gzip stream is cut short or corrupt"),
    ("corrupt gzip", "grib2", _corrupt_gzip, None, "gzip stream is cut short or corrupt"),
    ("HTML page as GRIB", "grib2", lambda s: HTML, None, "not GRIB: an HTML page"),
    ("HTML page as NetCDF", "netcdf_cf", lambda s: HTML, None, "not a NetCDF file: an HTML page"),
    ("HTML page as TEMPO", "tempo_netcdf", lambda s: HTML, None, "not a NetCDF4 file: an HTML"),
    ("not GRIB at all", "grib2", _sample("mrms-reflectivity-wgrib2-le.bin.xz"), None, "not GRIB"),
    (
        "all-fill NetCDF",
        "tempo_netcdf",
        _sample("TEMPO_NO2_L2_V03_20240328T154353Z_S008G01.nc4"),
        None,
        0,
    ),
    ("GRIB1 with zero padding", "grib2", _sample("era5-2mt-2019-03-uk-3msg.grib"), None, 3 * 1617),
    (
        "GeoTIFF saying nothing of its data",
        "geotiff",
        lambda s: _bare_geotiff(s, "2024:06:18 14:14:00"),
        None,
        "no time of its data (no time_coverage_start tag, no date in the name",
    ),
    (
        "curvilinear NetCDF",
        "netcdf_cf",
        _written(lambda s, p: _rotated_pm10(s, p, unplaced=3)),
        None,
        121 - 3,
    ),
    ("monthly climatology", "netcdf_cf", _written(lambda s, p: _monthly(s, p, False)), None, 108),
    ("NetCDF with no time", "netcdf_cf", _written(_static_grid), None, "no time axis"),
    (
        "NetCDF that is not ABI",
        "abi_netcdf",
        _sample("test_adaptor.cams_regional_fc.nc"),
        None,
        "not an ABI fixed-grid file (no x, y, goes_imager_projection): "
        "title 'PM10/PM25 Air Pollutant ANALYSIS at the Surface'",
    ),
]
EXTENSIONS = {
    "grib2": "grib2",
    "netcdf_cf": "nc",
    "tempo_netcdf": "nc4",
    "abi_netcdf": "nc",
    "geotiff": "tif",
}
# what each format is asked for when no index chooses (an ABI source names its variable)
SELECT = {"abi_netcdf": [":CMI:band 1:"]}


def _key(case: str, fmt: str) -> str:
    name = case.replace(" ", "_")
    gz = ".gz" if "gzip" in case else ""
    return f"{name}.{EXTENSIONS[fmt]}{gz}"


@pytest.mark.parametrize("case, fmt, make, index, outcome", CASES, ids=[c[0] for c in CASES])
def test_each_bad_sample_has_its_one_line_outcome(
    samples, tmp_path, case, fmt, make, index, outcome
):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    key = _key(case, fmt)
    made = make(samples)
    if index:
        (mirror / key).write_bytes(made[0])
        (mirror / (key + ".idx")).write_bytes(made[1])
    else:
        (mirror / key).write_bytes(made)
    spec = FetchSpec(
        source="x",
        family="noaa_model",
        format=fmt,
        key=key,
        idx_key=key + ".idx" if index else None,
        raw_key=f"raw/x/{key}",
        select=[":TMP:2 m above ground:", ":PRMSL:"] if index else SELECT.get(fmt, "all"),
    )
    out = tmp_path / "out"
    raw, idx, sidecar = out / "f", out / "f.idx", out / "f.json"
    if isinstance(outcome, str):
        with pytest.raises(GridflowError) as err:
            fetch(spec, Operating(f"file://{mirror}"), raw, idx, sidecar)
        message = str(err.value)
        assert outcome in message and "\n" not in message and key in message, message
        assert not out.exists() or not list(out.iterdir())  # nothing that looks complete
        return
    fetch(spec, Operating(f"file://{mirror}"), raw, idx, sidecar)
    stats = shred(raw, idx, sidecar, out / "f.parquet", ShredOptions())
    assert stats.rows == pq.read_metadata(out / "f.parquet").num_rows == outcome
    assert not list(out.glob("*.partial"))


def test_the_padded_grib1_sample_is_a_cut_of_the_real_file(samples):
    """Three whole messages of the ERA5 file, each followed by its zero padding."""
    data = (samples / "era5-2mt-2019-03-uk-3msg.grib").read_bytes()
    assert len(data) == 3 * 3360 and data.count(b"GRIB") == 3
    assert data.endswith(b"7777" + bytes(18))  # 3342-byte messages padded to 3360
