from __future__ import annotations

import shutil
import sys
from pathlib import Path

import psycopg  # noqa: F401  (before eccodes: see src/gridflow/__init__.py)
import pyproj  # noqa: F401  (before eccodes too: the other order crashes the process at exit)
import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
sys.path.insert(0, str(Path(__file__).parent / "support"))  # the servers and helpers tests share

from loopback_http import MirrorServer  # noqa: E402


@pytest.fixture(autouse=True)
def own_host_health(tmp_path, monkeypatch):
    """Each test keeps its own record of upstream hosts' health (gridflow.net.host_health)."""
    monkeypatch.setenv("GRIDFLOW_HOSTS_DIR", str(tmp_path / "hosts"))


@pytest.fixture(scope="session", autouse=True)
def own_grid_cache(tmp_path_factory):
    """One grid cache (gridflow.geo.grid_cache) for the test session, never the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRIDFLOW_GRID_CACHE", str(tmp_path_factory.mktemp("grids")))
        yield


@pytest.fixture(scope="session")
def samples() -> Path:
    return SAMPLES


@pytest.fixture
def mirror_dir(tmp_path) -> Path:
    path = tmp_path / "mirror"
    path.mkdir()
    return path


@pytest.fixture
def http_mirror(mirror_dir):
    with MirrorServer(mirror_dir) as server:
        yield server


@pytest.fixture
def gfs_object(samples, mirror_dir):
    """A re-dated GFS 2.5 degree file with its wgrib2 .idx, as NOAA's bucket lays it out."""
    from datetime import UTC, datetime

    from devkit.demo import grib_messages, write_object

    key = "gfs.20250312/06/atmos/gfs.t06z.pgrb2.0p25.f003"
    write_object(
        mirror_dir,
        key,
        grib_messages(samples / "gfs.t12z.pgrbf120.2p5deg.grib2"),
        datetime(2025, 3, 12, 6, tzinfo=UTC),
        3,
    )
    return key


def copy_sample(samples: Path, name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(samples / name, dest)
    return dest


SERVER_MARKS = ("postgres", "slurm", "s3")


def pytest_collection_modifyitems(config, items):
    """A test that needs a server is slow too: `-m "not slow"` runs without root or servers."""
    for item in items:
        if any(item.get_closest_marker(m) for m in SERVER_MARKS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres():
    from devkit.throwaway_postgres import PostgresServer

    server = PostgresServer().start()
    yield server
    server.stop()


class RunningCluster:
    """A cluster this session did not start: its logs are where its starter keeps them."""

    def logs(self) -> str:
        return "(a SLURM cluster started elsewhere: see its own logs)"


def _slurm_answers() -> bool:
    import subprocess

    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ping.returncode == 0 and "UP" in ping.stdout


@pytest.fixture(autouse=True)
def local_executor_env(request, monkeypatch):
    """Every test but SLURM's runs Snakemake on the local executor (directly or through the
    `gridflow` command): it must not wait ~9 s at each start on the SLURM plugin's `scontrol`
    (devkit.simulate.LOCAL_EXECUTOR_ENV says why)."""
    if request.node.get_closest_marker("slurm"):
        return
    from devkit.simulate import LOCAL_EXECUTOR_ENV

    for name, value in LOCAL_EXECUTOR_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def slurm():
    """The single-node SLURM cluster, for the tests that submit to it (None when SLURM is not
    installed)."""
    if not shutil.which("slurmctld"):
        yield None
        return
    if _slurm_answers():
        # a controller already answering (another test session's, or one started by hand
        # with `python tests/support/throwaway_slurm.py`) is used as it is: two cannot share ports
        yield RunningCluster()
        return
    from throwaway_slurm import SlurmCluster

    cluster = SlurmCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="module")
def demo_run(samples, tmp_path_factory):
    """A demo mirror (GFS f000/f003, HRRR f01) served over HTTP, and one full run (half a
    minute), shared by a module's tests: they read its result, and a test that changes the store
    (verify's repairs) comes last in its module and leaves it as it found it."""
    import os

    import yaml
    from tests_support import REPO, build_small_demo

    from devkit.simulate import run_snakemake

    tmp_path = tmp_path_factory.mktemp("demo_run")
    (tmp_path / "mirror").mkdir()
    with MirrorServer(tmp_path / "mirror") as http_mirror:
        cfg_path = tmp_path / "mirror.yaml"
        build_small_demo(samples, http_mirror.root, cfg_path, tmp_path / "data")
        cfg = yaml.safe_load(cfg_path.read_text())
        cfg["sources"]["gfs"]["url"] = f"{http_mirror.url}/noaa-gfs-bdp-pds"
        cfg["sources"]["hrrr"]["url"] = f"{http_mirror.url}/noaa-hrrr-bdp-pds"
        cfg_path.write_text(yaml.safe_dump(cfg))
        # set up before the tests' own fixtures: the run keeps its hosts' health (own_host_health)
        env = os.environ | {"GRIDFLOW_HOSTS_DIR": str(tmp_path / "hosts")}
        run = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg_path), env=env)
        assert run.returncode == 0, run.stderr[-3000:]
        yield tmp_path, cfg_path, run, http_mirror
