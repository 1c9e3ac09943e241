"""ERA5 from the Copernicus Climate Data Store through a stand-in (the CDS speaks the ADS's
retrieve API): a day is one job, due about five days late; its hours load as analyses, and a
point's week is a real series."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, datetime

import pytest
import yaml
from tests_support import REPO, configured_source

from devkit.ads_standin import KEY, AdsServer
from devkit.simulate import run_snakemake
from gridflow.sinks import clickhouse

WEEK = "era5-2mt-2019-03-uk-week1.grib"  # a real CDS download: 2 m temperature, 168 hours


def test_a_day_is_one_request_of_its_24_hours_due_five_days_late():
    era5 = configured_source("era5")
    day = datetime(2025, 3, 7, tzinfo=UTC)
    request = era5.request(day, "reanalysis")
    assert request["dataset"] == "reanalysis-era5-single-levels"
    inputs = request["inputs"]
    assert (inputs["year"], inputs["month"], inputs["day"]) == (["2025"], ["03"], ["07"])
    assert inputs["time"][0] == "00:00" and inputs["time"][-1] == "23:00"
    assert inputs["variable"] == ["2m_temperature"] and inputs["data_format"] == "grib"
    assert inputs["area"] == [72, -25, 34, 45]
    assert era5.due(day) == datetime(2025, 3, 12, 12, tzinfo=UTC)
    assert era5.steps == ["reanalysis"]


@pytest.mark.slow
def test_a_week_of_era5_through_a_cds_job_is_a_real_series(samples, tmp_path):
    with AdsServer({"reanalysis-era5-single-levels": samples / WEEK}) as cds:
        cfg = tmp_path / "era5.yaml"
        source = {"url": cds.url, "window_hours": 144, "wait_seconds": 20}
        settings = {
            "now": "2025-03-12T12:00:00Z",
            # absolute: `gridflow point --project REPO` would read a relative one below REPO
            "data_root": str(tmp_path / "data"),
            "fetch": {"settle_seconds": 0},
            "sources_enabled": ["era5"],
            "sources": {"era5": source},
        }
        cfg.write_text(yaml.safe_dump(settings))
        env = {**os.environ, "CDS_API_KEY": KEY}
        run = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg), env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        assert [s["dataset"] for s in cds.submissions] == ["reanalysis-era5-single-levels"]
        assert cds.submissions[0]["inputs"]["day"] == ["07"]
    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    try:
        fields, hours = client.query(
            "SELECT uniqExact(variable, level), uniqExact(ref_time) FROM grid_data "
            "WHERE source = 'era5' AND step = 0"
        ).result_rows[0]
    finally:
        client.close()
    assert (fields, hours) == (1, 168)
    chart = tmp_path / "london.svg"
    point = subprocess.run(
        [
            "gridflow",
            "point",
            "--project",
            str(REPO),
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
        cwd=tmp_path,
    )
    assert point.returncode == 0, point.stderr
    values = [json.loads(line)["value"] for line in point.stdout.splitlines()]
    assert len(values) == 168 and len(set(values)) > 100  # a week that changes hour to hour
    assert chart.read_text().startswith("<?xml") and "1 line(s), 168 values" in point.stderr
