"""What the workflow's input functions work out: a cycle's load markers by the sinks on, the
PostGIS load's spec from a source's `postgis` settings."""

from __future__ import annotations

from gridflow.pipeline import rule_inputs


def _cfg(pg_dsn: str | None, **gfs) -> dict:
    return {
        "data_root": "data",
        "sinks": {"postgis": {"dsn": pg_dsn, "thresholds": {"TMP": 300}}},
        "sources": {"gfs": gfs},
    }


def test_a_cycle_waits_for_the_markers_of_the_sinks_that_are_on():
    assert rule_inputs.cycle_markers(_cfg(None), "gfs", "2025031206", [0, 3]) == [
        "data/cycles/gfs/2025031206/loaded/clickhouse/f000.json",
        "data/cycles/gfs/2025031206/loaded/clickhouse/f003.json",
    ]
    with_cells = _cfg("postgresql://x", postgis={"variables": ["TMP"]})
    assert rule_inputs.cycle_markers(with_cells, "gfs", "2025031206", [0]) == [
        "data/cycles/gfs/2025031206/loaded/clickhouse/f000.json",
        "data/cycles/gfs/2025031206/loaded/postgis/f000.json",
        "data/cycles/gfs/2025031206/loaded/routes/f000.json",
    ]


def test_the_postgis_spec_takes_the_sources_cells_and_its_quality_flags():
    assert rule_inputs.postgis_spec(_cfg("postgresql://x"), "gfs") == {
        "variables": [],
        "bbox": None,
        "stride": 1,
        "thresholds": {"TMP": 300},
    }
    cfg = _cfg("postgresql://x", postgis={"variables": ["NO2"], "stride": 4}, dqf_keep=[0])
    spec = rule_inputs.postgis_spec(cfg, "gfs")
    assert spec["variables"] == ["NO2"] and spec["stride"] == 4 and spec["dqf_keep"] == [0]


def test_a_raw_file_comes_with_its_inventory_and_sidecar():
    found = rule_inputs.raw_files("data", "gfs", "2025031206", "f000", "grib2")
    assert found == {
        "raw": "data/cycles/gfs/2025031206/raw/f000.grib2",
        "idx": "data/cycles/gfs/2025031206/raw/f000.grib2.idx",
        "sidecar": "data/cycles/gfs/2025031206/raw/f000.grib2.json",
    }
