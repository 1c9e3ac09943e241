"""Item 13: a target path's wildcards are checked for what they name before a rule uses them;
what names nothing is refused saying which part and what was expected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from tests_support import REPO

from gridflow import paths
from gridflow.config import loading as config
from gridflow.pipeline import wildcards

SOURCES = ["gfs", "mrms", "cams_europe", "mcfcd"]


@pytest.fixture(scope="module")
def cfg():
    raw = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    return config.resolve({**raw, "sources_enabled": SOURCES}, REPO)


@pytest.mark.parametrize(
    "given, said",
    [
        (("gfs", "2025031206", "nope", "grib2"), "gfs has no step 'nope' (its steps are forecast"),
        (("gfs", "2025031206", "f1000", "grib2"), "gfs has no step 'f1000'"),
        (("gfs", "2025031205", "f003", "grib2"), "gfs has no cycle 2025031205 (its cycles are at"),
        (("gfs", "2025133306", "f003", "grib2"), "cycle '2025133306' is not a time"),
        (("gfs", "2025031206", "f003", "nc"), "gfs's f003 is a .grib2 file, not .nc"),
        (("nope", "2025031206", "f003", "grib2"), "no source 'nope' is enabled (enabled: cams"),
        (("mrms", "20250312060000", "f003", "grib2.gz"), "mrms has no step 'f003' (its steps:"),
        (("mrms", "20250312060000", "Nope_00.50", "grib2.gz"), "mrms has no step 'Nope_00.50'"),
        (("cams_europe", "2025031200", "nope", "nc"), "cams_europe has no step 'nope'"),
        (("mcfcd", "2022100100", "nope_3", "xlsx"), "mcfcd has no step 'nope_3'"),
    ],
)
def test_wildcards_that_name_nothing_are_refused_by_name(cfg, given, said):
    with pytest.raises(wildcards.NoSuchTarget) as err:
        wildcards.check(cfg, *given)
    assert said in str(err.value)


def test_only_a_job_source_has_job_files(cfg):
    with pytest.raises(wildcards.NoSuchTarget, match="gfs has no jobs"):
        wildcards.check(cfg, "gfs", "2025031206", "f003", job=True)
    assert wildcards.check(cfg, "cams_europe", "2025031200", "forecast", job=True).step


def test_what_the_sources_make_passes(cfg):
    assert wildcards.check(cfg, "gfs", "2025031206", "f003", "grib2") == wildcards.Checked(
        "gfs", datetime(2025, 3, 12, 6, tzinfo=UTC), 3
    )
    mrms = cfg["sources"]["mrms"]["products"][0]
    assert wildcards.check(cfg, "mrms", "20250312060400", mrms).step == mrms
    assert wildcards.check(cfg, "mcfcd", "2022100100", "workbook.r2023061500").step
    assert wildcards.check(cfg, "gfs", "2025031206").step is None  # a cycle's own file


@pytest.mark.parametrize(
    "text", ["202503120", "20250312061", "2025031206x", "２０２５０３１２０６"]
)
def test_a_cycle_id_is_ten_or_fourteen_digits_and_nothing_else(text):
    """strptime alone takes fields that are not zero-padded (`202503120` as 2025-03-12 00)."""
    with pytest.raises(ValueError):
        paths.parse_cycle(text)
