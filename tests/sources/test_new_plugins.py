"""A new format and a new family touch no gridflow file: a package outside gridflow (written here
into a temporary folder, as another project would install it) registers a CSV format of station
observations and a family of hourly station files under the entry point groups, and gridflow
finds them, validates the family's YAML, plans its files, fetches one and shreds it into
`grid_data` rows, through its own pipeline modules."""

from __future__ import annotations

import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

import gridflow
from gridflow import formats, paths, sources
from gridflow.config import loading as config
from gridflow.errors import FetchError
from gridflow.pipeline import fetch, fetch_job, shred, wildcards
from gridflow.pipeline import plan as gfplan

FORMAT_MODULE = '''
"""Station observations as CSV, one row per station and variable: each (variable, time) is a
field of `grid_data`, its points the stations."""

import csv
from datetime import UTC, datetime

import numpy as np

from gridflow import inventory, rows
from gridflow.errors import FetchError, ShredError
from gridflow.formats.base import Fetched, FieldRows, Format
from gridflow.formats.sniff import looks_like

HEADER = ["station", "lat", "lon", "time", "variable", "value"]


def _fields(path, origin, error):
    """{(variable, time): [(lat, lon, value), ...]} in the file's order."""
    with open(path, newline="") as fh:
        lines = list(csv.reader(fh))
    if not lines or lines[0] != HEADER:
        raise error(f"{origin}: not a station CSV: {looks_like(path.read_bytes()[:64])}")
    found = {}
    for n, (_, lat, lon, time, variable, value) in enumerate(lines[1:], start=2):
        try:
            when = datetime.strptime(time, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
            point = (float(lat), float(lon), float(value) if value else np.nan)
        except ValueError as exc:
            raise error(f"{origin}: line {n}: {exc}") from None
        found.setdefault((variable, when), []).append(point)
    return found


class StationCsv(Format):
    name = "station_csv"
    extension = "csv"
    table = rows.GRID
    media_types = ("text/csv",)

    def inspect(self, path, origin):
        found = _fields(path, origin, FetchError)
        entries = [
            inventory.IdxEntry(
                str(n), 0, f"d={when:%Y%m%d%H}", variable, "surface", "obs",
                (f"at={when:%Y%m%d%H%M}", f"stations={len(points)}"),
            )
            for n, ((variable, when), points) in enumerate(found.items(), start=1)
        ]
        return Fetched(entries, len(entries), [(0, path.stat().st_size)])

    def fields(self, raw, entries, options):
        found = _fields(raw, str(raw), ShredError)
        for entry in entries:
            when = datetime.strptime(entry.extra[0], "at=%Y%m%d%H%M").replace(tzinfo=UTC)
            lat, lon, value = np.array(found[(entry.variable, when)]).T
            table = rows.points(lat, lon, value, np.isnan(value))
            identity = (entry.variable, "surface", "obs", "", when, 0)
            yield FieldRows(entry.line(), identity, table)


FORMAT = StationCsv
'''

FAMILY_MODULE = '''
"""Hourly station files, `key` with the hour filled in, each published `publish_delay_minutes`
after its hour."""

import posixpath
from datetime import timedelta

from gridflow.sources.base import Family
from gridflow.sources.targets import Target


class StationHours(Family):
    name = "station_hours"
    format = "station_csv"
    defaults = {"anonymous": True, "select": "all", "publish_delay_minutes": 10}
    schema = {
        "properties": {
            "key": {"type": "string", "minLength": 1},
            "publish_delay_minutes": {"type": "number", "minimum": 0},
        },
        "required": ["key"],
    }
    steps = ["obs"]  # one file an hour: its one product

    def key(self, cycle, step):
        return self.src["key"].format(cycle=cycle)

    def window(self, now, lister):
        ready, waiting, hour = [], [], now.replace(minute=0, second=0, microsecond=0)
        for back in range(self.src["window_hours"]):
            r, w = self.cycle(hour - timedelta(hours=back), now, lister)
            ready, waiting = ready + r, waiting + w
        return sorted(ready, key=lambda t: t.cycle), sorted(waiting, key=lambda t: t.cycle)

    def cycle(self, cycle, now, lister):
        at = cycle + timedelta(minutes=self.src["publish_delay_minutes"])
        if at > now:
            return [], [Target(self.name, cycle, "obs", at, "not due yet")]
        key = self.key(cycle, "obs")
        info = lister.present([key], posixpath.dirname(key)).get(key)
        if info is None or not lister.settled(info):
            return [], [Target(self.name, cycle, "obs", at, "late: not listed yet")]
        return [Target(self.name, cycle, "obs", at)], []


FAMILY = StationHours
'''

ENTRY_POINTS = """\
[gridflow.formats]
station_csv = csvobs_plugin.format:StationCsv

[gridflow.families]
station_hours = csvobs_plugin.family:StationHours
"""

SOURCE_YAML = """\
# Hourly station observations (a sketch: no such source ships with gridflow)
family: station_hours
url: file://{bucket}
key: "{{cycle:%Y%m%d}}/{{cycle:%H}}.csv"
window_hours: 3
retention_hours: 24
"""

