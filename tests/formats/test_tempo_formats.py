"""TEMPO files as Harmony returns them: a GeoTIFF in UTM 11N (lat/lon from its own transform
and CRS, equal to pyproj's), a GeoTIFF with its quality-flag companion, a Level-2 swath in
NetCDF4 (missing as NaN), and an all-fill granule that loads zero rows without an error."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

import netCDF4
import numpy as np
import pytest
import rasterio
from pyproj import Transformer
from tests_support import configured_source

from gridflow.inventory import parse
from gridflow.pipeline.fetch import FetchError, fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating
from gridflow.pipeline.shred import ShredOptions, read_rows, shred

UTM = "tempo_vcd_troposphere_utm11_clipped.tif"
LA_VCD = "casestudy3_la_tempo_vcd_troposphere_utm11_clipped.tif"
LA_QA = "casestudy3_la_tempo_qa_main_utm11_clipped.tif"
SWATH = "TEMPO_NO2_L2_V03_20240601T211614Z_S012G02_cut.nc4"
ALL_FILL = "TEMPO_NO2_L2_V03_20240328T154353Z_S008G01.nc4"


def _load(tmp_path, name: str, payload: bytes, fmt: str, options: ShredOptions | None = None):
    mirror = tmp_path / "m"
    mirror.mkdir(exist_ok=True)
    (mirror / name).write_bytes(payload)
    ext = "tif" if fmt == "geotiff" else "nc4"
    spec = FetchSpec("tempo", "harmony", fmt, name, None, f"raw/tempo/x.{ext}")
    out = tmp_path / "out"
    raw = out / f"x.{ext}"
    fetch(spec, Operating(f"file://{mirror}"), raw, out / "x.idx", out / "x.json")
    shred(raw, out / "x.idx", out / "x.json", out / "x.parquet", options or ShredOptions())
    return raw, parse((out / "x.idx").read_text()), read_rows(out / "x.parquet").to_pylist()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _pixels(path, rows, cols):
    """pyproj's lat/lon of pixel positions of a raster."""
    with rasterio.open(path) as ds:
        a, b, c, d, e, f = tuple(ds.transform)[:6]
        x, y = a * cols + b * rows + c, d * cols + e * rows + f
        to_wgs84 = Transformer.from_crs(ds.crs.to_wkt(), "EPSG:4326", always_xy=True)
    lon, lat = to_wgs84.transform(x, y)
    return np.asarray(lat), np.asarray(lon)


def test_a_utm_geotiff_is_placed_by_its_own_transform(samples, tmp_path):
    _, entries, rows = _load(tmp_path, UTM, (samples / UTM).read_bytes(), "geotiff")
    assert [e.variable for e in entries] == ["vertical_column_troposphere"]
    assert entries[0].level == "troposphere"
    with rasterio.open(samples / UTM) as ds:
        band = ds.read(1)
        valid = band != ds.nodata
    r, c = np.nonzero(valid)
    assert len(rows) == valid.sum() == 4578
    lat, lon = _pixels(samples / UTM, r + 0.5, c + 0.5)
    assert np.allclose([x["lat"] for x in rows], lat.astype(np.float32), atol=1e-5)
    assert np.allclose([x["lon"] for x in rows], lon.astype(np.float32), atol=1e-5)
    assert [x["value"] for x in rows] == band[valid].astype(np.float32).tolist()
    assert rows[0]["ref_time"] == datetime(2025, 1, 9, 18, 45, 4, tzinfo=UTC)


def test_the_quality_companion_keeps_good_pixels_only(samples, tmp_path):
    with rasterio.open(samples / LA_QA) as ds:
        profile, flags = ds.profile, ds.read(1)
    flags[0, 0] = 2  # one valid pixel marked bad
    edited = io.BytesIO()
    with rasterio.io.MemoryFile() as memory:
        with memory.open(**profile) as out:
            out.write(flags, 1)
            out.update_tags(**{"/product/main_data_quality_flag#long_name": "main data quality"})
        edited.write(memory.read())
    payload = _zip({LA_VCD: (samples / LA_VCD).read_bytes(), LA_QA: edited.getvalue()})
    _, entries, rows = _load(tmp_path, "hour.zip", payload, "geotiff")
    assert [e.variable for e in entries] == ["vertical_column_troposphere"]  # the flag is no field
    with rasterio.open(samples / LA_VCD) as ds:
        band = ds.read(1)
        keep = (band != ds.nodata) & (flags == 0)
    assert len(rows) == keep.sum() == 6
    assert sorted(x["value"] for x in rows) == sorted(band[keep].astype(np.float32).tolist())


