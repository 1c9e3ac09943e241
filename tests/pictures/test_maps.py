"""Maps drawn from the grid itself: every point back on its lattice in the grid's own
projection, with Natural Earth's coastlines where Natural Earth puts them in that projection.

The projections the checks use are built here from the raw files' own keys (eccodes' Lambert
parameters, the ABI file's `goes_imager_projection`), not from what gridflow read."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import eccodes
import netCDF4
import numpy as np
import pyproj
import pytest
import yaml
from PIL import Image
from tests_support import REPO

from gridflow import inventory
from gridflow.formats.grib.read import build_inventory
from gridflow.pictures import coastlines, grid_image, raw_grid
from gridflow.pipeline.shred import ShredOptions, shred
from gridflow.sinks import clickhouse

HRRR = "hrrr.t06z.wrfsfcf01-TMP.grib2"
RRQPE = "OR_ABI-L2-RRQPEF-M6_G16_s20230761510209_e20230761519517_c20230761520040.nc"
GOES_STRIDE = 4


def _hrrr_grid(path: Path):
    """(lat, lon, values, PROJ Lambert from the GRIB's keys, (Nx, Ny, Dx, Dy, x0, y0))."""
    with path.open("rb") as fh:
        h = eccodes.codes_grib_new_from_file(fh)
        get = eccodes.codes_get
        lat = eccodes.codes_get_array(h, "latitudes").astype(np.float32)
        lon = eccodes.codes_get_array(h, "longitudes").astype(np.float32)
        values = eccodes.codes_get_values(h)
        lcc = pyproj.Proj(
            proj="lcc",
            lat_1=get(h, "Latin1InDegrees"),
            lat_2=get(h, "Latin2InDegrees"),
            lat_0=get(h, "LaDInDegrees"),
            lon_0=get(h, "LoVInDegrees") - 360,  # eccodes says 262.5
            R=6371229,  # shape of the earth 6
        )
        x0, y0 = lcc(
            get(h, "longitudeOfFirstGridPointInDegrees"),
            get(h, "latitudeOfFirstGridPointInDegrees"),
        )
        lattice = (get(h, "Nx"), get(h, "Ny"), get(h, "DxInMetres"), get(h, "DyInMetres"), x0, y0)
        eccodes.codes_release(h)
    lon = ((lon + 180.0) % 360.0) - 180.0
    return lat, lon, values, lcc, lattice


def test_the_hrrr_grid_comes_back_point_for_point(samples):
    lat, lon, values, lcc, (nx, ny, dx, dy, x0, y0) = _hrrr_grid(samples / HRRR)
    x, y = lcc(lon.astype(np.float64), lat.astype(np.float64))
    image = grid_image.from_points(np.asarray(x), np.asarray(y), values)
    assert image.values.shape == (ny, nx) and not image.binned
    # HRRR scans west to east from the south-west corner: the image is the message's order
    assert np.array_equal(image.values.ravel(), values.astype(np.float32))
    assert image.step == pytest.approx((dx, dy), abs=0.01)
    left, right, bottom, top = image.extent
    assert (left, bottom) == pytest.approx((x0 - dx / 2, y0 - dy / 2), abs=5)
    assert (right, top) == pytest.approx((left + nx * dx, bottom + ny * dy), abs=5)
    # a stride chosen at load time is a lattice of its own
    sub = np.arange(ny * nx).reshape(ny, nx)[::3, ::5].ravel()
    strided = grid_image.from_points(np.asarray(x)[sub], np.asarray(y)[sub], values[sub])
    assert strided.values.shape == (len(range(0, ny, 3)), len(range(0, nx, 5)))
    assert strided.step == pytest.approx((5 * dx, 3 * dy), abs=0.01) and not strided.binned


def test_points_on_no_lattice_are_binned_and_points_without_value_keep_their_place():
    rng = np.random.default_rng(7)
    scattered = grid_image.from_points(
        rng.uniform(0, 10, 4000), rng.uniform(0, 5, 4000), rng.uniform(size=4000)
    )
    assert scattered.binned and scattered.values.shape == (63, 63)
    assert scattered.points == 4000
    x, y = np.meshgrid(np.arange(10.0), np.arange(4.0))
    value = np.arange(40.0)
    value[[3, 17]] = np.nan
    image = grid_image.from_points(x.ravel(), y.ravel(), value)
    assert image.values.shape == (4, 10) and image.on_grid.all() and image.points == 38
    assert np.isnan(image.values.ravel()[[3, 17]]).all()


def test_natural_earth_lines_are_where_natural_earth_puts_them():
    coast = np.concatenate(coastlines.lon_lat_lines("coast"))
    border = np.concatenate(coastlines.lon_lat_lines("border"))
    assert len(coastlines.lon_lat_lines("coast")) == 1596 and len(coast) == 60740
    assert coast[:, 1].min() > -89  # no edge along the south pole, nor along the antimeridian
    assert not any(
        ((np.abs(line[:-1, 0]) > 179.99) & (np.abs(line[1:, 0]) > 179.99)).any()
        for line in coastlines.lon_lat_lines("coast")
    )

    def nearest(points, lon, lat):
        return np.min(np.hypot(points[:, 0] - lon, points[:, 1] - lat))

    assert nearest(coast, 18.47, -34.36) < 0.1  # Cape of Good Hope
    assert nearest(coast, -5.35, 36.14) < 0.1  # Gibraltar
    west = border[(border[:, 0] > -120) & (border[:, 0] < -100) & (border[:, 1] > 40)]
    assert len(west) > 5 and np.abs(west[:, 1] - 49.0).max() < 0.01  # US and Canada: 49th
    assert nearest(coast, 10.0, 50.0) > 3  # the middle of Germany is no coast
    assert nearest(border, -40.0, 0.0) > 10  # nor is the Atlantic a border


def test_lines_leaving_a_geostationary_disk_are_cut(samples):
    with netCDF4.Dataset(samples / RRQPE) as ds:
        crs = raw_grid.goes_crs(ds.variables["goes_imager_projection"].__dict__)
    to_geos = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    lines = coastlines.project(
        coastlines.lon_lat_lines("coast"),
        lambda lon, lat: to_geos.transform(lon, lat, errcheck=False),
        (-5.5e6, 5.5e6, -5.5e6, 5.5e6),
    )
    assert lines and all(np.isfinite(line).all() for line in lines)
    longest_step = max(np.abs(np.diff(line, axis=0)).max() for line in lines)
    assert longest_step < 5.5e6  # no line jumps across the disk
    # Europe's coasts beyond the limb are gone; South America's are there
    assert all(np.hypot(*line.T).max() < 5.5e6 for line in lines)


@pytest.mark.filterwarnings("ignore:You will likely lose:UserWarning")  # to_dict(): PROJ words
def test_the_raw_file_names_its_projection_and_units(samples, tmp_path):
    hrrr = raw_grid.read(samples / HRRR, "TMP")
    assert hrrr.projection == "Lambert conformal" and hrrr.units == "K"
    assert hrrr.crs.to_dict()["lon_0"] == -97.5
    goes = raw_grid.read(samples / RRQPE, "RRQPE")
    assert goes.projection == "geostationary" and goes.units == "mm h-1"
    assert goes.crs.to_dict()["sweep"] == "x"  # GDAL's own reading leaves it out
    gfs = raw_grid.read(samples / "gfs.t12z.pgrbf120.2p5deg.grib2", "PRMSL")
    assert gfs.crs is None and gfs.units == "Pa"
    gone = raw_grid.read(tmp_path / "purged.grib2", "TMP")
    assert gone.crs is None and gone.units is None and "is not here" in gone.note


# ---- `gridflow map` on a real chDB store ------------------------------------------------


def _load(client, root: Path, source: str, cycle: str, sample: Path, idx: str, options, step):
    raw_key = f"cycles/{source}/{cycle}/raw/{step}{''.join(sample.suffixes[-1:])}"
    raw = root / raw_key
    raw.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sample, raw)
    (raw.parent / f"{step}.idx").write_text(idx)
    fmt = "abi_netcdf" if raw.suffix == ".nc" else "grib2"  # GRIB1 too
    sidecar = raw.parent / f"{step}.json"
    sidecar.write_text(
        json.dumps({"source": source, "run_id": f"run-{source}", "raw_key": raw_key, "format": fmt})
    )
    out = root / "shreds" / f"{source}.parquet"
    shred(raw, raw.parent / f"{step}.idx", sidecar, out, options)
    return clickhouse.load(client, out, source, raw_key)


