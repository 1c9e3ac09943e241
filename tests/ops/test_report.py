"""The report as a person sees it: the small demo run by Snakemake, a purge, `gridflow report`,
and the page opened in headless Chromium, screenshot and all."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import eccodes
import numpy as np
import pyproj
import pytest
import yaml
from PIL import Image
from tests_support import REPO, build_small_demo, gridflow

from devkit.simulate import run_snakemake

pytestmark = [pytest.mark.slow]

WINDOW_WIDTH = 1000
# places of HRRR's grid away from any coast: sea, then land
SEA = {
    "Gulf of Mexico": (25.5, -90.0),
    "off Cape Hatteras": (33.0, -74.0),
    "off California": (31.0, -122.0),
}
LAND = {
    "Kansas": (38.5, -98.5),
    "Nebraska": (41.5, -100.5),
    "Nevada": (39.5, -117.0),
    "Georgia": (32.5, -83.5),
}


@pytest.fixture(scope="module")
def demo_report(samples, tmp_path_factory):
    """The small demo (GFS and HRRR, pinned clock) run by Snakemake from an HTTP mirror, GFS's
    oldest cycle purged, and the report of it."""
    from loopback_http import MirrorServer

    work = tmp_path_factory.mktemp("report")
    mirror = work / "mirror"
    mirror.mkdir()
    cfg_path = work / "demo.yaml"
    build_small_demo(samples, mirror, cfg_path, work / "data")
    with MirrorServer(mirror) as server:
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["sources"]["gfs"]["url"] = f"{server.url}/noaa-gfs-bdp-pds"
        cfg["sources"]["hrrr"]["url"] = f"{server.url}/noaa-hrrr-bdp-pds"
        cfg["sources"]["gfs"]["retention_hours"] = 12  # so a purge six hours later has work
        cfg_path.write_text(yaml.safe_dump(cfg))
        run = run_snakemake(REPO / "Snakefile", work, "--configfile", str(cfg_path))
        assert run.returncode == 0, run.stderr[-3000:]
    purged = gridflow(
        "purge",
        "--configfile",
        str(cfg_path),
        "--now",
        "2025-03-12T18:00:00Z",
        "--workdir",
        str(work),
    )
    assert purged.returncode == 0, purged.stderr
    page = work / "report.html"
    made = gridflow("report", "--configfile", str(cfg_path), "--out", str(page))
    assert made.returncode == 0, made.stderr
    return work, cfg, page, made


def _chromium(*args: str) -> subprocess.CompletedProcess:
    shown = subprocess.run(
        [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    return shown


def _figures(dom: str) -> list[dict]:
    """Each figure's caption, where its image is drawn (CSS pixels) and its map record."""
    found = []
    for block in re.findall(r"<figure>.*?</figure>", dom, flags=re.S):
        caption = re.search(r"<figcaption>(.*?)</figcaption>", block).group(1)
        rect = [float(v) for v in re.search(r'data-rect="([^"]+)"', block).group(1).split(",")]
        record = re.search(r"data-map=\"([^\"]+)\"|data-map='([^']+)'", block)
        if record:
            import html

            record = json.loads(html.unescape(record.group(1) or record.group(2)))
        found.append({"caption": caption, "rect": rect, "map": record})
    return found


@pytest.fixture(scope="module")
def screenshot(demo_report):
    """The page as Chromium lays it out (DOM with each image's place) and draws it (PNG)."""
    work, _, page, _ = demo_report
    dom = _chromium(f"--window-size={WINDOW_WIDTH},1000", "--dump-dom", page.as_uri()).stdout
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))
    shot = work / "report.png"
    _chromium(f"--window-size={WINDOW_WIDTH},{height}", f"--screenshot={shot}", page.as_uri())
    return dom, np.asarray(Image.open(shot).convert("RGB")).astype(int), shot


def test_the_report_has_the_run_clock_and_every_sources_status(demo_report, screenshot):
    _, _, page, made = demo_report
    dom, _, _ = screenshot
    assert "Run clock (<code>now</code>): <b>2025-03-12 12:00 UTC</b>" in dom
    table = re.search(r'<table class="status">.*?</table>', dom, flags=re.S).group(0)
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table)]
    assert [row[0] for row in rows if row] == ["gfs", "hrrr"]
    # the demo's newest complete cycles are 06 UTC, 6 hours before the clock
    assert [row[1:3] for row in rows if row] == [["2025-03-12 06:00Z", "6h00m"]] * 2
    assert "last purge" in dom and "Needs a look" in dom
    assert "5 figures" in made.stderr


