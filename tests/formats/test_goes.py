"""GOES ABI scans: names, the fixed grid's coordinates, the decoding rules and the whole run."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import UTC, datetime

import netCDF4
import numpy as np
import pyproj
import pytest
import xarray as xr
import yaml
from tests_support import REPO, configured_source

from devkit import demo
from devkit.simulate import run_snakemake
from gridflow.formats.abi import read as abi_read
from gridflow.formats.abi.geostationary import lat_lon
from gridflow.net.transport import Remote, Settings
from gridflow.pipeline.fetch import FetchError, fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating
from gridflow.pipeline.shred import ShredOptions, read_rows, shred
from gridflow.sinks import clickhouse
from gridflow.sources.goes_abi import GoesAbi
from gridflow.sources.targets import Lister

CMIP = "OR_ABI-L2-CMIPM1-M3C01_G16_s20171931811268_e20171931811326_c20171931811382.nc"
RRQPE = "OR_ABI-L2-RRQPEF-M6_G16_s20230761510209_e20230761519517_c20230761520040.nc"
AOD = "OR_ABI-L2-AODF-M3_G16_s20190820700371_e20190820711138_c20190820711421.nc"


def _goes19() -> GoesAbi:
    return configured_source("goes19")


def test_scan_times_come_from_abi_file_names():
    src = _goes19()
    assert src.steps == ["CMIPC_C02", "CMIPC_C08", "CMIPC_C13"]
    name = "OR_ABI-L2-CMIPC-M6C13_G19_s20253261201170_e20253261203543_c20253261204041.nc"
    key = f"ABI-L2-CMIPC/2025/326/12/{name}"
    assert src.scan_time("CMIPC_C13", key) == datetime(2025, 11, 22, 12, 1, 17, tzinfo=UTC)
    assert src.listing_prefixes(
        "CMIPC_C13",
        datetime(2025, 11, 22, 11, 30, tzinfo=UTC),
        datetime(2025, 11, 22, 12, 5, tzinfo=UTC),
    ) == ["ABI-L2-CMIPC/2025/326/11/", "ABI-L2-CMIPC/2025/326/12/"]
    for other in (
        name.replace("C13", "C08"),  # another band's file
        name.replace("G19", "G18"),  # another satellite's
        name.replace("s2025326", "s2025x26"),  # a stamp that does not parse
        name.replace("s20253261201170", "s20253661201170"),  # day 366 of 2025
        name + ".tmp",
    ):
        assert src.scan_time("CMIPC_C13", f"ABI-L2-CMIPC/2025/326/12/{other}") is None
    assert src.shred_options("CMIPC_C02") == {"stride": 8, "dqf_keep": [0, 1]}


def _pyproj_lat_lon(path):
    """An independent computation: PROJ's geostationary projection (sweep x), on scan angles
    unpacked in double precision (float32 unpacking alone moves pixels by 2e-6 degrees)."""
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(False)
        p = ds.variables["goes_imager_projection"]
        h = float(p.perspective_point_height)
        x, y = (
            ds[n][:].astype(np.float64) * float(ds[n].scale_factor) + float(ds[n].add_offset)
            for n in ("x", "y")
        )
        geos = pyproj.Proj(
            proj="geos",
            h=h,
            lon_0=float(p.longitude_of_projection_origin),
            a=float(p.semi_major_axis),
            b=float(p.semi_minor_axis),
            sweep="x",
        )
    lon, lat = geos(*np.meshgrid(x * h, y * h), inverse=True, errcheck=False)
    off = ~np.isfinite(lat) | (np.abs(lat) > 90)
    return np.where(off, np.nan, lat), np.where(off, np.nan, lon)


# the full disk (29 M pixels) is the slow one
@pytest.mark.parametrize("name", [CMIP, pytest.param(RRQPE, marks=pytest.mark.slow)])
def test_fixed_grid_coordinates_equal_pyproj(samples, name):
    with abi_read.open_abi(samples / name, name) as ds:
        x, y = abi_read.scan_angles(ds)
        ours = lat_lon(x, y, abi_read.projection(ds))
    theirs = _pyproj_lat_lon(samples / name)
    for mine, ref in zip(ours, theirs, strict=True):
        assert np.array_equal(np.isnan(mine), np.isnan(ref))  # off the disk in both
        on = ~np.isnan(ref)
        assert on.sum() > 0.7 * on.size
        assert np.max(np.abs(mine[on] - ref[on])) < 1e-6


def test_valid_range_and_fill_are_missing_where_xarray_would_not_mask(samples, tmp_path):
    """gridflow drops packed values outside valid_range as netCDF4 does; xarray keeps them."""
    path = tmp_path / CMIP
    shutil.copyfile(samples / CMIP, path)
    with netCDF4.Dataset(path, "a") as ds:
        ds.set_auto_maskandscale(False)
        raw = ds.variables["CMI"][:]
        raw[0, :7] = 4100  # above valid_range [0, 4095]
        raw[1, :3] = -1  # the fill value
        ds.variables["CMI"][:] = raw
    with abi_read.open_abi(path, CMIP) as ds:
        pixels = list(abi_read.valid_pixels(ds, "CMI", CMIP))
    ours = np.concatenate([p.value for p in pixels])
    with netCDF4.Dataset(path) as ds:
        masked = ds.variables["CMI"][:]  # netCDF4 masks fill and valid_range, unpacks
    assert len(ours) == masked.count() == 1000 * 1000 - 10
    np.testing.assert_array_equal(ours, masked.compressed().astype(np.float32))
    with xr.open_dataset(path) as xds:
        assert int(xds["CMI"].notnull().sum()) == 1000 * 1000 - 3  # xarray keeps the 7


def test_dqf_keep_and_all_fill_files(samples):
    with abi_read.open_abi(samples / CMIP, CMIP) as ds:
        dqf = ds.variables["DQF"][:].view(np.uint8)
        good = sum(len(p.value) for p in abi_read.valid_pixels(ds, "CMI", CMIP, dqf_keep=(0,)))
    assert good == int((dqf == 0).sum()) < 1000 * 1000
    with abi_read.open_abi(samples / AOD, AOD) as ds:  # night: every pixel is fill
        assert list(abi_read.valid_pixels(ds, "AOD", AOD)) == []


def _spec(mirror, key, **kw) -> tuple[FetchSpec, Operating]:
    spec = FetchSpec(
        source="goes16",
        family="goes_abi",
        format="abi_netcdf",
        key=key,
        idx_key=None,
        raw_key="raw/goes16/x.nc",
        select=[":RRQPE:surface:"],
        **kw,
    )
    return spec, Operating(f"file://{mirror}", Settings(max_retries=0))


@pytest.mark.parametrize(
    "payload, error",
    [
        (
            "cams",
            "not an ABI fixed-grid file \\(no x, y, goes_imager_projection\\): title "
            "'PM10/PM25 Air Pollutant ANALYSIS at the Surface'",
        ),
        ("eac4", "not an ABI fixed-grid file \\(no x, y, goes_imager_projection\\): no title"),
        ("grib", "not a NetCDF file"),
        ("cut", "NetCDF cannot open the file|cannot be read whole"),
    ],
)
def test_bad_netcdf_is_refused_and_leaves_nothing(samples, tmp_path, payload, error):
    mirror = tmp_path / "m"
    mirror.mkdir()
    data = {
        "cams": (samples / "test_adaptor.cams_regional_fc.nc").read_bytes(),
        "eac4": (samples / "cams_eac4_232f85b4_tco3_tcwv.nc").read_bytes(),
        "grib": (samples / "gfs.complex.grib2").read_bytes(),
        "cut": (samples / RRQPE).read_bytes()[:900_000],
    }[payload]
    (mirror / "f.nc").write_bytes(data)
    out = tmp_path / "out"
    with pytest.raises(FetchError, match=f"m/f.nc: ({error})"):
        fetch(*_spec(mirror, "f.nc"), out / "x.nc", out / "x.nc.idx", out / "x.nc.json")
    assert not out.exists() or list(out.iterdir()) == []


def test_the_newest_creation_of_a_scan_is_fetched(samples, tmp_path):
    mirror = tmp_path / "m"
    scan = datetime(2025, 3, 12, 11, 32, tzinfo=UTC)
    first = demo.write_abi(samples, RRQPE, mirror, scan)
    newer = first.with_name(first.name.replace("_c2025071113730", "_c2025071114000"))
    shutil.copyfile(first, newer)
    src = GoesAbi("goes16", demo.DEMO_GOES | {"url": f"file://{mirror}"})
    spec = FetchSpec(**src.fetch_spec(scan, "RRQPEF", "raw/goes16/x.nc"))
    out = tmp_path / "out"
    sidecar = fetch(
        spec, Operating(f"file://{mirror}"), out / "x.nc", out / "x.nc.idx", out / "x.nc.json"
    )
    assert sidecar.key.endswith(newer.name) and sidecar.format == "abi_netcdf"
    assert (out / "x.nc.idx").read_text() == "1:0:d=2025031211:RRQPE:surface:anl:\n"


def test_a_file_whose_times_disagree_with_its_name_is_refused(samples, tmp_path):
    mirror = tmp_path / "m"
    scan = datetime(2025, 3, 12, 11, 32, tzinfo=UTC)
    path = demo.write_abi(samples, RRQPE, mirror, scan)
    with netCDF4.Dataset(path, "a") as ds:
        ds.time_coverage_start = "2025-03-12T10:00:00.0Z"
    src = GoesAbi("goes16", demo.DEMO_GOES | {"url": f"file://{mirror}"})
    spec = FetchSpec(**src.fetch_spec(scan, "RRQPEF", "raw/goes16/x.nc"))
    out = tmp_path / "out"
    with pytest.raises(FetchError, match="disagrees with the scan start in the file name"):
        fetch(
            spec, Operating(f"file://{mirror}"), out / "x.nc", out / "x.nc.idx", out / "x.nc.json"
        )
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.slow
def test_scans_run_through_the_rules(samples, tmp_path):
    """CMIP (every pixel, DQF 0/1), rain rate in a box, and a night-time AOD file (no rows)."""
    mirror = tmp_path / "mirror"
    scan = datetime(2025, 3, 12, 11, 32, tzinfo=UTC)
    for name in (CMIP, RRQPE, AOD):
        demo.write_abi(samples, name, mirror, scan)
    goes = demo.DEMO_GOES | {
        "url": f"file://{mirror}",
        "products": [
            {"product": "CMIPM1", "variable": "CMI", "bands": [1], "dqf_keep": [0, 1]},
            {"product": "RRQPEF", "variable": "RRQPE", "bbox": [-80, -10, -50, 10]},
            {"product": "AODF", "variable": "AOD", "level": "entire atmosphere"},
        ],
    }
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "now": "2025-03-12T12:00:00Z",
                "data_root": "data",
                "sources_enabled": ["goes16"],
                "fetch": {"settle_seconds": 0},
                "sources": {"goes16": goes},
            }
        )
    )
    run = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg))
    assert run.returncode == 0, run.stderr[-3000:]
    assert "gridflow plan: 3 file(s) published" in run.stderr
    dsn = f"chdb://{tmp_path}/data/clickhouse"
    client = clickhouse.connect(dsn)
    counts = dict(
        client.query("SELECT variable, count() FROM grid_data GROUP BY variable").result_rows
    )
    rows = client.query(
        "SELECT lat, lon, value FROM grid_data WHERE variable = 'CMI' ORDER BY lat, lon"
    ).result_rows
    client.close()

    with netCDF4.Dataset(samples / CMIP) as ds:
        cmi = ds.variables["CMI"][:]  # fill and valid_range masked, unpacked
        dqf = ds.variables["DQF"][:]
    keep = ~np.ma.getmaskarray(cmi) & np.isin(np.ma.filled(dqf, 255), [0, 1])
    assert counts["CMI"] == int(keep.sum())
    assert "AOD" not in counts  # all fill: an empty result, not a bad load
    marker = json.loads(
        (tmp_path / "data/cycles/goes16/20250312113200/loaded/clickhouse/AODF.json").read_text()
    )
    assert marker["rows"] == 0
    assert 0 < counts["RRQPE"] < 5424 * 5424 // 4

    # stored coordinates are the independent computation rounded to float32
    ref_lat, ref_lon = _pyproj_lat_lon(samples / CMIP)
    expected = sorted(
        zip(
            ref_lat[keep].astype(np.float32),
            ref_lon[keep].astype(np.float32),
            cmi[keep].astype(np.float32),
            strict=True,
        )
    )
    got = np.array(rows, dtype=np.float64)
    want = np.array(expected, dtype=np.float64)
    assert np.max(np.abs(got[:, :2] - want[:, :2])) <= 1e-5
    assert np.array_equal(got[:, 2], want[:, 2])

    latest = subprocess.run(
        [
            *("gridflow", "latest", "--dsn", dsn, "--source", "goes16", "--variable", "RRQPE"),
            *("--level", "surface", "--lat", "-3.1", "--lon", "-60.0"),
        ],
        capture_output=True,
        text=True,
    )
    assert latest.returncode == 0, latest.stderr
    assert json.loads(latest.stdout)["ref_time"] == "2025-03-12T11:32:00Z"


def test_mesoscale_sectors_are_listed_in_their_products_folder():
    """NOAA keeps both mesoscale sectors in one folder (ABI-L2-CMIPM/ holds CMIPM1 files)."""
    src = GoesAbi(
        "goes19",
        {
            **_goes19().src,
            "products": [
                {"product": "CMIPM1", "variable": "CMI", "bands": [13]},
                {"product": "RadM2", "variable": "Rad", "bands": [2]},
            ],
        },
    )
    hour = datetime(2025, 3, 12, 11, tzinfo=UTC)
    assert src.key(hour, "CMIPM1_C13") == "ABI-L2-CMIPM/2025/071/11/"
    assert src.key(hour, "RadM2_C02") == "ABI-L1b-RadM/2025/071/11/"


L1B = "OR_ABI-L1b-RadM1-M3C01_G16_s20171931811268_e20171931811326_c20171931811382.nc"


def _level1b(samples, folder) -> None:
    """An ABI Level 1b radiance file of the CMIP sample's scan and fixed grid: `Rad` packed as
    L1b band 1 is (10 bits, fill 1023, valid 0-1022, radiance scale and offset), its DQF."""
    folder.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(samples / CMIP) as src, netCDF4.Dataset(folder / L1B, "w") as out:
        src.set_auto_maskandscale(False)
        for name in ("time_coverage_start", "time_coverage_end", "platform_ID"):
            out.setncattr(name, src.getncattr(name))
        out.title = "ABI L1b Radiances"
        for name, size in src.dimensions.items():
            if name in ("x", "y"):
                out.createDimension(name, len(size))
        for name in ("x", "y", "goes_imager_projection", "DQF"):
            var = src.variables[name]
            attrs = {k: var.getncattr(k) for k in var.ncattrs()}
            made = out.createVariable(
                name, var.dtype, var.dimensions, fill_value=attrs.pop("_FillValue", None)
            )
            made.setncatts(attrs)
            made.set_auto_maskandscale(False)  # what is written is packed already
            made[:] = var[:]
        packed = src.variables["CMI"][:].view(np.uint16)
        rad = out.createVariable("Rad", "i2", ("y", "x"), fill_value=np.int16(1023))
        rad.setncatts(
            {
                "_Unsigned": "true",
                "valid_range": np.array([0, 1022], np.int16),
                "scale_factor": np.float32(0.8121064),
                "add_offset": np.float32(-25.936647),
                "units": "mW m-2 sr-1 (cm-1)-1",
            }
        )
        rad.set_auto_maskandscale(False)
        rad[:] = np.where(packed == 0xFFFF, 1023, np.minimum(packed >> 2, 1022)).astype(np.int16)


def test_level1b_radiances_are_taken_not_skipped(samples, tmp_path):
    """A Level 1b product (RadM1) is listed in ABI-L1b-RadM/, published and loaded: every
    valid radiance, as netCDF4 reads them."""
    _level1b(samples, tmp_path / "made")
    scan = datetime(2025, 3, 12, 11, 32, tzinfo=UTC)
    written = demo.write_abi(tmp_path / "made", L1B, tmp_path / "m", scan)
    assert written.parent.parent.parent.parent.name == "ABI-L1b-RadM"
    products = [{"product": "RadM1", "variable": "Rad", "bands": [1]}]
    src = GoesAbi(
        "goes16", demo.DEMO_GOES | {"url": f"file://{tmp_path / 'm'}", "products": products}
    )
    ready, _ = src.window(
        datetime(2025, 3, 12, 12, tzinfo=UTC), Lister(Remote(f"file://{tmp_path / 'm'}"))
    )
    assert [(t.cycle, t.step) for t in ready] == [(scan, "RadM1_C01")]  # was: nothing published
    spec = FetchSpec(**src.fetch_spec(scan, "RadM1_C01", "raw/goes16/x.nc"))
    out = tmp_path / "out"
    fetch(spec, Operating(f"file://{tmp_path / 'm'}"), out / "x.nc", out / "x.idx", out / "x.json")
    shred(out / "x.nc", out / "x.idx", out / "x.json", out / "x.parquet", ShredOptions())
    rows = read_rows(out / "x.parquet")
    with netCDF4.Dataset(written) as ds:
        rad = ds.variables["Rad"][:]  # fill and valid_range masked, unpacked
    assert set(rows["variable"].to_pylist()) == {"Rad"}
    assert set(rows["level"].to_pylist()) == {"band 1"}
    assert rows.num_rows == rad.count() > 900_000
    # netCDF4 unpacks in float32, gridflow in float64 then rounds: within a float32 step
    got, want = np.sort(rows["value"].to_numpy()), np.sort(rad.compressed())
    assert np.allclose(got, want, rtol=0, atol=np.spacing(np.float32(1000)))
