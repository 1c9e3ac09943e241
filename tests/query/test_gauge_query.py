"""`gridflow point` on a gauge network: a place far from every gauge is refused as a place off a
grid is, an end before the start is a usage error, a source the configuration does not enable
(or does not know) is named, and rows print by the rule grid rows follow. A real chDB store
holding MCFCD's Aztec Park gauge (59700) and a few of its days."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
import yaml
from tests_support import REPO

from gridflow.cli import main as cli
from gridflow.query import gauges as gauge_query
from gridflow.sinks import clickhouse

AZTEC_PARK = {
    "gauge": 59700,
    "name": "Aztec Park",
    "former_ids": [4695],
    "lat": 33.61006,
    "lon": -111.86545,
    "elevation_ft": 1480.0,
    "city": "Scottsdale",
    "location": "Aztec Park",
    "station_type": "Precipitation",
    "remarks": "",
}
DAYS = {date(2022, 10, 1): 0.11811, date(2022, 10, 2): 0.0, date(2022, 10, 3): 0.03937}


@pytest.fixture(scope="module")
def gauges(tmp_path_factory) -> str:
    """A configuration enabling mcfcd whose store holds one gauge and three of its days."""
    tmp = tmp_path_factory.mktemp("gauges")
    client = clickhouse.connect(f"chdb://{tmp}/data/clickhouse", create=True)
    try:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        clickhouse.record_gauge(client, "mcfcd", AZTEC_PARK, "r-fopr")
        rows = [
            ["mcfcd", 59700, "daily", day, datetime(2022, 10, day.day, 7, tzinfo=UTC), inches]
            + ["", "fopr", "r-fopr", "raw/fopr"]
            for day, inches in DAYS.items()
        ]
        columns = ["source", "gauge", "kind", "day", "time", "inches", "flags", "origin"]
        client.insert("gauge_observations", rows, column_names=[*columns, "raw_file_id", "raw_key"])
    finally:
        client.close()
    cfg = tmp / "gauges.yaml"
    settings = {"data_root": str(tmp / "data"), "sources_enabled": ["mcfcd"]}
    cfg.write_text(yaml.safe_dump(settings))
    return str(cfg)


def _main(capsys, *args) -> tuple[int, list[dict], list[str]]:
    capsys.readouterr()
    try:
        cli.main(["point", "--project", str(REPO), *args])
        code = 0
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err.splitlines()


def test_a_place_far_from_every_gauge_is_outside_the_network(gauges, capsys):
    berlin = ["--source", "mcfcd", "--lat", "52.5", "--lon", "13.4"]
    code, rows, said = _main(capsys, "--configfile", gauges, *berlin)
    assert code == 1 and rows == [] and len(said) == 1
    assert "52.5, 13.4 is outside the gauge network of mcfcd (nearest gauge 59700" in said[0]
    assert f"a gauge answers within {gauge_query.REACH_KM:g} km" in said[0]
    # 20 km off still answers; 30 km off does not
    near = ["--source", "mcfcd", "--lat", "33.79", "--lon", "-111.86545"]
    assert _main(capsys, "--configfile", gauges, *near)[0] == 0
    far = ["--source", "mcfcd", "--lat", "33.88", "--lon", "-111.86545"]
    assert _main(capsys, "--configfile", gauges, *far)[0] == 1


def test_gauge_rows_print_by_the_grid_rows_rule(gauges, capsys):
    place = ["--source", "mcfcd", "--lat", "33.6", "--lon", "-111.87"]
    code, rows, said = _main(capsys, "--configfile", gauges, *place)
    assert code == 0, said
    assert [r["inches"] for r in rows] == list(DAYS.values())  # not 0.11811000108718872
    assert {r["distance_km"] for r in rows} == {1.195}  # a metre, as grid rows
    assert {(r["gauge_lat"], r["gauge_lon"]) for r in rows} == {(33.61006, -111.86545)}


def test_an_end_before_the_start_is_usage(gauges, capsys):
    place = ["--source", "mcfcd", "--lat", "33.6", "--lon", "-111.87"]
    period = ["--start", "2022-10-03", "--end", "2022-10-01"]
    code, rows, said = _main(capsys, "--configfile", gauges, *place, *period)
    assert code == 2 and rows == [] and len(said) == 1
    assert "--end 2022-10-01 is before --start 2022-10-03" in said[0]


def test_a_source_not_enabled_or_unknown_is_named(gauges, capsys):
    place = ["--lat", "33.6", "--lon", "-111.87"]
    # the project's own configuration enables gfs and hrrr, not the gauges
    code, _, said = _main(capsys, "--source", "mcfcd", *place)
    assert code == 2 and len(said) == 1
    assert "source mcfcd is not enabled in config/config.yaml (enabled: gfs, hrrr)" in said[0]
    capsys.readouterr()
    with pytest.raises(SystemExit) as trace:
        cli.main(["trace", "--project", str(REPO), "--source", "mcfcd", *place])
    assert trace.value.code == 2
    assert "source mcfcd is not enabled in config/config.yaml" in capsys.readouterr().err
    for field in ([], ["--variable", "TMP", "--level", "surface"]):
        code, _, said = _main(capsys, "--configfile", gauges, "--source", "gsf", *place, *field)
        assert code == 2 and said == ["gridflow point: error: unknown source gsf (enabled: mcfcd)"]