def test_a_level2_swath_keeps_every_finite_pixel(samples, tmp_path):
    _, entries, rows = _load(tmp_path, SWATH, (samples / SWATH).read_bytes(), "tempo_netcdf")
    assert [e.variable for e in entries] == ["vertical_column_stratosphere"]
    with netCDF4.Dataset(samples / SWATH) as ds:
        values = np.ma.filled(ds["product"]["vertical_column_stratosphere"][:], np.nan)
        lat = ds["geolocation"]["latitude"][:]
        lon = ds["geolocation"]["longitude"][:]
    keep = np.isfinite(values)
    assert len(rows) == keep.sum() > 30000
    assert [x["value"] for x in rows] == values[keep].astype(np.float32).tolist()
    assert [x["lat"] for x in rows] == lat[keep].astype(np.float32).tolist()
    assert np.allclose([x["lon"] for x in rows], lon[keep], atol=1e-4)
    assert rows[0]["ref_time"] == datetime(2024, 6, 1, 21, 16, 14, tzinfo=UTC)


def test_an_all_fill_granule_loads_zero_rows(samples, tmp_path):
    _, entries, rows = _load(tmp_path, ALL_FILL, (samples / ALL_FILL).read_bytes(), "tempo_netcdf")
    assert {e.variable for e in entries} == {
        "vertical_column_troposphere",
        "vertical_column_stratosphere",
        "vertical_column_troposphere_uncertainty",
    }
    assert rows == []


@pytest.mark.parametrize(
    "fmt, payload, says",
    [
        ("geotiff", b"<html>Service Unavailable</html>", "not a GeoTIFF GDAL can read"),
        ("tempo_netcdf", b"<html>Service Unavailable</html>", "not a NetCDF4 file"),
        ("geotiff", b"PK\x03\x04cut", "a broken zip"),
    ],
)
def test_what_is_not_tempo_is_refused_leaving_nothing(tmp_path, fmt, payload, says):
    with pytest.raises(FetchError, match=says):
        _load(tmp_path, "bad", payload, fmt)
    assert not list((tmp_path / "out").glob("x.*"))


def test_geotiff_cells_are_the_exact_pixel_footprints(samples, tmp_path):
    from gridflow.formats.geotiff import GeoTiff

    raw, entries, _ = _load(tmp_path, UTM, (samples / UTM).read_bytes(), "geotiff")
    spec = {
        "variables": ["vertical_column_troposphere"],
        "thresholds": {"vertical_column_troposphere": [5e15, 1e16, 2e16, 4e16]},
    }
    (cells,) = GeoTiff().cells(raw, entries, spec)
    import shapely

    with rasterio.open(samples / UTM) as ds:
        valid = ds.read(1) != ds.nodata
    r, c = np.argwhere(valid)[0]
    lat, lon = _pixels(  # the corners counter-clockwise: down the west side first
        samples / UTM, np.array([r, r + 1, r + 1, r]), np.array([c, c, c + 1, c + 1])
    )
    ring = np.asarray(shapely.from_wkb(cells.wkb[0]).exterior.coords)[:4]
    assert np.allclose(ring[:, 1], lat, atol=1e-9) and np.allclose(ring[:, 0], lon, atol=1e-9)
    assert len(cells.value) == valid.sum()
    assert set(np.unique(cells.severity)) <= {0, 1, 2, 3, 4}


def _bare_geotiff(samples, created: str) -> bytes:
    """The UTM sample's pixels as a GeoTIFF that says nothing of its data: no NetCDF tags, no
    band description, only the TIFF's own DATETIME (when the file was written)."""
    with rasterio.open(samples / UTM) as ds:
        profile, band = ds.profile, ds.read(1)
    with rasterio.io.MemoryFile() as memory:
        with memory.open(**profile) as out:
            out.write(band, 1)
            out.update_tags(TIFFTAG_DATETIME=created)
        return memory.read()


def _harmony_output(samples, tmp_path, name: str, payload: bytes):
    """A Harmony job's one output fetched as the workflow fetches it (the shipped tempo
    source's no2 request of 2025-03-12 18 UTC, asking for GeoTIFF), then shredded."""
    shipped = configured_source("tempo")
    tempo = type(shipped)("tempo", {**shipped.src, "format": "geotiff"})
    cycle = datetime(2025, 3, 12, 18, tzinfo=UTC)
    spec = FetchSpec(**tempo.fetch_spec(cycle, "no2", "cycles/tempo/2025031218/raw/no2.tif"))
    mirror = tmp_path / "bucket"
    mirror.mkdir()
    (mirror / name).write_bytes(payload)
    results = tmp_path / "no2.results.json"
    asset = {"href": (mirror / name).as_uri(), "size": len(payload), "type": "image/tiff"}
    job = {"service": "harmony", "job_id": "j1", "submitted_at": "2025-03-12T20:00:00Z"}
    results.write_text(json.dumps({"assets": [asset], "job": {**job, "request": spec.request}}))
    out = tmp_path / "out"
    raw = out / "no2.tif"  # fetched as no2.tif.partial
    where = Operating.from_dict(tempo.operating({}))
    fetch(spec, where, raw, out / "no2.tif.idx", out / "no2.tif.json", results)
    shred(raw, out / "no2.tif.idx", out / "no2.tif.json", out / "no2.parquet")
    return parse((out / "no2.tif.idx").read_text()), read_rows(out / "no2.parquet")


