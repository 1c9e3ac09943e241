"""Credentials come only from the environment and go nowhere else: a run with every kind of
secret planted (S3 keys, an Earthdata login and the tokens it is exchanged for, an ADS key, a
PostgreSQL password) and with failures on the way leaves none of them in any log, sidecar,
marker, report, metric, Snakemake record or printed line."""

from __future__ import annotations

import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml
from tests_support import REPO, tempo_source

from devkit.ads_standin import KEY as ADS_KEY
from devkit.ads_standin import AdsServer
from devkit.harmony_standin import PASSWORD as EDL_PASSWORD
from devkit.harmony_standin import USER as EDL_USER
from devkit.harmony_standin import HarmonyServer
from devkit.simulate import run_snakemake
from devkit.throwaway_postgres import PASSWORD as PG_PASSWORD

pytestmark = [pytest.mark.postgres]

S3_KEY_ID, S3_SECRET = "AKIAGRIDFLOWPLANTED7", "planted/s3+secret/0123456789abcdefABCDEF"


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _config(ads: AdsServer, harmony: HarmonyServer, metrics: Path) -> dict:
    tempo = tempo_source(harmony.url)
    cams = {
        "url": ads.url,
        "leadtime_hours": "0",
        "publish_delay_minutes": 0,
        "window_hours": 24,
        "wait_seconds": 20,
        # cells of a variable with no severity bands: the PostGIS load fails, by design here
        "postgis": {"variables": ["MASSMR"], "stride": 1},
    }
    # a signed S3 mirror that does not answer: the plan reports it unreachable
    gfs = {"url": "s3://noaa-gfs-bdp-pds", "anonymous": False}
    return {
        "now": "2025-03-12T20:30:00Z",
        "data_root": "data",
        "fetch": {"settle_seconds": 0, "max_retries": 1, "timeout_seconds": 2},
        "metrics": {"textfile": str(metrics)},
        "sources_enabled": ["tempo", "cams_europe", "gfs"],
        "sources": {"tempo": tempo, "cams_europe": cams, "gfs": gfs},
    }


def _everything_on_disk(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and not p.is_symlink()}


def test_planted_secrets_appear_nowhere(samples, tmp_path, postgres):
    db = "s" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {db}")
    metrics = tmp_path / "metrics" / "gridflow.prom"
    with (
        AdsServer(samples / "chem-cams.grib") as ads,
        HarmonyServer([samples / "tempo_vcd_troposphere_utm11_clipped.tif"]) as harmony,
    ):
        ads.fail_next = ("failed", "the stand-in failed this job")  # a job that fails first
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump(_config(ads, harmony, metrics)))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("EARTHDATA_", "AWS_"))}
        env |= {
            "ADS_API_KEY": ADS_KEY,
            "EARTHDATA_USERNAME": EDL_USER,
            "EARTHDATA_PASSWORD": EDL_PASSWORD,
            "AWS_ACCESS_KEY_ID": S3_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET,
            "GRIDFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{_dead_port()}",
            "GRIDFLOW_PG_DSN": postgres.dsn(db=db),
        }
        said = []
        for _ in range(2):  # the failed job is submitted again by the second run
            run = run_snakemake(
                REPO / "Snakefile", tmp_path, "--keep-going", "--configfile", str(cfg), env=env
            )
            said.append(run.stdout + run.stderr)
        (tmp_path / "config").symlink_to(REPO / "config")  # a project: data_root is below it
        for command in (["status"], ["verify"], ["plan"]):
            done = subprocess.run(
                ["gridflow", *command, "--project", str(tmp_path), "--configfile", str(cfg)],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=env,
            )
            said.append(done.stdout + done.stderr)
        tokens = list(harmony.tokens)
    assert run.returncode != 0  # there were failures: their messages are scanned too
    everything = "\n".join(said)
    assert "UNREACHABLE" in everything and "no severity thresholds" in everything
    assert len(ads.submissions) == 2 and tokens
    files = _everything_on_disk(tmp_path)
    assert any(".snakemake/metadata" in str(p) for p in files)
    assert any(".snakemake/log" in str(p) for p in files)
    assert metrics in files and any(p.suffix == ".json" and "/raw/" in str(p) for p in files)
    secrets = [ADS_KEY, EDL_PASSWORD, S3_KEY_ID, S3_SECRET, PG_PASSWORD, *tokens]
    for secret in secrets:
        assert secret not in everything, secret
        leaked = [str(p) for p, data in files.items() if secret.encode() in data]
        assert not leaked, (secret, leaked)
