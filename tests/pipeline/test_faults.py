"""A misbehaving network, survived: every fault of devkit.fault_proxy in front of a real mirror,
fetches identical to a clean one, retries counted, a host that keeps failing paused."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import copy_sample
from tests_support import gfs_spec

from devkit.fault_proxy import FAULTS, FaultPlan, FaultProxy
from gridflow.net import host_health
from gridflow.net.transport import CircuitOpen, NotPublished, Remote, Settings
from gridflow.pipeline.fetch import fetch
from gridflow.pipeline.fetch_job import Operating
from gridflow.pipeline.sidecar import Sidecar

# a stall lasts past the timeout; eight retries outlast any burst below
PATIENT = Settings(timeout_seconds=0.5, max_retries=8, breaker_failures=50)
SELECT = [":TMP:2 m above ground:", ":(UGRD|VGRD):10 m above ground:", ":PRMSL:"]
MISSING = {"404", "403"}


def _fetch(url: str, key: str, idx_key: str | None, out: Path, settings=PATIENT) -> Sidecar:
    spec = gfs_spec(key, idx_key, SELECT if idx_key else "all")
    raw = out / "f.grib2"
    return fetch(spec, Operating(url, settings), raw, out / "f.grib2.idx", out / "f.json")


@pytest.fixture
def mrms_object(samples, mirror_dir) -> str:
    """A whole-object download: an MRMS scan as the bucket serves it, gzipped."""
    name = "MRMS_MergedReflectivityQCComposite_00.50_20250312-113000.grib2.gz"
    source = next(samples.glob("MRMS_*.grib2.gz"))
    copy_sample(samples, source.name, mirror_dir / "mrms" / name)
    return f"mrms/{name}"


@pytest.fixture
def clean(http_mirror, gfs_object, mrms_object, tmp_path):
    """What a clean fetch of each object keeps: the reference the faulty ones must equal."""
    ranged = _fetch(http_mirror.url, gfs_object, gfs_object + ".idx", tmp_path / "clean-ranged")
    whole = _fetch(http_mirror.url, mrms_object, None, tmp_path / "clean-whole")
    return {"ranged": ranged, "whole": whole}


def _compare(got: Sidecar, want: Sidecar) -> None:
    for key in ("sha256", "size", "byte_ranges", "fields", "messages"):
        assert getattr(got, key) == getattr(want, key), key


# a stall waits out the timeout, a 429 at least a second: each retry costs time
SLOW_FAULTS = {"stall", "429"}


@pytest.mark.parametrize(
    "fault", [pytest.param(f, marks=pytest.mark.slow) if f in SLOW_FAULTS else f for f in FAULTS]
)
def test_each_fault_is_survived_with_identical_bytes(
    fault, clean, http_mirror, gfs_object, mrms_object, tmp_path
):
    for kind, key, idx in (
        ("ranged", gfs_object, gfs_object + ".idx"),
        ("whole", mrms_object, None),
    ):
        plan = FaultPlan((fault,), burst=2)
        out = tmp_path / f"{fault}-{kind}"
        with FaultProxy(http_mirror.url, plan, stall_seconds=1.0).start() as proxy:
            misses = 0  # not published yet: the plan waits, a later run takes it
            while True:
                try:
                    got = _fetch(proxy.base, key, idx, out)
                    break
                except NotPublished as exc:
                    assert ("not found" if fault == "404" else "403 forbidden") in str(exc)
                    assert not out.exists() or not list(out.iterdir())
                    misses += 1
                    assert misses <= 4
        assert misses == (2 * (1 + bool(idx)) if fault in MISSING else 0)
        _compare(got, clean[kind])
        transient = fault not in MISSING | {"no_range", "bad_range"}
        if transient:
            assert got.retries == proxy.injected[fault] >= 2, (got.retries, kind)
        if fault in ("no_range", "bad_range") and kind == "ranged":
            # the server cannot be trusted with ranges: the object is read whole once
            assert proxy.injected[fault] == 1 and got.retries == 0


def test_a_host_that_keeps_failing_is_paused_then_tried_again(
    clean, http_mirror, gfs_object, tmp_path
):
    settings = Settings(
        timeout_seconds=1, max_retries=5, breaker_failures=3, breaker_cooldown_seconds=1.5
    )
    plan = FaultPlan(("5xx",), burst=1000)
    idx = gfs_object + ".idx"
    with FaultProxy(http_mirror.url, plan).start() as proxy:
        with pytest.raises(CircuitOpen, match="paused for 1.5 s after 3 failures in a row"):
            _fetch(proxy.base, gfs_object, idx, tmp_path / "a", settings)
        asked = sum(plan.seen.values())
        assert asked == 3  # not max_retries + 1: the breaker stopped it
        # while paused, nothing reaches the host and the error says until when
        with pytest.raises(CircuitOpen, match=r"paused after 3 failures in a row \(last: .*503"):
            _fetch(proxy.base, gfs_object, idx, tmp_path / "b", settings)
        assert sum(plan.seen.values()) == asked
        [state] = host_health.record().hosts()
        assert state["paused"] and state["opened"] == 1
        time.sleep(1.6)
        plan.burst = 0  # the host recovers: the one request after the cool-down closes it
        got = _fetch(proxy.base, gfs_object, idx, tmp_path / "c", settings)
    _compare(got, clean["ranged"])
    [state] = host_health.record().hosts()
    assert not state["paused"] and state["failures"] == 0


def test_requests_to_one_host_keep_their_interval(http_mirror, gfs_object, tmp_path):
    settings = Settings(timeout_seconds=5, max_retries=1, min_interval_seconds=0.25)
    with FaultProxy(http_mirror.url, FaultPlan((), rate=0)).start() as proxy:
        remote = Remote(proxy.base, settings)
        for _ in range(5):
            remote.head(gfs_object)
        gaps = [b - a for a, b in zip(proxy.starts, proxy.starts[1:], strict=False)]
    assert len(gaps) == 4 and min(gaps) >= 0.24, gaps


def test_status_and_metrics_report_a_paused_host(tmp_path, monkeypatch):
    from gridflow.ops import metrics, status

    hosts = tmp_path / "data" / "hosts"
    monkeypatch.setenv("GRIDFLOW_HOSTS_DIR", str(hosts))
    health = host_health.record()
    health.retried("mirror.example:80")
    health.failed("mirror.example:80", "http://mirror.example/x: 503", 1, 60)
    report = {"sources": [], "hosts": health.hosts(), "last_purge": None}
    assert "host mirror.example:80: PAUSED until" in status.table(report)
    cfg = {"data_root": str(tmp_path / "data"), "metrics": {"textfile": str(tmp_path / "m.prom")}}
    metrics.write(cfg, report, tmp_path, "success")
    text = (tmp_path / "m.prom").read_text()
    assert 'gridflow_host_paused{host="mirror.example:80"} 1.0' in text
    assert 'gridflow_host_retries_total{host="mirror.example:80"} 1.0' in text
    assert json.loads((hosts / "mirror.example_80.json").read_text())["opened"] == 1


def test_the_plan_lists_a_paused_host_as_unreachable(tmp_path, monkeypatch):
    import yaml
    from tests_support import REPO

    from gridflow.config import loading as config
    from gridflow.pipeline import plan

    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    raw.update(data_root=str(tmp_path / "data"), sources_enabled=["gfs"])
    raw["sources"] = {"gfs": {"url": "http://mirror.example:8080/noaa-gfs-bdp-pds"}}
    cfg = config.resolve(raw, REPO)
    monkeypatch.delenv("GRIDFLOW_HOSTS_DIR")  # the plan keeps hosts under the data root
    host_health.record(cfg["data_root"]).failed(
        "mirror.example:8080", "503 Service Unavailable", 1, 60
    )
    found = plan.plan(cfg, config.now({**cfg, "now": "2025-03-12T12:00:00Z"}))
    assert not found.ready
    assert "paused after 1 failures in a row" in found.unreachable["gfs"]
    assert "gfs: UNREACHABLE: " in found.summary()
    assert (tmp_path / "data" / "hosts" / "mirror.example_8080.json").exists()


@pytest.mark.slow
def test_a_workflow_behind_faults_loads_what_a_clean_run_loads(samples, http_mirror, tmp_path):
    """The small demo through the proxy with seeded faults of every kind: files answered
    404/403 wait for a later run (before the plan: waiting; after it: that fetch fails, the
    others go on); in the end the store holds exactly what a clean run loads, the last run
    succeeds, and the retries are in the metrics."""
    import yaml
    from tests_support import REPO, SMALL_DEMO_ROWS, build_small_demo, rows_by_source

    from devkit.simulate import run_snakemake

    cfg_path = tmp_path / "faulty.yaml"
    build_small_demo(samples, http_mirror.root, cfg_path, tmp_path / "data")
    faults = FaultPlan(FAULTS, rate=0.35, in_a_row=2, seed=2026)
    with FaultProxy(http_mirror.url, faults, stall_seconds=1.5).start() as proxy:
        cfg = yaml.safe_load(cfg_path.read_text())
        for source in ("gfs", "hrrr"):
            cfg["sources"][source]["url"] = f"{proxy.base}/noaa-{source}-bdp-pds"
        cfg["fetch"].update(max_retries=6, timeout_seconds=1, breaker_failures=30)
        cfg["metrics"] = {"textfile": str(tmp_path / "gridflow.prom")}
        cfg_path.write_text(yaml.safe_dump(cfg))
        for _ in range(5):  # what waited or failed is taken by a later run
            args = ("--keep-going", "--configfile", str(cfg_path))
            run = run_snakemake(REPO / "Snakefile", tmp_path, *args)
            if run.returncode == 0 and rows_by_source(tmp_path) == SMALL_DEMO_ROWS:
                break
    assert run.returncode == 0, run.stderr[-3000:]
    assert rows_by_source(tmp_path) == SMALL_DEMO_ROWS
    assert {"5xx", "reset", "short"} & set(proxy.injected), proxy.injected
    metrics = (tmp_path / "gridflow.prom").read_text()
    retried = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("gridflow_host_retries_total{")
    ]
    assert sum(retried) > 0, metrics  # the plan's probes and the fetches, counted per host


def test_a_job_service_request_answered_503_is_tried_again_and_counted(samples, monkeypatch):
    """The data store's API goes the fetches' way: a 503 is tried again, and counted."""
    from urllib.parse import urlsplit

    from devkit.ads_standin import KEY, AdsServer
    from gridflow.jobs.ads import DataStore

    monkeypatch.setenv("ADS_API_KEY", KEY)
    with AdsServer(samples / "chem-cams.grib") as ads:
        store = DataStore(ads.url, settings=Settings(timeout_seconds=5, max_retries=2))
        job = store.submit({"dataset": "cams-europe", "inputs": {"data_format": "grib"}})
        ads.unavailable_status = 1
        status = store.status(job.job_id)
    assert status.state in ("accepted", "running")
    assert ads.unavailable_status == 0 and store.client.retries == 1
    [state] = host_health.record().hosts()
    assert state["host"] == urlsplit(ads.url).netloc and state["retries"] == 1
    assert state["failures"] == 0  # the answer after the retry closed the count


def test_an_earthdata_token_request_reset_is_tried_again(samples, monkeypatch):
    """Earthdata Login goes the fetches' way: a connection reset is tried again, and counted."""
    from devkit.harmony_standin import PASSWORD, USER, HarmonyServer
    from gridflow.jobs.earthdata import Tokens

    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    monkeypatch.setenv("EARTHDATA_USERNAME", USER)
    monkeypatch.setenv("EARTHDATA_PASSWORD", PASSWORD)
    with HarmonyServer([]) as harmony:
        token = harmony.new_token(days=60)
        plan = FaultPlan(("reset",), burst=1)
        with FaultProxy(harmony.url, plan).start() as proxy:
            tokens = Tokens(proxy.base, Settings(timeout_seconds=5, max_retries=2))
            assert tokens.bearer() == token
    assert proxy.injected["reset"] == 1 and tokens.client.retries == 1
    assert harmony.token_requests == ["list"]
    [state] = host_health.record().hosts()
    assert state["retries"] == 1 and state["failures"] == 0
