"""A run's outcome in the metrics: a real Snakemake run that fails while the DAG is built (a
target refused, an input function that raises: Snakemake calls neither onsuccess nor onerror)
counts as an error, a run with nothing to do as a success, and the counters are written even
when the plan itself cannot be made."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from tests_support import NOW, REPO

from devkit.simulate import run_snakemake

pytestmark = [pytest.mark.slow]


def _config(tmp_path: Path, mirror: Path, **gfs) -> Path:
    cfg = {
        "now": NOW,
        "data_root": str(tmp_path / "data"),
        "sources_enabled": ["gfs"],
        "fetch": {"settle_seconds": 0},
        "metrics": {"textfile": str(tmp_path / "gridflow.prom")},
        "sources": {"gfs": {"url": f"file://{mirror}", "forecast_hours": "0", **gfs}},
    }
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _runs(tmp_path: Path) -> dict[str, float]:
    text = (tmp_path / "gridflow.prom").read_text()
    return {
        (s.name, s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in ("gridflow_runs_total", "gridflow_run_duration_seconds_count")
    }


def test_a_run_that_fails_building_its_dag_counts_as_an_error(mirror_dir, tmp_path):
    cfg = _config(tmp_path, mirror_dir)
    # a cycle that does not exist (February 30): refused while the DAG is built, no hook called
    target = str(tmp_path / "data" / "cycles" / "gfs" / "2025023006" / "cycle.json")
    failed = run_snakemake(REPO / "Snakefile", tmp_path, target, "--configfile", str(cfg))
    assert failed.returncode == 2
    assert "cycle '2025023006' is not a time" in failed.stderr
    assert _runs(tmp_path) == {
        ("gridflow_runs_total", "error"): 1,
        ("gridflow_runs_total", "success"): 0,
        ("gridflow_run_duration_seconds_count", None): 1,
    }

    nothing = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(cfg))
    assert nothing.returncode == 0, nothing.stderr[-2000:]
    assert _runs(tmp_path)[("gridflow_runs_total", "success")] == 1

    # a key template naming a field that does not exist: the plan fails, in the workflow's
    # input function and in the metrics; the failed run is counted all the same
    key = "gfs.{cycle:%Y%m%d}/{cycle:%H}/atmos/gfs.t{cycle:%H}z.pgrb2.0p25.f{hour:03d}"
    broken = _config(tmp_path, mirror_dir, key=key)
    failed = run_snakemake(REPO / "Snakefile", tmp_path, "--configfile", str(broken))
    assert failed.returncode == 1
    assert "gridflow metrics: no status gauges" in failed.stderr
    runs = _runs(tmp_path)
    assert runs[("gridflow_runs_total", "error")] == 2
    assert runs[("gridflow_runs_total", "success")] == 1
    assert runs[("gridflow_run_duration_seconds_count", None)] == 3
