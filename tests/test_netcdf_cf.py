"""Gridded NetCDF from the Copernicus ADS (CAMS European analysis, EAC4 reanalysis): every
(variable, level, time) slice is a field, values equal netCDF4's read, fill values NULL."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import UTC, datetime

import netCDF4
import numpy as np
import pytest

from gridflow.fetch import FetchError, FetchSpec, Operating, fetch
from gridflow.shred import read_rows, shred

REGIONAL = "test_adaptor.cams_regional_fc.nc"
EAC4 = "cams_eac4_232f85b4_tco3_tcwv.nc"


def _zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _fetch_and_shred(samples, tmp_path, name, payload: bytes | None = None):
    mirror = tmp_path / "m"
    mirror.mkdir(exist_ok=True)
    if payload is None:
        shutil.copyfile(samples / name, mirror / name)
    else:
        (mirror / name).write_bytes(payload)
    spec = FetchSpec("cams", "cams_ads", "netcdf_cf", name, None, "raw/cams/x.nc")
    out = tmp_path / "out"
    fetch(spec, Operating(f"file://{mirror}"), out / "x.nc", out / "x.nc.idx", out / "x.nc.json")
    shred(out / "x.nc", out / "x.nc.idx", out / "x.nc.json", out / "x.parquet")
    return (out / "x.nc.idx").read_text(), read_rows(out / "x.parquet").to_pylist()


def test_cams_regional_hours_count_from_the_base_date(samples, tmp_path):
    idx, rows = _fetch_and_shred(samples, tmp_path, REGIONAL)
    assert idx == (
        "1:0:d=2020010100:pm10_conc:0 m above ground:36 hour fcst:model=ENSEMBLE:time=0:"
        "level_index=0:\n"
    )
    with netCDF4.Dataset(samples / REGIONAL) as ds:
        want = ds.variables["pm10_conc"][0, 0].astype(np.float32)
        lats, lons = ds.variables["latitude"][:], ds.variables["longitude"][:]
    assert len(rows) == want.size
    assert rows[0]["ref_time"] == datetime(2020, 1, 1, tzinfo=UTC) and rows[0]["step"] == 36 * 60
    got = np.array([r["value"] for r in rows], dtype=np.float32).reshape(want.shape)
    assert np.array_equal(got, want.filled(np.nan), equal_nan=True)
    assert rows[0]["lat"] == np.float32(lats[0])
    assert rows[0]["lon"] == np.float32(((lons[0] + 180) % 360) - 180)


def test_cf_times_and_packed_values(samples, tmp_path):
    idx, rows = _fetch_and_shred(samples, tmp_path, EAC4)
    with netCDF4.Dataset(samples / EAC4) as ds:
        times = netCDF4.num2date(ds.variables["time"][:], ds.variables["time"].units)
        ozone = ds.variables["gtco3"][:].astype(np.float32)
    assert idx.count(":gtco3:") == len(times) and idx.count(":tcwv:") == len(times)
    first = [r for r in rows if r["variable"] == "gtco3" and r["ref_time"] == rows[0]["ref_time"]]
    assert rows[0]["ref_time"] == datetime(*times[0].timetuple()[:6], tzinfo=UTC)
    assert np.array_equal([r["value"] for r in first], ozone[0].ravel())


@pytest.mark.parametrize(
    "payload, says",
    [
        (b"PK\x03\x04zipped", "a broken zip"),
        (b"<html>", "not a NetCDF file"),
        (_zipped({"a.nc": b"<html>error</html>"}), r"\(a.nc\): not a NetCDF file"),
    ],
)
def test_what_is_not_one_netcdf_grid_is_refused(samples, tmp_path, payload, says):
    with pytest.raises(FetchError, match=says):
        _fetch_and_shred(samples, tmp_path, "bad.nc", payload)
    assert not (tmp_path / "out" / "x.nc.json").exists()


def test_a_zip_of_several_netcdf_files_loads_every_member(samples, tmp_path):
    payload = _zipped({n: (samples / n).read_bytes() for n in (REGIONAL, EAC4)})
    idx, rows = _fetch_and_shred(samples, tmp_path, "both.zip", payload)
    assert f":member={REGIONAL}:" in idx and f":member={EAC4}:" in idx
    for name, variable, index in ((REGIONAL, "pm10_conc", (0, 0)), (EAC4, "tcwv", (0,))):
        with netCDF4.Dataset(samples / name) as ds:
            want = ds.variables[variable][index].astype(np.float32).filled(np.nan).ravel()
        first = [r for r in rows if r["variable"] == variable]
        got = np.array([r["value"] for r in first[: want.size]], dtype=np.float32)
        assert np.array_equal(got, want, equal_nan=True), name
    assert {r["descriptor"] for r in rows if r["variable"] == "pm10_conc"} == {"model=ENSEMBLE"}
    assert {r["descriptor"] for r in rows if r["variable"] == "tcwv"} == {""}


def test_netcdf_cells_have_the_grid_footprint_and_severity(samples, tmp_path):
    from gridflow.formats import netcdf_cf
    from gridflow.inventory import parse

    _fetch_and_shred(samples, tmp_path, REGIONAL)
    raw = tmp_path / "out" / "x.nc"
    entries = parse((tmp_path / "out" / "x.nc.idx").read_text())
    spec = {"variables": ["pm10_conc"], "thresholds": {"pm10_conc": [40, 50, 100, 150]}}
    (cells,) = netcdf_cf.NetcdfCf().cells(raw, entries, spec)
    with netCDF4.Dataset(samples / REGIONAL) as ds:
        want = ds.variables["pm10_conc"][0, 0]
    assert cells.variable == "pm10_conc:model=ENSEMBLE"
    assert cells.timestamp == datetime(2020, 1, 2, 12, tzinfo=UTC)
    assert np.array_equal(cells.value, want.compressed().astype(np.float64))
    assert list(cells.severity) == list(np.searchsorted([40, 50, 100, 150], cells.value, "right"))
    import shapely

    first = shapely.from_wkb(cells.wkb[0])
    assert first.bounds == pytest.approx((-0.5, 50.9, -0.4, 51.0), abs=1e-3)
