"""TEMPO through a stand-in NASA Harmony and Earthdata Login: the last completed hour is one
request per product, answered at once (303 to the data, or the data itself) or run as a job
(303 to /jobs/{id}); outputs come through the token-guarded service-results and a presigned
"bucket" that refuses the token. Tokens come from the environment or from EDL, are renewed on a
401, and appear in no output."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio
import yaml
from tests_support import REPO, tempo_source

from devkit.harmony_standin import PASSWORD, USER, HarmonyServer
from devkit.simulate import run_snakemake
from gridflow.sinks import clickhouse

pytestmark = pytest.mark.slow

CYCLE = "2025031218"
UTM = "tempo_vcd_troposphere_utm11_clipped.tif"
LA_VCD = "casestudy3_la_tempo_vcd_troposphere_utm11_clipped.tif"
LA_QA = "casestudy3_la_tempo_qa_main_utm11_clipped.tif"
SWATH = "TEMPO_NO2_L2_V03_20240601T211614Z_S012G02_cut.nc4"
LOGIN = {"EARTHDATA_USERNAME": USER, "EARTHDATA_PASSWORD": PASSWORD}


def _run(tmp_path: Path, harmony: HarmonyServer, env: dict, fmt="geotiff", **tempo):
    cfg = tmp_path / "c.yaml"
    source = tempo_source(harmony.url, format=fmt, **tempo)
    settings = {"now": "2025-03-12T20:30:00Z", "data_root": "data", "fetch": {"settle_seconds": 0}}
    settings |= {"sources_enabled": ["tempo"], "sources": {"tempo": source}}
    cfg.write_text(yaml.safe_dump(settings))
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EARTHDATA_")}
    return run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg), env=clean | env)


def _cycle(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cycles" / "tempo" / CYCLE


def _log(tmp_path: Path, stage: str) -> str:
    name = {"fetch": "no2.tif.log", "shred": "no2.log", "load": "no2.log"}.get(stage, "no2.log")
    return (_cycle(tmp_path) / "logs" / stage / name).read_text()


def _rows(tmp_path: Path) -> list[tuple]:
    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    try:
        return client.query(
            "SELECT variable, lat, lon, value, ref_time FROM grid_data ORDER BY lat DESC, lon"
        ).result_rows
    finally:
        client.close()


def _everything_written(tmp_path: Path, run) -> str:
    text = run.stdout + run.stderr
    for path in (tmp_path / "data" / "cycles").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".log", ".idx"):
            text += path.read_text()
    return text


def test_a_sync_reply_loads_the_utm_geotiff_with_a_token_from_login(samples, tmp_path):
    with HarmonyServer([samples / UTM]) as harmony:
        run = _run(tmp_path, harmony, LOGIN)
        assert run.returncode == 0, run.stderr[-3000:]
        assert len(harmony.submissions) == 1
        form = harmony.submissions[0]
        assert form["collection"] == "C2930763263-LARC_CLOUD"
        assert form["variable"] == ["product/vertical_column_troposphere"]
        assert 'time("2025-03-12T18:00:00Z":"2025-03-12T18:59:59Z")' in form["subset"]
        assert form["format"] == ["image/tiff"]
        assert "create" in harmony.token_requests  # no token yet: one was made
        tokens = list(harmony.tokens)
    with rasterio.open(samples / UTM) as ds:
        band = ds.read(1)
    rows = _rows(tmp_path)
    assert len(rows) == (band != -1e30).sum() == 4578
    assert sorted(r[3] for r in rows) == sorted(band[band != -1e30].astype(np.float32).tolist())
    sidecar = json.loads((_cycle(tmp_path) / "raw" / "no2.tif.json").read_text())
    assert sidecar["request"]["collection"] == "C2930763263-LARC_CLOUD"
    written = _everything_written(tmp_path, run)
    assert PASSWORD not in written and not any(t in written for t in tokens)


def test_an_async_job_of_two_files_applies_the_quality_companion(samples, tmp_path):
    with HarmonyServer([samples / LA_VCD, samples / LA_QA]) as harmony:
        harmony.page_size = 1  # the two outputs come on two pages (rel=next)
        harmony.throttle_next = 1  # one 429 with Retry-After first
        token = harmony.new_token()
        run = _run(tmp_path, harmony, {"EARTHDATA_TOKEN": token})
        assert run.returncode == 0, run.stderr[-3000:]
        assert harmony.token_requests == []  # the given token is used as it is
        assert len(harmony.submissions) == 1
    with rasterio.open(samples / LA_VCD) as ds:
        want = ds.read(1)
    rows = _rows(tmp_path)
    assert len(rows) == (want != -1e30).sum() == 7
    assert token not in _everything_written(tmp_path, run)


def test_a_netcdf_swath_comes_as_the_reply_itself(samples, tmp_path):
    with HarmonyServer([samples / SWATH]) as harmony:
        harmony.mode = "inline"
        run = _run(tmp_path, harmony, LOGIN, fmt="tempo_netcdf", bbox=[-130, 15, -60, 60])
        assert run.returncode == 0, run.stderr[-3000:]
    rows = _rows(tmp_path)
    assert len(rows) > 30000 and rows[0][0] == "vertical_column_stratosphere"
    assert rows[0][4].replace(tzinfo=None) == datetime(2024, 6, 1, 21, 16, 14)
    reply = _cycle(tmp_path) / "job" / "no2.reply"
    assert reply.read_bytes() == (samples / SWATH).read_bytes()


def test_a_run_stopped_while_the_job_runs_resumes_it_and_an_expired_token_is_renewed(
    samples, tmp_path
):
    with HarmonyServer([samples / UTM]) as harmony:
        harmony.mode = "async"
        harmony.polls_to_finish = 10_000
        first = _run(tmp_path, harmony, LOGIN, wait_seconds=1)
        assert first.returncode != 0
        assert "polls it again" in _log(tmp_path, "await_job")
        queued = _run(tmp_path, harmony, LOGIN)
        assert queued.returncode == 0, queued.stderr[-2000:]
        assert "running upstream since" in queued.stderr
        harmony.polls_to_finish = 0
        harmony.expire_tokens()  # the token in use stops working: a 401, then a new one
        done = _run(tmp_path, harmony, LOGIN)
        assert done.returncode == 0, done.stderr[-3000:]
        assert len(harmony.submissions) == 1
        assert harmony.token_requests.count("create") >= 2
    assert len(_rows(tmp_path)) == 4578


def test_a_failed_job_is_reported_in_harmonys_words_and_submitted_again(samples, tmp_path):
    with HarmonyServer([samples / UTM]) as harmony:
        harmony.fail_next = "WorkItem failed: granule not found in CMR"
        failed = _run(tmp_path, harmony, LOGIN)
        assert failed.returncode != 0
        assert "granule not found in CMR" in _log(tmp_path, "await_job")
        assert len(harmony.submissions) == 1
        again = _run(tmp_path, harmony, LOGIN)
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(harmony.submissions) == 2


def test_a_wrong_password_or_an_unsupported_format_is_one_line(samples, tmp_path):
    with HarmonyServer([samples / UTM]) as harmony:
        wrong = _run(tmp_path, harmony, {"EARTHDATA_USERNAME": USER, "EARTHDATA_PASSWORD": "x"})
        assert wrong.returncode != 0
        log = _log(tmp_path, "submit_job").strip().splitlines()
        assert log == [
            f"gridflow job-submit: error: {harmony.url}: Earthdata Login refused "
            "EARTHDATA_USERNAME/EARTHDATA_PASSWORD (401): check them"
        ]
        harmony.unsupported_format = "image/tiff"
        refused = _run(tmp_path, harmony, LOGIN)
        assert refused.returncode != 0
        assert "reformatting to image/tiff on C2930763263-LARC_CLOUD is unsupported" in _log(
            tmp_path, "submit_job"
        )
        assert not harmony.submissions


@pytest.mark.postgres
def test_tempo_cells_score_a_route_and_record_the_last_update(samples, tmp_path, postgres):
    from gridflow.sinks import postgis

    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    db = postgres.dsn(db=name)
    with postgis.connect(db) as conn:
        postgis.migrate(conn, REPO / "migrations" / "postgres")
        conn.execute(  # across the sample's UTM 11N box in southern California
            "INSERT INTO saved_routes (name, variable, origin, destination) VALUES ('i10', "
            "'vertical_column_troposphere', ST_SetSRID(ST_MakePoint(-118.2, 34.05), 4326), "
            "ST_SetSRID(ST_MakePoint(-116.5, 33.8), 4326))"
        )
        conn.commit()
    with HarmonyServer([samples / UTM]) as harmony:
        run = _run(
            tmp_path,
            harmony,
            LOGIN | {"GRIDFLOW_PG_DSN": db},
            postgis={"variables": ["vertical_column_troposphere"]},
        )
        assert run.returncode == 0, run.stderr[-3000:]
    with psycopg.connect(db) as conn:
        cells, top = conn.execute(
            "SELECT count(*), max(severity) FROM pollution_grid WHERE source = 'tempo'"
        ).fetchone()
        route = conn.execute("SELECT last_cells, last_mean FROM saved_routes").fetchone()
        update = conn.execute(
            "SELECT cycle, cells FROM catalog.source_updates WHERE source = 'tempo'"
        ).fetchone()
    assert cells == 4578 and 0 <= top <= 4
    assert route[0] > 0 and route[1] > 0
    assert update == (datetime(2025, 3, 12, 18, tzinfo=UTC), 4578)
