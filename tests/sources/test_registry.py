"""Families and formats are found in their packages and through entry points; a source's YAML
holds only what differs from its family's defaults."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from tests_support import REPO, configured_source

from gridflow import formats, sources
from gridflow.config import loading as config


def test_every_family_and_format_is_registered():
    families = {"noaa_model", "noaa_scan", "goes_abi", "ecmwf_open_data", "cams_ads", "harmony"}
    families |= {"mcfcd"}
    assert families <= set(sources.registry())
    assert {"grib2", "abi_netcdf", "netcdf_cf", "geotiff", "tempo_netcdf"} <= set(
        formats.registry()
    )
    assert formats.extensions() == ["grib2", "html", "nc", "nc4", "pdf", "tif", "xlsx"]


def test_an_installed_package_can_add_a_family(tmp_path):
    """A third-party family registered under the `gridflow.families` entry point group."""
    (tmp_path / "my_models.py").write_text(
        textwrap.dedent(
            """
            from gridflow.sources.noaa_model import NoaaModel

            class Regional(NoaaModel):
                name = "my_regional"
                defaults = {**NoaaModel.defaults, "publish_delay_minutes": 90}
            """
        )
    )
    info = tmp_path / "my_models-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-models\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[gridflow.families]\nmy_regional = my_models:Regional\n"
    )
    probe = (
        "from gridflow import sources; "
        "print(sources.family_class('my_regional').defaults['publish_delay_minutes'])"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "90"


def test_goes_west_is_what_differs_from_goes_east():
    east, west = configured_source("goes19"), configured_source("goes18")
    assert {k for k in east.src if east.src[k] != west.src.get(k)} == {"url", "satellite"}
    assert (REPO / "config/sources/goes18.yaml").read_text().count("\n") <= 4


def test_an_unknown_family_is_named_with_the_known_ones():
    raw = {"data_root": "d", "sources_enabled": ["x"], "fetch": {}, "sinks": {}}
    raw["sources"] = {"x": {"family": "nope", "url": "file:///", "window_hours": 1}}
    with pytest.raises(
        config.ConfigError, match="unknown source family 'nope' \\(known: .*goes_abi"
    ):
        config.resolve(raw, REPO)


def test_a_new_noaa_model_is_one_yaml_file():
    from datetime import UTC, datetime

    nam = configured_source("nam")
    cycle = datetime(2025, 3, 12, 6, tzinfo=UTC)
    assert nam.key(cycle, 3) == "nam.20250312/nam.t06z.awphys03.tm00.grib2"
    assert nam.idx_key(cycle, 3) == nam.key(cycle, 3) + ".idx"  # the family's default
    ecmwf = configured_source("ecmwf")
    assert ecmwf.idx_key(cycle, 3) == "20250312/06z/ifs/0p25/oper/20250312060000-3h-oper-fc.index"


def test_both_cams_datasets_are_yaml_files_of_one_family():
    from datetime import UTC, datetime

    cycle = datetime(2025, 3, 12, tzinfo=UTC)
    europe = configured_source("cams_europe").request(cycle, "forecast")
    world = configured_source("cams_global").request(cycle, "forecast")
    assert europe["dataset"] == "cams-europe-air-quality-forecasts"
    assert europe["inputs"]["model"] == ["ensemble"] and europe["inputs"]["level"] == ["0"]
    assert len(europe["inputs"]["leadtime_hour"]) == 97
    assert world["dataset"] == "cams-global-atmospheric-composition-forecasts"
    assert "model" not in world["inputs"] and world["inputs"]["leadtime_hour"][-1] == "120"
    assert configured_source("cams_europe").request(cycle, "analysis")["inputs"][
        "leadtime_hour"
    ] == ["0"]
