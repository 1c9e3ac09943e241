"""CAMS through a stand-in Copernicus ADS: a request is a job, submitted once, waited for
politely, its GRIB fetched and checked against the advertised size and type, every constituent
a field of its own. A run stopped while the job is queued resumes it; a failed job is reported
in the service's words and submitted again by the next run."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import eccodes
import netCDF4
import numpy as np
import psycopg
import pytest
import yaml
from tests_support import REPO

from devkit.ads_standin import KEY, AdsServer
from devkit.simulate import run_snakemake
from gridflow.sinks import clickhouse

pytestmark = pytest.mark.slow

CYCLE = "2025031200"
RESULT = "chem-cams.grib"
REGIONAL = "test_adaptor.cams_regional_fc.nc"  # a real CAMS European analysis, PM10


@pytest.fixture
def ads(samples, tmp_path):
    with AdsServer(samples / RESULT) as ads:
        yield ads


def _run(tmp_path: Path, ads: AdsServer, key: str = KEY, env: dict | None = None, **cams):
    cfg = tmp_path / "c.yaml"
    source = {
        "url": ads.url,
        "leadtime_hours": "0",
        "publish_delay_minutes": 0,
        "window_hours": 12,
        "wait_seconds": 20,
        **cams,
    }
    settings = {"now": "2025-03-12T06:00:00Z", "data_root": "data", "fetch": {"settle_seconds": 0}}
    settings |= {"sources_enabled": ["cams_europe"], "sources": {"cams_europe": source}}
    cfg.write_text(yaml.safe_dump(settings))
    env = {**os.environ, "ADS_API_KEY": key, **(env or {})}
    return run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg), env=env)


def _cycle(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cycles" / "cams_europe" / CYCLE


def _log(tmp_path: Path, stage: str) -> str:
    name = "forecast.grib2.log" if stage == "fetch" else "forecast.log"
    return (_cycle(tmp_path) / "logs" / stage / name).read_text()


def test_a_request_is_one_job_and_loads_every_constituent(samples, tmp_path, ads):
    ads.throttle_status = 2  # two 429s with Retry-After first
    run = _run(tmp_path, ads)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(ads.submissions) == 1
    request = ads.submissions[0]
    assert request["dataset"] == "cams-europe-air-quality-forecasts"
    assert request["inputs"]["variable"][0] == "particulate_matter_2.5um"
    assert request["inputs"]["date"] == ["2025-03-12/2025-03-12"]
    sidecar = json.loads((_cycle(tmp_path) / "raw" / "forecast.grib2.json").read_text())
    assert sidecar["request"] == {"dataset": request["dataset"], "inputs": request["inputs"]}
    assert sidecar["size"] == (samples / RESULT).stat().st_size
    assert KEY not in json.dumps(sidecar) + run.stdout + run.stderr

    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    try:
        got = client.query(
            "SELECT descriptor, groupArray(value) FROM (SELECT descriptor, value FROM grid_data "
            "ORDER BY lat DESC, lon) GROUP BY descriptor ORDER BY descriptor"
        ).result_rows
    finally:
        client.close()
    want = {}
    with open(samples / RESULT, "rb") as fh:
        while (h := eccodes.codes_grib_new_from_file(fh)) is not None:
            lat, lon = (
                eccodes.codes_get_array(h, "latitudes"),
                eccodes.codes_get_array(h, "longitudes"),
            )
            order = np.lexsort((((lon + 180) % 360) - 180, -lat))
            want[f"chemical={eccodes.codes_get(h, 'chemName')}"] = eccodes.codes_get_values(h)[
                order
            ]
            eccodes.codes_release(h)
    assert [d for d, _ in got] == sorted(want)
    for descriptor, values in got:
        assert np.array_equal(np.array(values, np.float32), want[descriptor].astype(np.float32))

    again = _run(tmp_path, ads)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert len(ads.submissions) == 1


def test_a_run_stopped_while_the_job_is_queued_resumes_it(tmp_path, ads):
    ads.polls_to_finish = 10_000  # queued well past this run's wait
    first = _run(tmp_path, ads, wait_seconds=1)
    assert first.returncode != 0
    assert "upstream" in _log(tmp_path, "await_job") and "polls it again" in _log(
        tmp_path, "await_job"
    )
    assert (_cycle(tmp_path) / "job" / "forecast.submitted.json").exists()
    queued = _run(tmp_path, ads)  # the plan sees the job running upstream: nothing to do yet
    assert queued.returncode == 0, queued.stderr[-2000:]
    assert "running upstream since" in queued.stderr
    ads.polls_to_finish = 0
    done = _run(tmp_path, ads)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(ads.submissions) == 1
    assert (_cycle(tmp_path) / "loaded" / "clickhouse" / "forecast.json").exists()


@pytest.mark.parametrize(
    "how, says",
    [
        ("failed", "The job has failed: Maximum number of daily requests reached"),
        ("rejected", "rejected: The job has been rejected: QoS limits reached"),
    ],
)
def test_a_failed_job_is_reported_and_submitted_again_next_run(tmp_path, ads, how, says):
    if how == "failed":
        ads.fail_next = ("The job has failed", "Maximum number of daily requests reached")
    else:
        ads.reject_next = True
    failed = _run(tmp_path, ads)
    assert failed.returncode != 0
    log = _log(tmp_path, "await_job")
    assert says in log
    assert not (_cycle(tmp_path) / "job" / "forecast.submitted.json").exists()
    assert len(ads.submissions) == 1  # not resubmitted in a loop
    retry = _run(tmp_path, ads)
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert len(ads.submissions) == 2


def test_a_download_cut_short_is_fetched_again_without_a_new_job(tmp_path, ads):
    ads.cut_downloads = 50  # more than the transport's own retries
    cut = _run(tmp_path, ads)
    assert cut.returncode != 0
    assert _log(tmp_path, "fetch").startswith("gridflow fetch: error: http://127.0.0.1")
    assert not (_cycle(tmp_path) / "raw" / "forecast.grib2").exists()
    ads.cut_downloads = 0
    again = _run(tmp_path, ads)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(ads.submissions) == 1


def test_jobs_in_flight_are_capped(tmp_path, ads):
    ads.polls_to_finish = 10_000
    run = _run(tmp_path, ads, types=["forecast", "analysis"], max_jobs_in_flight=1, wait_seconds=1)
    assert "held back: 1 jobs in flight (max_jobs_in_flight)" in run.stderr
    assert len(ads.submissions) == 1


def test_a_licence_not_accepted_or_a_bad_key_is_one_clear_line(tmp_path, ads):
    ads.licence_missing = True
    refused = _run(tmp_path, ads)
    assert refused.returncode != 0
    log = _log(tmp_path, "submit_job")
    assert "required licences not accepted" in log and "#manage-licences" in log
    ads.licence_missing = False
    wrong = _run(tmp_path, ads, key="not-the-key")
    assert wrong.returncode != 0
    assert "authentication failed" in _log(tmp_path, "submit_job")
    assert "not-the-key" not in _log(tmp_path, "submit_job")
    assert not ads.submissions


def test_expired_results_are_submitted_again(tmp_path, ads):
    ads.expired = True  # the job succeeds, and its download is already gone
    gone = _run(tmp_path, ads)
    assert gone.returncode != 0
    assert "have expired upstream; it is submitted again by the next run" in _log(tmp_path, "fetch")
    assert not list((_cycle(tmp_path) / "job").glob("*.json"))
    ads.expired = False
    again = _run(tmp_path, ads)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(ads.submissions) == 2
    assert (_cycle(tmp_path) / "loaded" / "clickhouse" / "forecast.json").exists()


def test_a_job_given_up_is_deleted_upstream(tmp_path, ads):
    ads.polls_to_finish = 10_000
    run = _run(tmp_path, ads, give_up_hours=1e-9, wait_seconds=1)
    assert run.returncode != 0
    assert "given up; it is submitted again by the next run" in _log(tmp_path, "await_job")
    assert len(ads.dismissed) == 1 and not ads.jobs
    assert not (_cycle(tmp_path) / "job" / "forecast.submitted.json").exists()


@pytest.mark.postgres
def test_cams_netcdf_loads_cells_and_scores_a_route(samples, tmp_path, postgres):
    from gridflow.sinks import postgis

    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    db = postgres.dsn(db=name)
    with postgis.connect(db) as conn:
        postgis.migrate(conn, REPO / "migrations" / "postgres")
        conn.execute(  # along the coast at Brighton, inside the sample's 11 x 11 box
            "INSERT INTO saved_routes (name, variable, origin, destination) VALUES ('brighton', "
            "'pm10_conc:model=ENSEMBLE', ST_SetSRID(ST_MakePoint(-0.30, 50.83), 4326), "
            "ST_SetSRID(ST_MakePoint(0.10, 50.80), 4326))"
        )
        conn.commit()
    with AdsServer({"netcdf": samples / REGIONAL}) as netcdf_ads:
        run = _run(
            tmp_path,
            netcdf_ads,
            format="netcdf_cf",
            types=["analysis"],
            postgis={"variables": ["pm10_conc"]},
            env={"GRIDFLOW_PG_DSN": db},
        )
        assert run.returncode == 0, run.stderr[-3000:]
        assert netcdf_ads.submissions[0]["inputs"]["data_format"] == "netcdf"
    with netCDF4.Dataset(samples / REGIONAL) as ds:
        want = ds.variables["pm10_conc"][0, 0].compressed()
    with psycopg.connect(db) as conn:
        got = conn.execute(
            "SELECT variable, count(*), sum(value), max(severity), min(timestamp) "
            "FROM pollution_grid GROUP BY variable"
        ).fetchall()
        route = conn.execute("SELECT last_cells, last_mean FROM saved_routes").fetchone()
    assert len(got) == 1 and got[0][0] == "pm10_conc:model=ENSEMBLE"
    assert got[0][1] == want.size and got[0][2] == pytest.approx(float(want.sum(dtype=float)))
    assert got[0][4] == datetime(2020, 1, 2, 12, tzinfo=UTC)
    assert route[0] > 0 and route[1] > 0
    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    try:  # the analysis of 2020-01-02 12 UTC, not a 36-hour forecast of 2020-01-01
        runs = client.query(
            "SELECT DISTINCT toString(ref_time), step, forecast FROM grid_data"
        ).result_rows
    finally:
        client.close()
    assert runs == [("2020-01-02 12:00:00", 0, "anl")]
