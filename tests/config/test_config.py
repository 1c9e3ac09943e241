from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml
from tests_support import REPO

from gridflow.config import loading as config
from gridflow.sources import timetable


def _base() -> dict:
    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def test_defaults_resolve_with_source_files():
    cfg = config.resolve(_base(), REPO)
    assert cfg["sources"]["gfs"]["url"] == "s3://noaa-gfs-bdp-pds"
    assert cfg["sinks"]["clickhouse"]["dsn"].startswith("chdb://")


def test_overrides_merge_per_key():
    raw = _base()
    raw["sources"] = {"gfs": {"url": "file:///mirror"}}
    cfg = config.resolve(raw, REPO)
    assert cfg["sources"]["gfs"]["url"] == "file:///mirror"
    assert cfg["sources"]["gfs"]["retention_hours"] == 168


@pytest.mark.parametrize(
    "change, named",
    [
        ({"sources": {"gfs": {"cycles": [0, 25]}}}, "config.sources.gfs.cycles[1]"),
        ({"sources": {"hrrr": {"url": "ftp://x"}}}, "config.sources.hrrr.url"),
        ({"fetch": {"timeout_seconds": -1}}, "config.fetch.timeout_seconds"),
        ({"sources": {"gfs": {"forecast_hours": "0-x"}}}, "config.sources.gfs.forecast_hours"),
        ({"now": "yesterday"}, "config.now"),
        ({"retention": 3}, "'retention' was unexpected"),
        (
            {"sources_enabled": ["goes19"], "sources": {"goes19": {"postgis": {"variables": []}}}},
            "config.sources.goes19",
        ),
        (
            {
                "sources_enabled": ["goes19"],
                "sources": {
                    "goes19": {"products": [{"product": "CMIPC", "variable": "CMI", "bands": [17]}]}
                },
            },
            "config.sources.goes19.products[0].bands[0]",
        ),
    ],
)
def test_invalid_config_names_the_key(change, named):
    raw = config.deep_merge(_base(), change)
    with pytest.raises(config.ConfigError) as err:
        config.resolve(raw, REPO)
    assert named in str(err.value)


def test_now_from_the_command_line_pins_the_clock():
    raw = _base()
    raw["now"] = datetime(2025, 3, 12, 6, tzinfo=UTC)  # what YAML makes of --config now=...
    cfg = config.resolve(raw, REPO)
    assert config.now(cfg) == datetime(2025, 3, 12, 6, tzinfo=UTC)


def test_dsn_from_environment_wins_and_stays_there(monkeypatch):
    from gridflow.config import dsn

    monkeypatch.setenv("GRIDFLOW_CLICKHOUSE_DSN", "http://u:secret@127.0.0.1:8123")
    cfg = config.resolve(_base(), REPO)
    assert cfg["sinks"]["clickhouse"]["dsn"] == "env:GRIDFLOW_CLICKHOUSE_DSN"
    assert "secret" not in str(cfg)
    assert dsn.resolve(cfg["sinks"]["clickhouse"]["dsn"]).startswith("http://u:secret@")
    assert dsn.redact(dsn.resolve(cfg["sinks"]["clickhouse"]["dsn"])) == "http://127.0.0.1:8123"
    assert dsn.redact("host=db user=me password='p w' dbname=x") == (
        "host=db user=*** password=*** dbname=x"
    )


def test_hrrr_runs_48_hours_at_synoptic_cycles():
    src = config.resolve(_base(), REPO)["sources"]["hrrr"]
    assert timetable.forecast_hours(src, datetime(2025, 3, 12, 6, tzinfo=UTC))[-1] == 48
    assert timetable.forecast_hours(src, datetime(2025, 3, 12, 7, tzinfo=UTC))[-1] == 18


def test_window_and_hours():
    assert timetable.parse_hours("0-6,9-15/3") == [0, 1, 2, 3, 4, 5, 6, 9, 12, 15]
    src = {"cycles": [0, 6, 12, 18], "window_hours": 12}
    cycles = timetable.cycles_in_window(src, datetime(2025, 3, 12, 13, tzinfo=UTC))
    assert [c.hour for c in cycles] == [6, 12]


@pytest.mark.parametrize(
    "given, said",
    [
        ("2025-13-45T00:00:00Z", "month must be in 1..12"),
        ("2025-03-12T24:00:00Z", "hour must be in 0..23"),
        ("2025-03-12", "is not a time of the form"),
        ("2025-03-12T06:00:00", "is not a time of the form"),
        ("2025-03-12T06:00:00+02:00", "is not a time of the form"),
        ("yesterday", "is not a time of the form"),
    ],
)
def test_one_clock_parser_names_the_value_and_the_form(given, said):
    """Item 8: whatever the place (a config file, --config now=..., --now), one parser; what
    it refuses is named with the form it takes."""
    with pytest.raises(config.ClockError) as err:
        config.parse_clock(given)
    assert repr(given) in str(err.value) and said in str(err.value)
    assert config.CLOCK_FORM in str(err.value)
    raw = _base()
    raw["now"] = given
    with pytest.raises(config.ConfigError) as err:
        config.resolve(raw, REPO)
    assert str(err.value).startswith("invalid configuration:\n  config.now: ")
    assert repr(given) in str(err.value) and "Traceback" not in str(err.value)


@pytest.mark.parametrize(
    "yaml_text",
    ["now: 2025-03-12", "now: 2025-03-12 06:00:00", "now: 2025-03-12T06:00:00+02:00"],
)
def test_what_yaml_makes_of_a_clock_is_held_to_the_same_form(yaml_text):
    """A date, a time without a zone, a time in another zone: YAML turns each into a Python
    value before gridflow sees it; each is refused as the text would be."""
    raw = config.deep_merge(_base(), yaml.safe_load(yaml_text))
    with pytest.raises(config.ClockError, match="config.now: .*(not a time|not UTC)"):
        config.resolve(raw, REPO)


@pytest.mark.parametrize(
    "given", ["2025-03-12T06:00:00Z", "2025-03-12T06:00Z", "now: 2025-03-12T06:00:00Z"]
)
def test_the_clock_in_its_form_is_the_same_time_everywhere(given):
    value = yaml.safe_load(given)["now"] if given.startswith("now:") else given
    assert config.parse_clock(value) == datetime(2025, 3, 12, 6, tzinfo=UTC)
    assert config.resolve({**_base(), "now": value}, REPO)["now"] == "2025-03-12T06:00:00Z"


def test_a_sources_own_load_checks_are_checked_against_the_shared_schema():
    """A source's `validate` block refers to the schema's shared definition: a right one loads,
    a wrong one is named (it once failed as an internal error, the reference left dangling)."""
    right = {"sources": {"gfs": {"validate": {"bounds": {"PRMSL": [1, 2000000]}}}}}
    cfg = config.resolve(config.deep_merge(_base(), right), REPO)
    assert cfg["sources"]["gfs"]["validate"]["bounds"]["PRMSL"] == [1, 2000000]
    wrong = {"sources": {"gfs": {"validate": {"PRMSL": {"min": 1}}}}}
    with pytest.raises(config.ConfigError) as err:
        config.resolve(config.deep_merge(_base(), wrong), REPO)
    assert "config.sources.gfs.validate" in str(err.value) and "PRMSL" in str(err.value)