@pytest.fixture(scope="module")
def store(samples, tmp_path_factory):
    """HRRR's 2 m temperature, a GOES-16 full-disk rain rate (one pixel in 4 x 4) and a week of
    ERA5 hourly 2 m temperature in a real chDB store, their raw files where the workflow keeps
    them."""
    work = tmp_path_factory.mktemp("maps")
    root = work / "data"
    client = clickhouse.connect(f"chdb://{root}/clickhouse")
    clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
    hrrr_idx = inventory.format_lines(build_inventory(samples / HRRR))
    _load(client, root, "hrrr", "2025031206", samples / HRRR, hrrr_idx, ShredOptions(), "f01")
    goes_idx = inventory.format_lines(
        [inventory.IdxEntry("1", 0, "d=2023031715", "RRQPE", "surface", "anl")]
    )
    options = ShredOptions(stride=GOES_STRIDE, dqf_keep=(0,))
    _load(client, root, "goes16", "20230317151020", samples / RRQPE, goes_idx, options, "RRQPEF")
    era5 = samples / "era5-2mt-2019-03-uk-week1.grib"
    era5_idx = inventory.format_lines(build_inventory(era5))
    _load(client, root, "era5", "2019030100", era5, era5_idx, ShredOptions(), "week")
    client.close()
    cfg = work / "maps.yaml"
    cfg.write_text(yaml.safe_dump({"data_root": str(root)}))
    return work, cfg


