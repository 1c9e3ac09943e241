"""profiles/s3: the raw zone and every output in a real S3 server (SeaweedFS), the sources read
from it too (anonymous, ranged GETs), the purge there, and a bucket that survives it."""

from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest
import yaml
from tests_support import REPO, SMALL_DEMO_ROWS, build_small_demo, rows_by_source
from throwaway_s3 import ACCESS_KEY, SECRET_KEY, SeaweedS3

from devkit.simulate import run_snakemake

pytestmark = [pytest.mark.s3]

RAW_BUCKET, MIRROR_BUCKET = "gridflow-raw", "noaa-gfs-bdp-pds"


@pytest.fixture(scope="module")
def s3():
    server = SeaweedS3([RAW_BUCKET, MIRROR_BUCKET], public=[MIRROR_BUCKET]).start()
    yield server
    server.stop()


def _client(s3):
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


def _keys(client, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def test_demo_runs_and_purges_with_its_outputs_in_s3(s3, samples, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # data_root relative: it becomes the key prefix in the bucket
    build_small_demo(samples, tmp_path / "mirror", tmp_path / "demo.yaml", Path("data"))
    client = _client(s3)
    gfs_mirror = tmp_path / "mirror" / MIRROR_BUCKET
    for path in sorted(p for p in gfs_mirror.rglob("*") if p.is_file()):
        client.upload_file(str(path), MIRROR_BUCKET, str(path.relative_to(gfs_mirror)))
    cfg = yaml.safe_load((tmp_path / "demo.yaml").read_text())
    cfg["sources"]["gfs"]["url"] = f"s3://{MIRROR_BUCKET}"  # anonymous, ranged GETs
    (tmp_path / "demo.yaml").write_text(yaml.safe_dump(cfg))

    env = os.environ | {
        "SNAKEMAKE_STORAGE_S3_ENDPOINT_URL": s3.endpoint,
        "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": ACCESS_KEY,
        "SNAKEMAKE_STORAGE_S3_SECRET_KEY": SECRET_KEY,
        "GRIDFLOW_S3_ENDPOINT_URL": s3.endpoint,  # the sources' side
    }
    profile = [
        *("--profile", str(REPO / "profiles/s3")),
        *("--default-storage-prefix", f"s3://{RAW_BUCKET}/gridflow"),
    ]
    cfg_args = ("--configfile", str(tmp_path / "demo.yaml"))

    run = run_snakemake(REPO / "Snakefile", tmp_path, *profile, *cfg_args, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    keys = _keys(client, RAW_BUCKET)
    for cycle in ("2025031200", "2025031206"):
        for step in ("f000", "f003"):
            for suffix in ("grib2", "grib2.idx", "grib2.json"):
                assert f"gridflow/data/cycles/gfs/{cycle}/raw/{step}.{suffix}" in keys
            assert f"gridflow/data/cycles/gfs/{cycle}/loaded/clickhouse/{step}.json" in keys
        assert f"gridflow/data/cycles/hrrr/{cycle}/cycle.json" in keys
    assert "gridflow/.gridflow-keep" in keys
    assert not list((tmp_path / "data").rglob("*.grib2"))  # nothing of the raw zone is local
    assert rows_by_source(tmp_path) == SMALL_DEMO_ROWS  # as the local run
    for key in keys:
        body = client.get_object(Bucket=RAW_BUCKET, Key=key)["Body"].read()
        assert SECRET_KEY.encode() not in body, key
    assert SECRET_KEY not in run.stdout + run.stderr

    again = run_snakemake(REPO / "Snakefile", tmp_path, *profile, *cfg_args, env=env)
    assert "Nothing to be done" in again.stdout + again.stderr

    purge = run_snakemake(
        REPO / "Snakefile",
        tmp_path,
        *profile,
        "purge",
        *cfg_args,
        "--config",
        "now=2025-03-30T00:00:00Z",  # past every cycle's retention
        env=env,
    )
    assert purge.returncode == 0, purge.stderr[-3000:]
    left = _keys(client, RAW_BUCKET)
    assert not [k for k in left if "/cycles/" in k], left
    assert "gridflow/.gridflow-keep" in left
    assert client.head_bucket(Bucket=RAW_BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert list((tmp_path / ".snakemake" / "metadata").iterdir()) == []  # records went too


def test_faults_in_front_of_the_s3_server_are_survived(s3, gfs_object, mirror_dir, tmp_path):
    """The S3 API behind devkit.fault_proxy: listing and ranged GETs through every fault."""
    from devkit.fault_proxy import FAULTS, FaultPlan, FaultProxy
    from gridflow.net.transport import NotPublished, Remote, Settings
    from gridflow.pipeline.fetch import fetch
    from gridflow.pipeline.fetch_job import FetchSpec, Operating
    from gridflow.pipeline.sidecar import Sidecar

    client = _client(s3)
    for name in (gfs_object, gfs_object + ".idx"):
        client.upload_file(str(mirror_dir / name), MIRROR_BUCKET, name)
    spec = FetchSpec(
        source="gfs",
        family="noaa_model",
        format="grib2",
        key=gfs_object,
        idx_key=gfs_object + ".idx",
        raw_key="raw/gfs/x.grib2",
        select=[":TMP:2 m above ground:", ":PRMSL:"],
    )
    settings = Settings(timeout_seconds=0.5, max_retries=8, breaker_failures=50)

    def fetched(endpoint: str, out: Path) -> Sidecar:
        os.environ["GRIDFLOW_S3_ENDPOINT_URL"] = endpoint
        try:
            where = Operating(f"s3://{MIRROR_BUCKET}", settings)
            return fetch(spec, where, out / "f.grib2", out / "f.idx", out / "f.json")
        finally:
            del os.environ["GRIDFLOW_S3_ENDPOINT_URL"]

    clean = fetched(s3.endpoint, tmp_path / "clean")
    faults = FaultPlan(FAULTS, rate=0.5, in_a_row=2, seed=11)
    with FaultProxy(s3.endpoint, faults, stall_seconds=1.0).start() as proxy:
        runs = []
        for attempt in range(12):  # a 403/404 is "not published yet": the next run takes it
            try:
                runs.append(fetched(proxy.base, tmp_path / f"try{attempt}"))
            except NotPublished:
                continue
        os.environ["GRIDFLOW_S3_ENDPOINT_URL"] = proxy.base
        try:  # a listing, as the plan makes it, through the same faults
            listed = Remote(f"s3://{MIRROR_BUCKET}", settings).list(gfs_object.rsplit("/", 1)[0])
        finally:
            del os.environ["GRIDFLOW_S3_ENDPOINT_URL"]
    assert gfs_object in listed
    for got in runs:
        for key in ("sha256", "size", "byte_ranges", "fields"):
            assert getattr(got, key) == getattr(clean, key), key
    assert len(proxy.injected) >= 6, proxy.injected  # most kinds of fault met on the way
    assert sum(got.retries for got in runs) > 0
