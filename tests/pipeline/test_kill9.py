"""kill -9 at random moments: a seeded trial kills the scheduled run 20 times (fetch, shred, the
ClickHouse and PostGIS loads, routes and the purge all get hit) and reruns each time; the end
state is exactly a clean run's, every row has its marker and every marker its rows, and no lock
is left that stops the next run. GRIDFLOW_KILL_SEED picks another trial."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from tests_support import REPO

from devkit import demo, simulate
from gridflow.sinks import clickhouse, postgis

pytestmark = [pytest.mark.postgres]

START = datetime(2025, 3, 10, 0, tzinfo=UTC)
STEPS, KILLS_PER_STEP, RETENTION_HOURS = 4, 5, 12
FIELD_POINTS = 10512  # the 2.5 degree GFS grid
SEED = int(os.environ.get("GRIDFLOW_KILL_SEED", "2026"))


def _config(mirror) -> dict:
    return {
        "data_root": "data",
        "sources_enabled": ["gfs"],
        "purge": "after_ingest",
        "fetch": {"settle_seconds": 0, "max_retries": 1, "timeout_seconds": 10},
        "sinks": {"postgis": {"thresholds": {"TMP": [300.0, 305.0, 310.0, 315.0]}}},
        "sources": {
            "gfs": {
                "url": f"file://{mirror}",
                "forecast_hours": "0,3",
                "window_hours": 6,
                "retention_hours": RETENTION_HOURS,
                "select": [":TMP:2 m above ground:", ":PRMSL:"],
                "postgis": {"variables": ["TMP"], "stride": 2, "bbox": [-10, 35, 30, 60]},
            }
        },
    }


def _run(workdir, now: datetime, env: dict) -> subprocess.Popen:
    command = ["timeout", "-s", "INT", "600", "gridflow", "run", "-s", str(REPO / "Snakefile")]
    command += ["--cores", "2", "--configfile", str(workdir / "trial.yaml")]
    command += ["--config", f"now={now:%Y-%m-%dT%H:%M:%SZ}"]
    return subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # its own process group: the kill takes every job with it
    )


def _jobs_of(group: int) -> dict[int, str]:
    """The gridflow commands (fetch, shred, load, ..., purge) running in a process group."""
    found = {}
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit() or os.getpgid(int(proc.name)) != group:
                continue
            words = (proc / "cmdline").read_bytes().split(b"\0")
        except (OSError, ProcessLookupError):
            continue
        names = [w.decode() for w in words]
        for i, word in enumerate(names[:-1]):
            if (word.endswith("/gridflow") or word == "gridflow") and names[i + 1] != "run":
                found[int(proc.name)] = names[i + 1]
    return found


def _kill_at_job(run: subprocess.Popen, nth: int | str, pause: float) -> list[str]:
    """SIGKILL the run's whole process group `pause` seconds after its `nth` job started (or
    its first job of that name); returns the jobs it killed (none if the run ended first)."""
    seen: dict[int, str] = {}
    while run.poll() is None:
        seen.update(_jobs_of(run.pid))
        if nth in seen.values() if isinstance(nth, str) else len(seen) >= nth:
            time.sleep(pause)
            running = sorted(set(_jobs_of(run.pid).values()))
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait()
                return running
        time.sleep(0.02)
    return []


def _store_state(workdir) -> dict:
    client = clickhouse.connect(f"chdb://{workdir}/data/clickhouse")
    try:
        rows = client.query(
            "SELECT formatDateTime(ref_time, '%Y%m%d%H'), step, variable, count(), "
            "uniqExact(raw_file_id) FROM grid_data GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        ).result_rows
    finally:
        client.close()
    return {(c, s, v): (n, files) for c, s, v, n, files in rows}


def _assert_converged(workdir, env: dict, db: str, cycles: list[str]) -> None:
    """Every kept file once in ClickHouse (and nothing else), `gridflow verify` clean, and in
    PostGIS exactly the catalog rows and cells the markers promise."""
    want = {
        (c, s, v): (FIELD_POINTS, 1) for c in cycles for s in (0, 180) for v in ("TMP", "PRMSL")
    }
    assert _store_state(workdir) == want
    trial = str(workdir / "trial.yaml")
    if not (workdir / "config").exists():  # the trial's folder is its project: data_root is below
        (workdir / "config").symlink_to(REPO / "config")
    verify = subprocess.run(
        ["gridflow", "verify", "--project", str(workdir), "--configfile", trial],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    found = workdir.glob("data/cycles/gfs/*/loaded/postgis/*.json")
    markers = [json.loads(p.read_text()) for p in found]
    with psycopg.connect(db) as conn:
        files = conn.execute("SELECT count(*) FROM catalog.raw_files").fetchone()[0]
        cells = conn.execute(
            "SELECT raw_file_id::text, count(*) FROM pollution_grid GROUP BY 1"
        ).fetchall()
    assert files == len(markers) == 2 * len(cycles)
    assert sorted(n for _, n in cells) == sorted(m["rows"] for m in markers)


@pytest.fixture
def db(postgres):
    name = "k" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    with postgis.connect(postgres.dsn(db=name)) as conn:
        postgis.migrate(conn, REPO / "migrations" / "postgres")
    return postgres.dsn(db=name)


def test_kill_9_at_random_moments_converges_to_the_clean_state(samples, tmp_path, db):
    chance = random.Random(SEED)
    workdir, mirror = tmp_path / "work", tmp_path / "mirror"
    workdir.mkdir()
    (workdir / "trial.yaml").write_text(yaml.safe_dump(_config(mirror)))
    env = os.environ | {"GRIDFLOW_PG_DSN": db, "PYTHONWARNINGS": "ignore"}
    gfs = demo.grib_messages(samples / demo.GFS_SAMPLE)
    kills = []
    for i in range(STEPS + 1):
        now = START + timedelta(hours=6 * i)
        for step in (0, 3):  # published now, taken by the next step's runs
            demo.write_object(mirror, demo.GFS_KEY.format(cycle=now, step=step), gfs, now, step)
        if not i:
            continue
        for attempt in range(KILLS_PER_STEP):
            # a random job of the run and a random moment of it; the last try, the purge
            nth = "purge" if attempt == KILLS_PER_STEP - 1 else chance.randint(1, 8)
            pause = chance.uniform(0.0, 0.1 if nth == "purge" else 0.6)
            run = _run(workdir, now, env)
            kills.append((f"{now:%d%H}", nth, round(pause, 2), _kill_at_job(run, nth, pause)))
        final = _run(workdir, now, env)
        _, err = final.communicate()
        assert final.returncode == 0, (kills, err[-3000:])
    print(f"seed {SEED}: kills (clock, nth job, pause, killed during) {kills}")
    hit = [during for *_, during in kills if during]
    assert len(hit) >= 12, kills
    assert {"fetch", "shred", "load", "load-postgis", "purge"} <= set().union(*hit), kills

    kept = simulate.kept_cycles(RETENTION_HOURS, now, START)
    _assert_converged(workdir, env, db, sorted(kept))  # nothing purged left
    cycles = workdir / "data" / "cycles" / "gfs"
    assert {d.name for d in cycles.iterdir()} == kept
    assert not list(cycles.rglob("*.partial"))
    assert not list((workdir / ".snakemake" / "locks").glob("*.lock"))


HOLD_STORE = """
import sys, time, chdb.session
session = chdb.session.Session(sys.argv[1])
session.query("SELECT count() FROM grid_data")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
session.close()
"""


def test_database_outages_fail_clearly_and_the_rerun_converges(samples, tmp_path, postgres):
    """PostgreSQL stopped in the middle of a load; the embedded store held by a reader."""
    name = "o" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    db = postgres.dsn(db=name)
    workdir, mirror = tmp_path / "work", tmp_path / "mirror"
    workdir.mkdir()
    (workdir / "trial.yaml").write_text(yaml.safe_dump(_config(mirror)))
    env = os.environ | {"GRIDFLOW_PG_DSN": db, "PYTHONWARNINGS": "ignore"}
    gfs = demo.grib_messages(samples / demo.GFS_SAMPLE)
    for cycle in (START, START + timedelta(hours=6)):
        for step in (0, 3):
            demo.write_object(mirror, demo.GFS_KEY.format(cycle=cycle, step=step), gfs, cycle, step)

    run = _run(workdir, START + timedelta(hours=6), env)
    seen: dict[int, str] = {}
    while "load-postgis" not in seen.values() and run.poll() is None:
        seen.update(_jobs_of(run.pid))
        time.sleep(0.01)
    postgres.halt()
    try:
        _, err = run.communicate()
    finally:
        postgres.resume()
    assert run.returncode != 0, err[-2000:]
    logs = list((workdir / "data/cycles/gfs").glob("*/logs/load_postgis/*.log"))
    failed = [log.read_text().strip().splitlines() for log in logs]
    failed = [lines for lines in failed if lines and "error" in lines[-1]]
    assert failed, [log.read_text() for log in logs]
    for lines in failed:  # one line naming the server, no traceback, no password
        assert "Traceback" not in "\n".join(lines)
        assert "PostgreSQL" in lines[-1] and "gridflow-test-secret" not in lines[-1], lines
    assert len(list(workdir.glob("data/cycles/gfs/*/loaded/postgis/*.json"))) < 2
    rerun = _run(workdir, START + timedelta(hours=6), env)
    _, err = rerun.communicate()
    assert rerun.returncode == 0, err[-3000:]

    # a reader holds the embedded store: the loads wait for it, then go on
    store = workdir / "data" / "clickhouse"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STORE, str(store), "6"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "holding"
    run = _run(workdir, START + timedelta(hours=12), env)
    _, err = run.communicate()
    holder.wait()
    assert run.returncode == 0, err[-3000:]

    _assert_converged(
        workdir, env, db, [f"{c:%Y%m%d%H}" for c in (START, START + timedelta(hours=6))]
    )