CSV = """\
station,lat,lon,time,variable,value
KPHX,33.43,-112.02,2025-03-12T06:00Z,TMP,291.5
KTUS,32.13,-110.96,2025-03-12T06:00Z,TMP,289.0
KPHX,33.43,-112.02,2025-03-12T06:00Z,RH,23
KTUS,32.13,-110.96,2025-03-12T06:00Z,RH,
"""

NOW = datetime(2025, 3, 12, 7, 5, tzinfo=UTC)
HOUR = datetime(2025, 3, 12, 6, tzinfo=UTC)


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The package `csvobs_plugin`, installed (as pip would leave it) in a folder of its own."""
    site = tmp_path / "site"
    package = site / "csvobs_plugin"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Station CSV for gridflow."""\n')
    (package / "format.py").write_text(textwrap.dedent(FORMAT_MODULE).lstrip())
    (package / "family.py").write_text(textwrap.dedent(FAMILY_MODULE).lstrip())
    info = site / "csvobs_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: csvobs-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    formats.registry.cache_clear()
    sources.registry.cache_clear()
    yield site
    formats.registry.cache_clear()  # the next test sees gridflow's own plug-ins only
    sources.registry.cache_clear()
    for name in [m for m in sys.modules if m.split(".")[0] == "csvobs_plugin"]:
        del sys.modules[name]


@pytest.fixture
def project(tmp_path, plugin):
    """A project folder with the source's YAML, and upstream's folder with one published hour."""
    bucket = tmp_path / "bucket"
    (bucket / "20250312").mkdir(parents=True)
    (bucket / "20250312/06.csv").write_text(CSV)
    (tmp_path / "config/sources").mkdir(parents=True)
    (tmp_path / "config/sources/stations.yaml").write_text(SOURCE_YAML.format(bucket=bucket))
    return tmp_path


def resolved(project: Path, **source) -> dict:
    raw = {"data_root": str(project / "data"), "sources_enabled": ["stations"]}
    raw |= {"fetch": {"settle_seconds": 0}, "sinks": {}, "sources": {"stations": source}}
    return config.resolve(raw, project)


def test_gridflow_finds_a_format_and_a_family_it_does_not_hold(plugin):
    fmt, family = formats.registry()["station_csv"], sources.family_class("station_hours")
    for plug_in in (fmt, family):
        where = Path(sys.modules[plug_in.__module__].__file__)
        assert where.is_relative_to(plugin)
        assert not where.is_relative_to(Path(gridflow.__file__).parent)
    assert "csv" in formats.extensions()


def test_the_familys_yaml_is_validated_with_its_own_schema(project):
    src = resolved(project)["sources"]["stations"]
    assert src["publish_delay_minutes"] == 10  # the family's default, under the YAML
    with pytest.raises(config.ConfigError, match="publish_delay_minutes"):
        resolved(project, publish_delay_minutes=-5)


def test_a_published_hour_is_planned_fetched_and_shredded_into_grid_rows(project):
    cfg = resolved(project)
    planned = gfplan.plan(cfg, NOW)
    assert [(t.cycle, t.step) for t in planned.ready] == [(HOUR, "obs")]
    assert [t.why for t in planned.waiting] == ["late: not listed yet", "not due yet"]

    family = sources.source("stations", cfg)
    checked = wildcards.check(cfg, "stations", "2025031206", "obs", "csv")
    assert (checked.cycle, checked.step) == (HOUR, "obs")
    names = dict(root=cfg["data_root"], source="stations", cycle="2025031206", step="obs")
    raw, idx, sidecar = (Path(p.format(**names, fmt="csv")) for p in paths.STEP_OUTPUTS[:3])
    spec = family.fetch_spec(HOUR, "obs", paths.raw_key("stations", HOUR, "obs", "csv"))
    where = fetch_job.Operating.from_dict(family.operating(cfg["fetch"]))
    made = fetch.fetch(fetch_job.FetchSpec(**spec), where, raw, idx, sidecar)
    assert (made.format, made.fields) == ("station_csv", 2)

    out = Path(paths.SHRED.format(**names))
    options = shred.ShredOptions.from_source(family.shred_options("obs"))
    # rows are the points with a value; the station without RH is a point of the grid
    assert shred.shred(raw, idx, sidecar, out, options) == shred.ShredStats(fields=2, rows=3)
    stored = shred.read_rows(out, with_missing=True).to_pylist()
    assert {(r["variable"], round(r["lat"], 2), r["value"]) for r in stored} == {
        ("TMP", 33.43, 291.5),
        ("TMP", 32.13, 289.0),
        ("RH", 33.43, 23.0),
        ("RH", 32.13, None),
    }
    assert {(r["ref_time"], r["raw_key"]) for r in stored} == {(HOUR, spec["raw_key"])}


def test_a_page_that_is_not_station_csv_is_refused_at_fetch(project):
    (project / "bucket/20250312/06.csv").write_text("<html>503 Service Unavailable</html>")
    cfg = resolved(project)
    family = sources.source("stations", cfg)
    spec = fetch_job.FetchSpec(**family.fetch_spec(HOUR, "obs", "r.csv"))
    where = fetch_job.Operating.from_dict(family.operating(cfg["fetch"]))
    raw = project / "raw.csv"
    with pytest.raises(FetchError, match="not a station CSV: an HTML page"):
        fetch.fetch(spec, where, raw, project / "raw.csv.idx", project / "raw.csv.json")
    assert not raw.exists()