def _map(cfg: Path, out: Path, *args: str) -> dict:
    made = subprocess.run(
        ["gridflow", "map", "--configfile", str(cfg), "--out", str(out), "--json", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert made.returncode == 0, made.stderr
    record, summary = (json.loads(line) for line in made.stdout.splitlines())
    assert summary == {"summary": True, "maps": 1, "out": str(out)}
    return record


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    grown = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            grown |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return grown


def _expected_lines(record: dict, to_xy, kinds, shape) -> np.ndarray:
    """Natural Earth's lines of `kinds` as pixels of the picture: projected by `to_xy`, placed
    by the record's extent and plot box, drawn every half pixel."""
    left, right, bottom, top = record["extent"]
    box_left, box_top, box_right, box_bottom = record["plot_box"]
    lines = [line for kind in kinds for line in coastlines.lon_lat_lines(kind)]
    lon_lat = np.concatenate(lines)
    x, y = (np.asarray(v) for v in to_xy(lon_lat[:, 0], lon_lat[:, 1]))
    px = box_left + (x - left) / (right - left) * (box_right - box_left)
    py = box_top + (top - y) / (top - bottom) * (box_bottom - box_top)
    # segments between neighbouring points of one line that projected and do not jump
    last = np.cumsum([len(line) for line in lines]) - 1
    start = np.setdiff1d(np.arange(len(px) - 1), last)
    with np.errstate(invalid="ignore"):
        length = np.hypot(px[start + 1] - px[start], py[start + 1] - py[start])
        start, length = start[length <= 100], length[length <= 100]
    samples = (length * 2).astype(int) + 2
    segment = np.repeat(np.arange(len(start)), samples)
    first = np.cumsum(samples) - samples
    t = (np.arange(len(segment)) - first[segment]) / (samples[segment] - 1)
    a, b = start[segment], start[segment] + 1
    cols = np.rint(px[a] + t * (px[b] - px[a])).astype(int)
    rows = np.rint(py[a] + t * (py[b] - py[a])).astype(int)
    inside = (cols >= 0) & (cols < shape[1]) & (rows >= 0) & (rows < shape[0])
    mask = np.zeros(shape, bool)
    mask[rows[inside], cols[inside]] = True
    return mask


def _coast_agreement(png: Path, record: dict, to_xy) -> tuple[float, float]:
    """(share of the picture's coastline pixels within 2 pixels of where Natural Earth's lines
    project, share of Natural Earth's coastline pixels with a drawn one within 2 pixels),
    inside the plot box less its frame."""
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    box_left, box_top, box_right, box_bottom = record["plot_box"]
    inner = np.zeros(pixels.shape[:2], bool)
    inner[box_top + 3 : box_bottom - 3, box_left + 3 : box_right - 3] = True
    drawn = (pixels.max(axis=2) < 60) & inner  # the coast colour is black on these maps
    every_line = _expected_lines(record, to_xy, ("coast", "border"), inner.shape)
    coast = _expected_lines(record, to_xy, ("coast",), inner.shape) & inner
    assert drawn.sum() > 300 and coast.sum() > 300
    on_a_line = (drawn & _dilate(every_line, 2)).sum() / drawn.sum()
    coast_drawn = (coast & _dilate(drawn, 2)).sum() / coast.sum()
    return float(on_a_line), float(coast_drawn)


@pytest.mark.slow
def test_map_of_hrrr_is_its_lambert_grid_with_natural_earths_coasts(samples, store, tmp_path):
    _, cfg = store
    record = _map(cfg, tmp_path / "hrrr.png", "--source", "hrrr")
    _, _, _, lcc, (nx, ny, dx, dy, x0, y0) = _hrrr_grid(samples / HRRR)
    assert record["projection"] == "Lambert conformal" and record["units"] == "K"
    assert record["grid"] == [ny, nx] and record["points_drawn"] == nx * ny
    assert not record["binned"] and record["coast_colour"] == "#000000"
    assert record["extent"] == pytest.approx(
        [x0 - dx / 2, x0 + (nx - 0.5) * dx, y0 - dy / 2, y0 + (ny - 0.5) * dy], abs=5
    )
    assert record["valid_time"] == "2023-07-22T07:00:00Z" and record["variable"] == "TMP"
    on_a_line, coast_drawn = _coast_agreement(tmp_path / "hrrr.png", record, lcc)
    print(f"HRRR: {on_a_line:.3f} of coast pixels on a line, {coast_drawn:.3f} of coasts drawn")
    assert on_a_line > 0.97 and coast_drawn > 0.9, (on_a_line, coast_drawn)
    # the same check against a Lambert projection 3 degrees off fails: it tells maps apart
    shifted = pyproj.Proj(proj="lcc", lat_1=38.5, lat_2=38.5, lat_0=38.5, lon_0=-100.5, R=6371229)
    assert lcc(-100.5, 38.5) != pytest.approx(shifted(-100.5, 38.5))
    wrong = _coast_agreement(tmp_path / "hrrr.png", record, shifted)
    print(f"HRRR against a Lambert 3 degrees off: {wrong[0]:.3f}, {wrong[1]:.3f}")
    assert wrong[0] < 0.5
    svg = _map(cfg, tmp_path / "hrrr.svg", "--source", "hrrr")
    assert (tmp_path / "hrrr.svg").read_text().startswith("<?xml") and svg["grid"] == [ny, nx]


@pytest.mark.slow
def test_map_of_goes_is_its_fixed_grid_with_natural_earths_coasts(samples, store, tmp_path):
    _, cfg = store
    record = _map(cfg, tmp_path / "goes.png", "--source", "goes16", "--variable", "RRQPE")
    with netCDF4.Dataset(samples / RRQPE) as ds:
        p = ds.variables["goes_imager_projection"]
        h = float(p.perspective_point_height)
        geos = pyproj.Proj(
            proj="geos",
            h=h,
            lon_0=float(p.longitude_of_projection_origin),
            a=float(p.semi_major_axis),
            b=float(p.semi_minor_axis),
            sweep="x",
        )
        x = ds["x"][:].astype(np.float64)[::GOES_STRIDE] * h
        y = ds["y"][:].astype(np.float64)[::GOES_STRIDE] * h
    assert record["projection"] == "geostationary" and record["units"] == "mm h-1"
    assert not record["binned"] and record["points_drawn"] > 1_000_000
    # the pixels are the loaded scan's: one in 4 x 4 of the fixed grid, on its scan angles
    left, right, bottom, top = record["extent"]
    rows, cols = record["grid"]
    for low, high, count, axis in ((left, right, cols, x), (bottom, top, rows, y)):
        step = abs(axis[1] - axis[0])
        assert (high - low) / count == pytest.approx(step, rel=1e-4)
        first = (low + step / 2 - axis.min()) / step
        assert abs(first - round(first)) < 0.01 and 0 <= round(first) <= len(axis) - count

    def to_geos(lon, lat):
        return geos(lon, lat, errcheck=False)

    on_a_line, coast_drawn = _coast_agreement(tmp_path / "goes.png", record, to_geos)
    print(f"GOES: {on_a_line:.3f} of coast pixels on a line, {coast_drawn:.3f} of coasts drawn")
    assert on_a_line > 0.97 and coast_drawn > 0.9, (on_a_line, coast_drawn)


@pytest.mark.slow
def test_map_refuses_what_it_cannot_draw(store, tmp_path):
    _, cfg = store
    for args, says in (
        (
            ["--source", "hrrr", "--out", str(tmp_path / "x.jpg")],
            "a map is written as .png or .svg",
        ),
        (["--source", "nothing", "--out", str(tmp_path / "x.png")], "no field of source=nothing"),
        (["--source", "hrrr", "--ref-time", "yesterday"], "is not a time"),
    ):
        made = subprocess.run(
            ["gridflow", "map", "--configfile", str(cfg), *args],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        assert made.returncode == 2 and says in made.stderr, made.stderr
        assert len(made.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_point_plot_draws_a_real_series(store, tmp_path):
    """ERA5's hourly analyses at London: one value a time, one line through 168 of them."""
    _, cfg = store
    chart = tmp_path / "london.png"
    made = subprocess.run(
        [
            "gridflow",
            "point",
            "--configfile",
            str(cfg),
            "--source",
            "era5",
            "--variable",
            "TMP",
            "--level",
            "2 m above ground",
            "--lat",
            "51.5",
            "--lon",
            "-0.12",
            "--plot",
            str(chart),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert made.returncode == 0, made.stderr
    rows = [json.loads(line) for line in made.stdout.splitlines()]
    assert len(rows) == 168 and "raw_key" not in rows[0]
    assert f"plot {chart}: 1 line(s), 168 values" in made.stderr
    values = [r["value"] for r in rows]
    assert max(values) - min(values) > 5  # a real week: days and nights
    pixels = np.asarray(Image.open(chart).convert("RGB")).astype(int).reshape(-1, 3)
    colours, counts = np.unique(pixels, axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() / counts.sum() < 0.97
