"""MCFCD rain gauges through the workflow, from a stand-in MCFCD server serving the real files
at their real URLs: the water year's workbook, the gauge's period of record and live page load
into gauge_observations (and gauges, and PostGIS), with every daily value; requests to the
host stay 2 s apart; a backfill goes on past months that are not there, and resumes."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
import yaml
from tests_support import REPO

from devkit.mcfcd_standin import McfcdServer, sample_files
from devkit.simulate import run_snakemake
from gridflow.sinks import clickhouse

pytestmark = pytest.mark.slow

CYCLE = "2022100100"  # water year 2023


def _config(tmp_path: Path, server: McfcdServer, **mcfcd) -> Path:
    cfg = tmp_path / "c.yaml"
    source = {"url": server.url, "water_years_back": 0, "gauges": [59700], **mcfcd}
    settings = {"now": "2023-06-15T12:00:00Z", "data_root": str(tmp_path / "data")}
    settings["fetch"] = {"settle_seconds": 0}
    settings |= {"sources_enabled": ["mcfcd"], "sources": {"mcfcd": source}}
    cfg.write_text(yaml.safe_dump(settings))
    return cfg


def _run(tmp_path: Path, cfg: Path, env: dict | None = None):
    env = {**os.environ, "GRIDFLOW_PACE_DIR": str(tmp_path / "pace"), **(env or {})}
    return run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg), env=env)


def _query(tmp_path: Path, sql: str):
    client = clickhouse.connect(f"chdb://{tmp_path}/data/clickhouse")
    try:
        return client.query(sql).result_rows
    finally:
        client.close()


def test_a_water_year_loads_every_daily_value_and_the_gauge(samples, tmp_path):
    with McfcdServer(sample_files(samples)) as server:
        cfg = _config(tmp_path, server)
        run = _run(tmp_path, cfg)
        assert run.returncode == 0, run.stderr[-3000:]
        times = [t for t, _, _ in server.requests]
    assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= 1.95  # 2 s apart
    kinds = dict(_query(tmp_path, "SELECT origin, count() FROM gauge_observations GROUP BY origin"))
    # the period of record replaces the workbook's year of its gauge, or the other way round
    assert kinds.get("water_year_workbook", 0) + kinds.get("fopr", 0) == 132130 + 9862 - 365
    assert kinds["alert_page"] == 195
    (total,) = _query(
        tmp_path,
        "SELECT sum(inches) FROM gauge_observations WHERE gauge = 59700 AND kind = 'daily' "
        "AND day BETWEEN '2022-10-01' AND '2023-09-30'",
    )[0]
    assert total == pytest.approx(6.81101, abs=1e-4)  # the workbook's own total for 59700
    (gauge,) = _query(tmp_path, "SELECT name, former_ids, lat, lon FROM gauges FINAL")
    assert gauge == ("Aztec Park", [4695], 33.61006, -111.86545)
    sidecar = json.loads(
        (tmp_path / "data/cycles/mcfcd" / CYCLE / "raw/workbook.r2023061500.xlsx.json").read_text()
    )
    assert sidecar["url"].endswith("/alert/Rain/pcp_WY_2023.xlsx")
    assert len(sidecar["warnings"]) == 14  # the Annual_Totals disagreements, kept and flagged

    point = subprocess.run(
        [
            "gridflow",
            "point",
            "--configfile",
            str(cfg),
            "--source",
            "mcfcd",
            "--lat",
            "33.6",
            "--lon",
            "-111.87",
            "--start",
            "2022-10-01",
            "--end",
            "2022-10-31",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "GRIDFLOW_DATA_ROOT": str(tmp_path / "data")},
    )
    assert point.returncode == 0, point.stderr
    days = [json.loads(line) for line in point.stdout.splitlines()]
    assert len(days) == 31 and {d["gauge"] for d in days} == {59700}

    again = _run(tmp_path, cfg)
    assert "Nothing to be done" in again.stdout + again.stderr
    _refreshed_a_day_later(samples, tmp_path, cfg)


def _refreshed_a_day_later(samples, tmp_path: Path, cfg: Path) -> None:
    """A day on, the records still being edited are fetched again and replace their rows."""
    before = _query(tmp_path, "SELECT count() FROM gauge_observations")[0][0]
    settings = yaml.safe_load(cfg.read_text())
    settings["now"] = "2023-06-16T12:00:00Z"
    settings["sources"]["mcfcd"]["min_request_interval_seconds"] = 0
    cfg.write_text(yaml.safe_dump(settings))
    with McfcdServer(sample_files(samples)) as server:
        settings["sources"]["mcfcd"]["url"] = server.url
        cfg.write_text(yaml.safe_dump(settings))
        pending = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg), "-n")
        assert "workbook.r2023061600" in pending.stdout + pending.stderr
        second = _run(tmp_path, cfg)
        assert second.returncode == 0, second.stderr[-3000:]
    raw = tmp_path / "data/cycles/mcfcd" / CYCLE / "raw"
    assert {p.name for p in raw.glob("workbook.*.xlsx")} == {
        "workbook.r2023061500.xlsx",  # the older copy stays, as the record of what changed
        "workbook.r2023061600.xlsx",
    }
    assert _query(tmp_path, "SELECT count() FROM gauge_observations")[0][0] == before
    duplicated = _query(
        tmp_path,
        "SELECT count() FROM (SELECT gauge, kind, time FROM gauge_observations "
        "GROUP BY gauge, kind, time HAVING count() > 1)",
    )[0][0]
    assert duplicated == 0


def test_a_backfill_goes_past_missing_months_and_resumes(samples, tmp_path):
    with McfcdServer(sample_files(samples)) as server:
        cfg = _config(tmp_path, server, gauges=[], min_request_interval_seconds=0.1)
        command = [
            "gridflow",
            "backfill",
            "mcfcd",
            "--water-years",
            "2020",
            "--configfile",
            str(cfg),
            "--",
            "--directory",
            str(tmp_path),
            "-s",
            str(REPO / "Snakefile"),
        ]
        env = {**os.environ, "GRIDFLOW_PACE_DIR": str(tmp_path / "pace")}
        first = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
        assert first.returncode != 0
        assert "backfill mcfcd: 0 of 1 cycles complete; not yet: 2019100100" in first.stderr
        november = tmp_path / "data/cycles/mcfcd/2019100100/loaded/clickhouse/pdf_11.json"
        assert json.loads(november.read_text())["rows"] == 356 * 30
        requested = len(server.requests)
        again = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env)
        assert again.returncode != 0
        asked_again = [p for _, _, p in server.requests[requested:]]
        assert not any("pcp1119" in p for p in asked_again)  # loaded already: not fetched again
        assert any("pcp1019" in p for p in asked_again)  # what failed is tried again


@pytest.mark.postgres
def test_gauges_are_points_in_postgis(samples, tmp_path, postgres):
    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    with McfcdServer(sample_files(samples)) as server:
        cfg = _config(tmp_path, server, min_request_interval_seconds=0)
        run = _run(tmp_path, cfg, {"GRIDFLOW_PG_DSN": postgres.dsn(db=name)})
        assert run.returncode == 0, run.stderr[-3000:]
    with psycopg.connect(postgres.dsn(db=name)) as conn:
        row = conn.execute(
            "SELECT gauge, name, former_ids, ST_Y(geom), ST_X(geom), elevation_ft FROM gauges"
        ).fetchone()
    assert row == (59700, "Aztec Park", [4695], 33.61006, -111.86545, 1465.0)
