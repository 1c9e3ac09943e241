"""What many tests share: the checkout, the small demo, the `gridflow` command as a user runs it."""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The small demo the workflow, S3, cluster and scheduling tests run: GFS f000/f003 and HRRR f01
# of each cycle up to NOW, no scan sources.
NOW = "2025-03-12T12:00:00Z"
SMALL_DEMO_ROWS = {"gfs": 4 * 5 * 10512, "hrrr": 2 * 1905141}  # what one run of it loads


def gridflow(
    *args: str, cwd: Path = REPO, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """The `gridflow` command in its own process, as a user runs it (from the checkout unless
    `cwd` says otherwise); its output captured as text."""
    return subprocess.run(
        ["gridflow", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env or os.environ,
        timeout=timeout,
    )


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """This checkout's workflow run by Snakemake in `workdir`."""
    from devkit.simulate import run_snakemake

    return run_snakemake(REPO / "Snakefile", workdir, *args)


def build_small_demo(samples: Path, mirror: Path, config_out: Path, data_root: Path) -> None:
    from devkit import demo

    demo.build(
        samples, mirror, NOW, config_out, data_root, gfs_steps=(0, 3), hrrr_steps=(1,), scans=False
    )


def checkout_at(folder: Path) -> Path:
    """A gridflow checkout elsewhere (for --project): this one's workflow, config, migrations."""
    folder.mkdir()
    for part in ("Snakefile", "workflow", "config", "migrations", "profiles"):
        (folder / part).symlink_to(REPO / part)
    return folder


def rows_by_source(workdir: Path) -> dict:
    """grid_data's row count per source in the workdir's embedded store."""
    from gridflow.sinks import clickhouse

    client = clickhouse.connect(f"chdb://{workdir}/data/clickhouse")
    try:
        return dict(
            client.query("SELECT source, count() FROM grid_data GROUP BY source").result_rows
        )
    finally:
        client.close()


def configured_source(name: str):
    """A source's family object as the shipped configuration resolves it (family defaults,
    then config/sources/<name>.yaml)."""
    import yaml

    from gridflow import sources
    from gridflow.config import loading as config

    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg = config.resolve({**raw, "sources_enabled": [name]}, REPO)
    return sources.source(name, cfg)


def gfs_spec(key: str, idx_key: str | None, select="all"):
    """The fetch spec of a GFS object on a test mirror (gridflow.pipeline.fetch_job.FetchSpec)."""
    from gridflow.pipeline.fetch_job import FetchSpec

    return FetchSpec(
        source="gfs",
        family="noaa_model",
        format="grib2",
        key=key,
        idx_key=idx_key,
        raw_key="raw/gfs/x.grib2",
        select=select,
    )


def tempo_source(harmony_url: str, **overrides) -> dict:
    """A TEMPO source asking a stand-in Harmony (and its Earthdata Login) for NO2 columns."""
    source = {
        "url": harmony_url,
        "edl_url": harmony_url,
        "format": "geotiff",
        "products": [
            {
                "name": "no2",
                "collection": "C2930763263-LARC_CLOUD",
                "variable": "product/vertical_column_troposphere",
            }
        ],
        "bbox": [-125.0, 24.0, -100.0, 50.0],
        "cycles": [18],
        "window_hours": 3,
        "publish_delay_minutes": 0,
        "wait_seconds": 20,
    }
    return {**source, **overrides}
