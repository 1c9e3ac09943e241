"""`gridflow backfill` over cycles upstream has and has not published: a cycle with nothing
loaded is not complete; the files not published are named per cycle, the exit code is 1, and
`--json` gives a record per cycle, then a summary. The dry run says the same before any work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from tests_support import NOW, REPO

pytestmark = [pytest.mark.slow]


def _backfill(
    tmp_path: Path, cfg: Path, *options: str, snakemake: tuple[str, ...] = ()
) -> subprocess.CompletedProcess:
    command = [
        "gridflow", "backfill", "gfs", "--cycles", "2025031200-2025031206", *options,
        "--configfile", str(cfg), "--", "--directory", str(tmp_path),
        "-s", str(REPO / "Snakefile"), "--cores", "1", *snakemake,
    ]  # fmt: skip
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)


def test_a_backfill_names_what_upstream_has_not_published(gfs_object, mirror_dir, tmp_path):
    cfg = tmp_path / "backfill.yaml"
    settings = {
        "now": NOW,
        "data_root": str(tmp_path / "data"),
        "sources_enabled": ["gfs"],
        "fetch": {"settle_seconds": 0},
        "sources": {
            "gfs": {
                "url": f"file://{mirror_dir}",
                "cycles": [0, 6],
                "forecast_hours": "3",
                "select": [":TMP:2 m above ground:"],
            }
        },
    }
    cfg.write_text(yaml.safe_dump(settings))  # the mirror has 2025031206 f003, not 2025031200

    preview = _backfill(tmp_path, cfg, snakemake=("-n",))
    assert preview.returncode == 0, preview.stderr[-2000:]
    said = preview.stderr.splitlines()
    assert "backfill gfs (dry run): 0 of 2 cycles complete; not yet: 2025031200, 2025031206" in said
    assert "  2025031200: not published upstream (late: not listed yet): f003" in said
    assert "  2025031206: to fetch and load: f003" in said
    assert not (tmp_path / "data" / "cycles" / "gfs" / "2025031206" / "raw").exists()

    done = _backfill(tmp_path, cfg, "--json")
    assert done.returncode == 1, done.stderr[-2000:]  # the work is not done
    first, second, summary = (json.loads(line) for line in done.stdout.splitlines())
    assert first == {
        "source": "gfs",
        "cycle": "2025031200",
        "complete": False,
        "loaded": [],
        "not_loaded": [],
        "not_published": {"late: not listed yet": ["f003"]},
    }
    assert second["cycle"] == "2025031206" and second["complete"] and second["loaded"] == ["f003"]
    assert summary == {
        "summary": True,
        "source": "gfs",
        "cycles": 2,
        "complete": 1,
        "dry_run": False,
        "exit_code": 1,
    }
    # Snakemake made a cycle.json for the unpublished cycle; status does not take it as complete
    assert (tmp_path / "data" / "cycles" / "gfs" / "2025031200" / "cycle.json").exists()
    shown = subprocess.run(
        ["gridflow", "status", "--configfile", str(cfg), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    gfs = json.loads(shown.stdout.splitlines()[0])
    assert gfs["newest_complete"] == "2025-03-12T06:00:00+00:00"

    again = _backfill(tmp_path, cfg)
    assert again.returncode == 1
    assert "backfill gfs: 1 of 2 cycles complete; not yet: 2025031200 (run it again" in (
        again.stderr
    )
    assert "  2025031200: not published upstream (late: not listed yet): f003" in again.stderr