def test_a_harmony_geotiff_is_named_and_dated_by_the_request(samples, tmp_path, monkeypatch):
    """A band with no name is the product's variable (not `no2.tif`, the temporary file's);
    a file with no time of its own has the hour asked for (not its TIFF DATETIME)."""
    monkeypatch.setenv("EARTHDATA_TOKEN", "t")
    payload = _bare_geotiff(samples, "2025:03:13 02:14:00")
    entries, rows = _harmony_output(samples, tmp_path, "output.tif", payload)
    assert [e.variable for e in entries] == ["vertical_column_troposphere"]
    assert set(rows["variable"].to_pylist()) == {"vertical_column_troposphere"}
    assert set(rows["ref_time"].to_pylist()) == {datetime(2025, 3, 12, 18, tzinfo=UTC)}
    assert rows.num_rows == 4578


def test_a_granule_named_with_its_time_is_dated_by_its_name(samples, tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", "t")
    payload = _bare_geotiff(samples, "2025:03:13 02:14:00")
    name = "TEMPO_NO2_L3_V03_20250312T184503Z_S008_subsetted.tif"
    _, rows = _harmony_output(samples, tmp_path, name, payload)
    assert set(rows["ref_time"].to_pylist()) == {datetime(2025, 3, 12, 18, 45, 3, tzinfo=UTC)}


def test_an_imerg_day_is_the_day_in_its_name_not_its_creation(samples, tmp_path):
    """An IMERG daily GeoTIFF of 2024-06-17, written on 2024-06-18 14:14 (TIFFTAG_DATETIME)."""
    name = "3B-DAY.MS.MRG.3IMERG.20240617-S000000-E235959.V07B.tif"
    payload = _bare_geotiff(samples, "2024:06:18 14:14:00")
    _, entries, rows = _load(tmp_path, name, payload, "geotiff")
    assert {r["ref_time"] for r in rows} == {datetime(2024, 6, 17, tzinfo=UTC)}
    assert entries[0].variable == "3B-DAY.MS.MRG.3IMERG.20240617-S000000-E235959.V07B"
    assert "x" not in {e.variable for e in entries}  # never the local file's name


def test_a_geotiff_with_no_time_of_its_own_is_refused(samples, tmp_path):
    payload = _bare_geotiff(samples, "2024:06:18 14:14:00")
    with pytest.raises(FetchError, match="no time of its data .*TIFFTAG_DATETIME is when"):
        _load(tmp_path, "precipitation.tif", payload, "geotiff")
    assert not list((tmp_path / "out").glob("x.*"))


def test_the_uv_aerosol_index_is_asked_for_beside_the_gases():
    """The shipped source asks for TEMPO's UV aerosol index, from the total ozone product."""
    tempo = configured_source("tempo")
    assert tempo.steps == ["no2", "hcho", "o3tot", "uvai"]
    request = tempo.request(datetime(2025, 3, 12, 18, tzinfo=UTC), "uvai")
    assert request["collection"] == "C2930764281-LARC_CLOUD"  # TEMPO_O3TOT_L3 V03
    assert request["variable"] == "product/uv_aerosol_index"


def _o3tot_level3(path) -> np.ndarray:
    """A TEMPO O3TOT Level-3 file as the product guide lays it out (root time, latitude and
    longitude; the product group), 3 x 4 cells, one of them fill; returns the index."""
    uvai = np.array([[0.4, 1.2, -0.3, 2.5], [0.1, -1e30, 0.8, 3.1], [0.0, 0.2, 0.5, 1.7]])
    with netCDF4.Dataset(path, "w") as ds:
        ds.time_coverage_start = "2025-03-12T18:04:11Z"
        ds.createDimension("time", 1)
        ds.createDimension("latitude", 3)
        ds.createDimension("longitude", 4)
        ds.createVariable("time", "f8", ("time",))[:] = [1425751469.0]
        ds.createVariable("latitude", "f4", ("latitude",))[:] = [34.0, 34.02, 34.04]
        ds.createVariable("longitude", "f4", ("longitude",))[:] = [
            -118.3,
            -118.28,
            -118.26,
            -118.24,
        ]
        product = ds.createGroup("product")
        var = product.createVariable(
            "uv_aerosol_index", "f4", ("time", "latitude", "longitude"), fill_value=-1e30
        )
        var.units = "1"
        var[:] = uvai[np.newaxis]
    return uvai


def test_an_o3tot_granule_loads_its_uv_aerosol_index(tmp_path):
    path = tmp_path / "TEMPO_O3TOT_L3_V03_20250312T180411Z_S008.nc"
    uvai = _o3tot_level3(path)
    _, entries, rows = _load(tmp_path, path.name, path.read_bytes(), "tempo_netcdf")
    assert [(e.variable, e.level) for e in entries] == [("uv_aerosol_index", "entire atmosphere")]
    assert len(rows) == 11  # the fill cell is no row
    assert sorted(r["value"] for r in rows) == sorted(
        uvai[uvai > -1e29].astype(np.float32).tolist()
    )
    assert {r["ref_time"] for r in rows} == {datetime(2025, 3, 12, 18, 4, 11, tzinfo=UTC)}