def test_every_figure_draws_real_content(screenshot):
    dom, pixels, _ = screenshot
    figures = _figures(dom)
    captions = [f["caption"] for f in figures]
    assert len(figures) == 5 and re.search(r'data-rendered="5/5"', dom), captions
    assert captions[0].startswith("gfs: ") and captions[1].startswith("hrrr: TMP surface")
    assert captions[2:] == [
        "Ingest timeline",
        "Bytes fetched and rows loaded per source",
        "Purge history",
    ]
    for figure in figures:
        left, top, width, height = (round(v) for v in figure["rect"])
        assert width > 600 and height > 150, figure
        crop = pixels[top : top + height, left : left + width].reshape(-1, 3)
        colours, counts = np.unique(crop, axis=0, return_counts=True)
        drawn = 1 - counts.max() / counts.sum()  # what is not the background
        assert len(colours) > 50 and drawn > 0.03, (figure["caption"], len(colours), drawn)
        if figure["map"]:
            assert drawn > 0.5  # a map is mostly the field


def _hrrr_lambert(raw: Path) -> pyproj.Proj:
    """HRRR's projection from its own GRIB keys, not from what gridflow read."""
    with raw.open("rb") as fh:
        h = eccodes.codes_grib_new_from_file(fh)
        get = eccodes.codes_get
        proj = pyproj.Proj(
            proj="lcc",
            lat_1=get(h, "Latin1InDegrees"),
            lat_2=get(h, "Latin2InDegrees"),
            lat_0=get(h, "LaDInDegrees"),
            lon_0=get(h, "LoVInDegrees") - 360,
            R=6371229,
        )
        eccodes.codes_release(h)
    return proj


def test_the_hrrr_map_differs_on_land_and_sea_where_the_field_does(demo_report, screenshot):
    work, cfg, _, _ = demo_report
    dom, pixels, _ = screenshot
    hrrr = next(f for f in _figures(dom) if f["map"] and f["map"]["source"] == "hrrr")
    record = hrrr["map"]
    lcc = _hrrr_lambert(Path(cfg["data_root"]) / record["raw_key"])
    left, right, bottom, top = record["extent"]
    box_left, box_top, box_right, box_bottom = record["plot_box"]
    scale = hrrr["rect"][2] / record["size"][0]  # CSS pixels per pixel of the picture

    def colour_at(lat, lon):
        x, y = lcc(lon, lat)
        col = hrrr["rect"][0] + scale * (
            box_left + (x - left) / (right - left) * (box_right - box_left)
        )
        row = hrrr["rect"][1] + scale * (
            box_top + (top - y) / (top - bottom) * (box_bottom - box_top)
        )
        patch = pixels[round(row) - 1 : round(row) + 2, round(col) - 1 : round(col) + 2]
        return np.median(patch.reshape(-1, 3), axis=0)

    def value_at(lat, lon):
        found = gridflow(
            "latest",
            "--configfile",
            str(work / "demo.yaml"),
            "--source",
            "hrrr",
            "--variable",
            record["variable"],
            "--level",
            record["level"],
            "--lat",
            str(lat),
            "--lon",
            str(lon),
        )
        assert found.returncode == 0, found.stderr
        row = json.loads(found.stdout)
        assert row["ref_time"] == record["ref_time"]
        return row["value"]

    places = {**SEA, **LAND}
    seen = {name: (value_at(*where), colour_at(*where)) for name, where in places.items()}
    warmth = {name: c[0] - c[2] for name, (_, c) in seen.items()}  # RdYlBu_r: red is warm
    compared = 0
    for a in places:
        for b in places:
            (va, ca), (vb, cb) = seen[a], seen[b]
            if va > vb + 4:  # kelvin: the field differs here, so must the picture
                compared += (a in SEA) != (b in SEA)
                assert np.abs(ca - cb).sum() > 40, (a, va, ca, b, vb, cb)
                assert warmth[a] > warmth[b], (a, va, ca, b, vb, cb)
    assert compared >= 3, seen  # land against sea, not only land against land
