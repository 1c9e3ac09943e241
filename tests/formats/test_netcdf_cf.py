"""Gridded NetCDF from the Copernicus ADS (CAMS European analysis, EAC4 reanalysis): every
(variable, level, time) slice is a field, values equal netCDF4's read, fill values NULL."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from gridflow.pipeline.fetch import FetchError, fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating
from gridflow.pipeline.shred import read_rows, shred

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


def test_a_cams_analysis_is_valid_at_its_own_time(samples, tmp_path):
    """The real ADS analysis counts 36 hours from 20200101: the analysis of 2020-01-02 12 UTC,
    not a 36-hour forecast of 2020-01-01 00 UTC."""
    idx, rows = _fetch_and_shred(samples, tmp_path, REGIONAL)
    assert idx == (
        "1:0:d=2020010212:pm10_conc:0 m above ground:anl:model=ENSEMBLE:time=0:level_index=0:\n"
    )
    with netCDF4.Dataset(samples / REGIONAL) as ds:
        want = ds.variables["pm10_conc"][0, 0].astype(np.float32)
        lats, lons = ds.variables["latitude"][:], ds.variables["longitude"][:]
    assert len(rows) == want.size
    assert {(r["ref_time"], r["step"], r["forecast"]) for r in rows} == {
        (datetime(2020, 1, 2, 12, tzinfo=UTC), 0, "anl")
    }
    got = np.array([r["value"] for r in rows], dtype=np.float32).reshape(want.shape)
    assert np.array_equal(got, want.filled(np.nan), equal_nan=True)
    assert rows[0]["lat"] == np.float32(lats[0])
    assert rows[0]["lon"] == np.float32(((lons[0] + 180) % 360) - 180)


def _ads_file(
    samples,
    path,
    kind: str,
    hours: list[float],
    long_name: str | None = None,
    span: str = "20200101+[0H_23H]",
):
    """The real PM10 analysis at several times, written as the ADS writes its CAMS European
    NetCDF: `kind` (ANALYSIS or FORECAST) in the time's long name and the global attributes,
    the times in hours from 20200101 (`span`: the dates and hours requested, as the global
    attribute names them), each time's values the real ones plus its index.
    Returns the values written, (time, latitude, longitude)."""
    with netCDF4.Dataset(samples / REGIONAL) as real:
        pm10 = real.variables["pm10_conc"][0, 0].astype(np.float32)
        lats, lons = real.variables["latitude"][:], real.variables["longitude"][:]
        kept = {k: real.getncattr(k) for k in ("institution", "source", "project")}
    values = np.ma.stack([pm10 + np.float32(i) for i in range(len(hours))]).astype(np.float32)
    with netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC") as ds:
        ds.setncatts(kept)
        ds.title = f"PM10 Air Pollutant {kind} at the Surface"
        ds.setncattr(kind, f"Europe, {span}")
        for name, size in (("longitude", 11), ("latitude", 11), ("level", 1), ("time", None)):
            ds.createDimension(name, size)
        for name, data, units in (
            ("longitude", lons, "degrees_east"),
            ("latitude", lats, "degrees_north"),
            ("level", [0.0], "m"),
        ):
            axis = ds.createVariable(name, "f4", (name,))
            axis.long_name, axis.units = name, units
            axis[:] = data
        time = ds.createVariable("time", "f4", ("time",))
        time.long_name = long_name or f"{kind} time from 20200101"
        time.units = "hours"
        time[:] = hours
        var = ds.createVariable(
            "pm10_conc", "f4", ("time", "level", "latitude", "longitude"), fill_value=-999.0
        )
        var.units = "µg/m3"
        var[:] = values[:, np.newaxis]
    return values


HOURS = [0.0, 12.0, 23.0]
DAY = datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "kind, long_name, want",
    [
        # each analysis hour is a reference time of its own
        ("ANALYSIS", None, [(DAY.replace(hour=h), 0, "anl") for h in (0, 12, 23)]),
        # the global attribute says it when the long name does not
        ("ANALYSIS", "time from 20200101", [(DAY.replace(hour=h), 0, "anl") for h in (0, 12, 23)]),
        # one run from the base date, the hours its lead times
        (
            "FORECAST",
            None,
            [(DAY, 0, "anl"), (DAY, 720, "12 hour fcst"), (DAY, 1380, "23 hour fcst")],
        ),
    ],
)
def test_cams_analysis_times_are_references_and_forecast_times_leads(
    samples, tmp_path, kind, long_name, want
):
    from gridflow.formats.cf import axes as cf_axes

    path = tmp_path / "day.nc"
    values = _ads_file(samples, path, kind, HOURS, long_name)
    with netCDF4.Dataset(path) as ds:
        got = cf_axes.times(ds, "time", str(path))
    assert [(w.ref, w.step, w.forecast) for w in got] == want
    idx, rows = _fetch_and_shred(samples, tmp_path, path.name, path.read_bytes())
    assert [line.split(":")[2] for line in idx.splitlines()] == [
        f"d={ref:%Y%m%d%H}" for ref, _, _ in want
    ]
    for i, (ref, step, forecast) in enumerate(want):
        field = [
            r for r in rows if (r["ref_time"], r["step"], r["forecast"]) == (ref, step, forecast)
        ]
        got_values = np.array([r["value"] for r in field], dtype=np.float32)
        assert np.array_equal(got_values, values[i].filled(np.nan).ravel(), equal_nan=True)


def test_a_cams_forecast_of_several_dates_is_a_run_per_date(samples, tmp_path):
    from gridflow.formats.cf import axes as cf_axes

    path = tmp_path / "days.nc"
    _ads_file(
        samples, path, "FORECAST", [0.0, 23.0, 24.0, 47.0], None, "20200101-20200102+[0H_23H]"
    )
    with netCDF4.Dataset(path) as ds:
        got = [(w.ref, w.step, w.forecast) for w in cf_axes.times(ds, "time", str(path))]
    second = DAY.replace(day=2)
    assert got == [
        (DAY, 0, "anl"),
        (DAY, 1380, "23 hour fcst"),
        (second, 0, "anl"),
        (second, 1380, "23 hour fcst"),
    ]


def test_a_cams_forecast_whose_runs_cannot_be_told_apart_is_refused(samples, tmp_path):
    path = tmp_path / "days.nc"
    hours, span = [0.0, 24.0, 30.0, 54.0], "20200101-20200102+[0H_30H]"
    _ads_file(samples, path, "FORECAST", hours, None, span)
    says = r"days.nc: a forecast of several dates with leads over a day \(20200101-20200102"
    with pytest.raises(FetchError, match=says):
        _fetch_and_shred(samples, tmp_path, path.name, path.read_bytes())
    assert not (tmp_path / "out" / "x.nc.json").exists()


def test_latest_is_the_newest_hour_of_a_cams_analysis(samples, tmp_path, capsys):
    """`gridflow latest` orders by reference time: a day's analysis file answers with its
    newest hour, not its first."""
    import json

    from gridflow.cli import main as cli
    from gridflow.sinks import clickhouse

    path = tmp_path / "day.nc"
    values = _ads_file(samples, path, "ANALYSIS", HOURS)
    _fetch_and_shred(samples, tmp_path, path.name, path.read_bytes())
    dsn = f"chdb://{tmp_path}/store"
    client = clickhouse.connect(dsn)
    try:
        clickhouse.migrate(client, Path(__file__).parents[2] / "migrations" / "clickhouse")
        clickhouse.load(client, tmp_path / "out" / "x.parquet", "cams", "raw/cams/x.nc")
    finally:
        client.close()
    with netCDF4.Dataset(path) as ds:
        lat, lon = float(ds.variables["latitude"][5]), float(ds.variables["longitude"][5]) - 360
    capsys.readouterr()
    cli.main(
        ["latest", "--dsn", dsn, "--source", "cams", "--variable", "pm10_conc"]
        + ["--level", "0 m above ground", "--lat", f"{lat}", "--lon", f"{lon}"]
    )
    (got,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert got["valid_time"] == got["ref_time"] == "2020-01-01T23:00:00Z"
    assert got["step"] == 0 and got["forecast"] == "anl"
    assert got["value"] == pytest.approx(float(values[2, 5, 5]))


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
    from gridflow.formats.cf import plugin as netcdf_cf
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


# EURO-CORDEX's rotated pole: a curvilinear grid whose latitude and longitude are 2-D
CORDEX_POLE = {
    "grid_mapping_name": "rotated_latitude_longitude",
    "grid_north_pole_latitude": 39.25,
    "grid_north_pole_longitude": -162.0,
}


def _rotated_pm10(samples, path, unplaced: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real CAMS PM10 analysis laid on an 11 x 11 rotated-pole grid as a climate model
    writes one (rlat/rlon axes, 2-D lat/lon named by `coordinates`); the first `unplaced`
    points of the first row have no latitude (a swath's fill). Returns (values, lat, lon)."""
    from pyproj import CRS, Transformer

    with netCDF4.Dataset(samples / REGIONAL) as ds:
        pm10 = ds.variables["pm10_conc"][0, 0]
    rlat, rlon = np.linspace(-1.0, 1.0, 11), np.linspace(-3.0, -1.0, 11)
    to_wgs84 = Transformer.from_crs(CRS.from_cf(CORDEX_POLE), "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(*np.meshgrid(rlon, rlat))
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", 1)
        ds.createDimension("rlat", 11)
        ds.createDimension("rlon", 11)
        time = ds.createVariable("time", "f8", ("time",))
        time.units = "hours since 2020-01-01 00:00:00"
        time[:] = [36.0]
        for name, values, standard in (("rlat", rlat, "grid_latitude"), ("rlon", rlon, "")):
            axis = ds.createVariable(name, "f8", (name,))
            axis.standard_name = standard or "grid_longitude"
            axis[:] = values
        pole = ds.createVariable("rotated_pole", "i4")
        pole.setncatts(CORDEX_POLE)
        for name, values, units in (("lat", lat, "degrees_north"), ("lon", lon, "degrees_east")):
            var = ds.createVariable(name, "f8", ("rlat", "rlon"), fill_value=-999.0)
            var.units = units
            var[:] = values
        ds.variables["lat"][0, :unplaced] = np.ma.masked
        data = ds.createVariable("pm10", "f4", ("time", "rlat", "rlon"), fill_value=-999.0)
        data.coordinates = "lat lon"
        data.grid_mapping = "rotated_pole"
        data[:] = pm10[np.newaxis]
    return pm10, lat, lon


def test_a_curvilinear_grid_is_placed_by_its_2d_latitude_and_longitude(samples, tmp_path):
    path = tmp_path / "pm10_rotated.nc"
    pm10, lat, lon = _rotated_pm10(samples, path, unplaced=3)
    idx, rows = _fetch_and_shred(samples, tmp_path, path.name, path.read_bytes())
    assert idx == "1:0:d=2020010212:pm10:surface:anl:time=0:level_index=:\n"
    placed = np.ones((11, 11), bool)
    placed[0, :3] = False  # no latitude: no place, no row
    assert len(rows) == placed.sum() == 118
    assert [r["lat"] for r in rows] == lat[placed].astype(np.float32).tolist()
    assert np.allclose([r["lon"] for r in rows], lon[placed], atol=1e-5)
    got = np.array([r["value"] for r in rows], dtype=np.float32)
    assert np.array_equal(got, pm10[placed].astype(np.float32).filled(np.nan), equal_nan=True)
    assert rows[0]["ref_time"] == datetime(2020, 1, 2, 12, tzinfo=UTC)


def test_curvilinear_cells_are_built_from_the_2d_coordinates(samples, tmp_path):
    from gridflow.formats.cf import plugin as netcdf_cf
    from gridflow.inventory import parse

    path = tmp_path / "pm10_rotated.nc"
    pm10, _, _ = _rotated_pm10(samples, path)
    _fetch_and_shred(samples, tmp_path, path.name, path.read_bytes())
    entries = parse((tmp_path / "out" / "x.nc.idx").read_text())
    spec = {"variables": ["pm10"], "thresholds": {"pm10": [40, 50, 100, 150]}}
    (cells,) = netcdf_cf.NetcdfCf().cells(tmp_path / "out" / "x.nc", entries, spec)
    assert np.array_equal(cells.value, pm10.compressed().astype(np.float64))


def _monthly(samples, path, climatology_bounds: bool) -> np.ndarray:
    """EAC4's real total column ozone as a monthly climatology on its 3 x 3 grid: a `month`
    axis, or (`climatology_bounds`) a CF climatological time of 1991-2020."""
    with netCDF4.Dataset(samples / EAC4) as ds:
        lats, lons = ds.variables["latitude"][:], ds.variables["longitude"][:]
        ozone = ds.variables["gtco3"][:12].astype(np.float32)
    with netCDF4.Dataset(path, "w") as ds:
        axis = "time" if climatology_bounds else "month"
        ds.createDimension(axis, 12)
        ds.createDimension("latitude", 3)
        ds.createDimension("longitude", 3)
        if climatology_bounds:
            ds.createDimension("nv", 2)
            time = ds.createVariable("time", "f8", ("time",))
            time.units = "days since 1800-01-01 00:00:00"
            time.climatology = "climatology_bounds"
            mid = [datetime(1800, m, 15) for m in range(1, 13)]
            time[:] = netCDF4.date2num(mid, time.units)
            bounds = ds.createVariable("climatology_bounds", "f8", ("time", "nv"))
            starts = [datetime(1991, m, 1) for m in range(1, 13)]
            ends = [
                datetime(2020, m + 1, 1) if m < 12 else datetime(2021, 1, 1) for m in range(1, 13)
            ]
            bounds[:] = np.stack([netCDF4.date2num(d, time.units) for d in (starts, ends)], 1)
        else:
            ds.createVariable("month", "i4", ("month",))[:] = np.arange(1, 13)
        for name, values, units in (
            ("latitude", lats, "degrees_north"),
            ("longitude", lons, "degrees_east"),
        ):
            var = ds.createVariable(name, "f4", (name,))
            var.units = units
            var[:] = values
        data = ds.createVariable("gtco3", "f4", (axis, "latitude", "longitude"))
        data.cell_methods = f"{axis}: mean within years {axis}: mean over years"
        data[:] = ozone
    return ozone


@pytest.mark.parametrize(
    "cf_time, ref", [(False, datetime(1970, 1, 1)), (True, datetime(1991, 1, 1))]
)
def test_a_monthly_climatology_is_a_field_per_month(samples, tmp_path, cf_time, ref):
    """A climatological axis is no time: each month is a field `month=N`, forecast
    `climatology`, at the start of its climatological period (1970-01-01 when it has none)."""
    path = tmp_path / "gtco3_clim.nc"
    ozone = _monthly(samples, path, cf_time)
    idx, rows = _fetch_and_shred(samples, tmp_path, path.name, path.read_bytes())
    lines = idx.splitlines()
    assert len(lines) == 12
    assert (
        lines[6] == f"7:0:d={ref:%Y%m%d}00:gtco3:surface:climatology:month=7:time=6:level_index=:"
    )
    assert {r["ref_time"] for r in rows} == {ref.replace(tzinfo=UTC)}
    assert {r["forecast"] for r in rows} == {"climatology"}
    for month in range(1, 13):
        got = [r["value"] for r in rows if r["descriptor"] == f"month={month}"]
        assert got == ozone[month - 1].ravel().tolist()
