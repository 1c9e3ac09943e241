"""Place queries answer only where a grid is, for the times asked, in one line when they cannot;
reading commands create nothing; times come back as times. A real chDB store holding real
grids of every kind the store keeps: global and regional latitude/longitude (GFS 0.25, ERA5 UK),
Lambert (HRRR, cut by a bbox), the geostationary disk (GOES-16 full disk, mesoscale sector), a
thinned CONUS mosaic (MRMS, stride and bbox) and CAMS fields told apart by descriptor."""

from __future__ import annotations

import contextlib
import gzip
import json
import math
import random
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from tests_support import REPO, gridflow

from gridflow import formats, inventory
from gridflow.cli import main as cli
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import ShredOptions, shred
from gridflow.query import grids as query
from gridflow.sinks import clickhouse

RRQPE = "OR_ABI-L2-RRQPEF-M6_G16_s20230761510209_e20230761519517_c20230761520040.nc"
CMIPM = "OR_ABI-L2-CMIPM1-M3C01_G16_s20171931811268_e20171931811326_c20171931811382.nc"
MRMS = "MRMS_ReflectivityAtLowestAltitude_00.50_20230406-120039.grib2.gz"
PHOENIX_BOX = (-115.0, 31.0, -109.0, 36.0)

# source: (sample, format, shred options, (variable, level) for ABI files)
GRIDS = {
    "gfs": ("gfs.complex.grib2", "grib2", ShredOptions(), None),
    "era5": ("era5-2mt-2019-03-uk-week1.grib", "grib2", ShredOptions(), None),
    "hrrr": ("hrrr.t06z.wrfsfcf01-TMP.grib2", "grib2", ShredOptions(bbox=PHOENIX_BOX), None),
    "mrms": (MRMS, "grib2", ShredOptions((-999, -99), PHOENIX_BOX, 4), None),
    "goes16": (RRQPE, "abi_netcdf", ShredOptions(stride=8), ("RRQPE", "surface")),
    "goesm": (CMIPM, "abi_netcdf", ShredOptions(stride=4), ("CMI", "band 1")),
    "cams": ("chem-cams.grib", "grib2", ShredOptions(), None),
}

BERLIN, CAPE_TOWN = (52.52, 13.40), (-33.92, 18.42)


def _load(client, samples: Path, tmp: Path, source: str) -> None:
    name, fmt, options, abi = GRIDS[source]
    raw = tmp / f"{source}.raw"
    if name.endswith(".gz"):
        with gzip.open(samples / name) as packed, open(raw, "wb") as out:
            shutil.copyfileobj(packed, out)
    else:
        shutil.copyfile(samples / name, raw)
    if fmt == "grib2":
        entries = build_inventory(raw)
    elif abi:
        entries = [inventory.IdxEntry("1", 0, "d=2023031715", *abi, "anl")]
    else:
        entries = formats.get(fmt).inspect(raw, str(raw)).entries
    (tmp / f"{source}.idx").write_text(inventory.format_lines(entries))
    meta = {"source": source, "run_id": f"r-{source}", "raw_key": f"raw/{source}", "format": fmt}
    (tmp / f"{source}.json").write_text(json.dumps(meta))
    out = tmp / f"{source}.parquet"
    shred(raw, tmp / f"{source}.idx", tmp / f"{source}.json", out, options)
    clickhouse.load(client, out, source, f"raw/{source}")


@pytest.fixture(scope="module")
def root(tmp_path_factory, samples) -> Path:
    """A data root whose embedded store holds every grid of GRIDS."""
    tmp = tmp_path_factory.mktemp("grids")
    with _client(f"chdb://{tmp}/root/clickhouse", create=True) as client:
        clickhouse.migrate(client, REPO / "migrations" / "clickhouse")
        for source in GRIDS:
            _load(client, samples, tmp, source)
    return tmp / "root"


@pytest.fixture(scope="module")
def dsn(root) -> str:
    return f"chdb://{root}/clickhouse"


@contextlib.contextmanager
def _client(dsn: str, create: bool = False):
    client = clickhouse.connect(dsn, create=create)
    try:
        yield client
    finally:
        client.close()  # one process per store: the commands below open it themselves


def _field(client, source: str) -> query.Field:
    variable, level = client.query(
        "SELECT variable, level FROM grid_data WHERE source = %(s)s LIMIT 1",
        parameters={"s": source},
    ).result_rows[0]
    return query.Field(source, variable, level)


def _named(dsn: str, source: str) -> list[str]:
    """--source, --variable and --level of the source's field, as the store names it."""
    with _client(dsn) as client:
        field = _field(client, source)
    return ["--source", source, "--variable", field.variable, "--level", field.level]


def _main(capsys, *args) -> tuple[int, str, str]:
    """gridflow's main in this process (what needs no second process): exit code, output,
    and errors."""
    capsys.readouterr()
    try:
        cli.main([*args])
        code = 0
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


def _reach(client, field: query.Field, lat: float, lon: float):
    point = query.nearest_point(client, field, lat, lon)
    return query.reach(client, lat, lon, point)


def _one_line(result: subprocess.CompletedProcess, command: str) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"gridflow {command}: error: "), result.stderr
    return lines[0]


FAR = [
    ("mrms", *BERLIN),
    ("hrrr", *CAPE_TOWN),
    ("hrrr", *BERLIN),
    ("goes16", *BERLIN),  # off the disk GOES-16 sees from 75.2 W
    ("goes16", 0.0, 100.0),
    ("goesm", -3.1, -60.0),  # a mesoscale sector over the United States
    ("era5", *BERLIN),
    ("era5", 49.0, -4.0),  # 1 degree (4 cells) south of the UK box
    ("era5", 54.0, 3.0),  # 1 degree east of it
    ("mrms", 33.0, -108.0),  # 1 degree east of the bbox the source loads
]


def test_places_off_the_grid_are_refused(dsn):
    with _client(dsn) as client:
        for source, lat, lon in FAR:
            field = _field(client, source)
            with pytest.raises(query.OutsideGrid) as refused:
                query.series(client, field, lat, lon)
            said = str(refused.value)
            assert f"outside the grid of {source} (nearest point " in said, said
            far = float(said.split("nearest point ")[1].split(" km")[0].replace(",", ""))
            assert far > 50, said


def _cell_centres(lats, lons, step):
    return [(lat + step / 2, lon + step / 2) for lat in lats for lon in lons]


def test_every_place_on_a_grid_is_answered(dsn):
    """The worst place of a cell is its centre; near the pole a latitude/longitude cell is
    hundreds of times wider than tall, and the disk's limb stretches pixels."""
    rng = random.Random(24)
    on = {
        # the whole globe, the poles, the antimeridian, and cell centres at every latitude
        "gfs": [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(8)]
        + [(90.0, 18.4), (89.875, 18.4), (89.99, -179.99), (-89.9, 0.1), (0.1, 179.99)]
        + [(0.0, -180.0), (-0.125, -179.875)]
        + _cell_centres([-89.75, -60.0, 0.0, 80.0, 88.0, 89.5], [-180.0], 0.25),
        "era5": _cell_centres([50.0, 57.75], [-10.0, 1.75], 0.25)
        + [(49.95, -4.0), (58.05, 2.05)],  # just past the edge, less than a cell
        "hrrr": [(rng.uniform(31.2, 35.8), rng.uniform(-114.8, -109.2)) for _ in range(5)],
        "mrms": [(rng.uniform(31.1, 35.9), rng.uniform(-114.9, -109.1)) for _ in range(5)],
        "goes16": [(rng.uniform(-50, 50), rng.uniform(-120, -30)) for _ in range(5)]
        + [(-3.1, -60.0), (0.0, -75.2)],
        "cams": [(rng.uniform(-90, 90), rng.uniform(-180, 180)) for _ in range(3)],
    }
    with _client(dsn) as client:
        for source, places in on.items():
            field = _field(client, source)
            for lat, lon in places:
                found = _reach(client, field, lat, lon)
                assert found.on_grid, (source, lat, lon, found)
        # inside a regular grid, a place is at most half the allowance away (a cell's centre)
        gfs = _field(client, "gfs")
        for lat, lon in on["gfs"][8:]:
            found = _reach(client, gfs, lat, lon)
            assert found.distance_km <= found.spacing_km / math.sqrt(2) * 1.001, (lat, lon, found)
        assert query.series(client, gfs, 89.875, 18.4)


def test_the_spacing_is_the_grids_own(dsn):
    """0.25 degrees: 27.8 km north-south, and at 80 N only 4.8 km east-west; the spacing
    around a point is the longer side (or the diagonal), never the shorter."""
    with _client(dsn) as client:
        gfs = _field(client, "gfs")
        assert _reach(client, gfs, 0.0, 0.0).spacing_km == pytest.approx(27.8, rel=0.2)
        assert 27 < _reach(client, gfs, 80.0, 0.0).spacing_km < 29
        hrrr = _reach(client, _field(client, "hrrr"), 33.45, -112.07)
        assert 2.9 < hrrr.spacing_km < 4.3  # HRRR's 3 km cells, or their diagonal
        mrms = _reach(client, _field(client, "mrms"), 33.45, -112.07)
        assert 4.3 < mrms.spacing_km < 6.3  # 0.04 degrees (stride 4 of 0.01)


def test_commands_refuse_far_and_impossible_places_in_one_line(dsn, capsys):
    store = ["--dsn", dsn]
    mrms = ["--variable", "ReflectivityAtLowestAltitude", "--level", "500 m above mean sea level"]
    far = gridflow("latest", *store, "--source", "mrms", *mrms, "--lat", "52.52", "--lon", "13.4")
    assert far.returncode == 1 and far.stdout == ""
    assert "52.52, 13.4 is outside the grid of mrms (nearest point " in _one_line(far, "latest")
    era5 = [*store, *_named(dsn, "era5")]
    for lat, lon, says in (
        ("95", "0", "--lat 95 is not a latitude"),
        ("nan", "0", "--lat nan is not a latitude"),
        ("-90.5", "0", "--lat -90.5 is not a latitude"),
        ("52", "400", "--lon 400 is not a longitude"),
        ("52", "inf", "--lon inf is not a longitude"),
    ):
        code, out, err = _main(capsys, "point", *era5, "--lat", lat, "--lon", lon)
        assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err
    # 0-360 longitudes are the same places
    day = ["--lat", "52", "--end", "2019-03-01"]
    east, west = (_main(capsys, "point", *era5, *day, "--lon", lon) for lon in ("359", "-1"))
    assert east[0] == 0 and east == west and east[1]


def test_start_and_end_choose_valid_times(dsn, capsys):
    era5 = ["--dsn", dsn, *_named(dsn, "era5")]
    place = ["--lat", "51.5", "--lon", "-0.1"]

    def valid_times(*period):
        code, out, err = _main(capsys, "point", *era5, *place, *period)
        assert code == 0, err
        return [json.loads(line)["valid_time"] for line in out.splitlines()]

    assert len(valid_times()) == 168  # a week, hourly
    day = valid_times("--start", "2019-03-02", "--end", "2019-03-02")
    assert len(day) == 24 and {t[:10] for t in day} == {"2019-03-02"}
    assert valid_times("--start", "2019-03-03T06:00Z", "--end", "2019-03-03T08:00:00Z") == [
        "2019-03-03T06:00:00Z",
        "2019-03-03T07:00:00Z",
        "2019-03-03T08:00:00Z",
    ]
    assert valid_times("--start", "2019-03-07T22:00:00+00:00") == [
        "2019-03-07T22:00:00Z",
        "2019-03-07T23:00:00Z",
    ]
    code, out, err = _main(capsys, "latest", *era5, *place, "--end", "2019-03-04T12:00Z")
    assert json.loads(out)["valid_time"] == "2019-03-04T12:00:00Z"
    for period, says in (
        (["--start", "2030-01-01"], "no values of source=era5 variable="),
        (["--start", "2019-03-03", "--end", "2019-03-02"], "--end 2019-03-02 is before --start"),
        (["--start", "yesterday"], "--start 'yesterday' is neither a day"),
    ):
        code, out, err = _main(capsys, "point", *era5, *place, *period)
        assert code == 2 and out == "" and err.count("\n") == 1 and says in err, err
    later = gridflow("point", *era5, *place, "--start", "2030-01-01")  # as a user sees it
    assert later.returncode == 2 and "no values of source=era5" in _one_line(later, "point")


def test_an_unknown_descriptor_is_named_with_the_fields_own(dsn, capsys):
    cams = ["--dsn", dsn, *_named(dsn, "cams")]
    code, out, said = _main(
        capsys, "point", *cams, "--lat", "48.8", "--lon", "2.3", "--descriptor", "O3"
    )
    assert code == 2 and out == "" and said.count("\n") == 1
    assert "has --descriptor 'O3'" in said
    for name in ("chemical=Carbon monoxide", "chemical=Formaldehyde", "chemical=Ozone"):
        assert repr(name) in said


def test_a_hint_runs_as_shown_and_reading_creates_nothing(root, tmp_path, capsys, monkeypatch):
    """The hint carries the --configfile and --project given; run as printed, from a folder
    that is not the project, it reads the same store and leaves the folder empty."""
    (tmp_path / "mine.yaml").write_text(f"data_root: {root}\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    given = ["--project", str(REPO), "--configfile", "../mine.yaml"]
    missing = ["--source", "era5", "--variable", "NOPE", "--level", "surface"]
    code, _, said = _main(capsys, "point", *given, *missing, "--lat", "51.5", "--lon", "0")
    assert code == 2 and said.count("\n") == 1
    hint = said.split("`")[1]
    assert hint.startswith("gridflow sql ") and "--configfile ../mine.yaml" in hint
    code, listed, err = _main(capsys, *shlex.split(hint)[1:])
    assert code == 0, err
    _, _, _, variable, _, level = _named(f"chdb://{root}/clickhouse", "era5")
    assert {"source": "era5", "variable": variable, "level": level} in [
        {k: v for k, v in json.loads(line).items() if k != "descriptor"}
        for line in listed.splitlines()
    ]
    # a store that does not exist: one line, and no folder made for it, here or there
    (tmp_path / "none.yaml").write_text(f"data_root: {tmp_path / 'nothing'}\n")
    for command in (
        ["point", *missing, "--lat", "1", "--lon", "2"],
        ["latest", *missing, "--lat", "1", "--lon", "2"],
        ["sql", "SELECT 1"],
        ["verify"],
    ):
        args = [command[0], "--project", str(REPO), "--configfile", "../none.yaml", *command[1:]]
        code, _, said = _main(capsys, *args)
        assert code == 3 and said.count("\n") == 1, said
        assert f"no store at {tmp_path / 'nothing' / 'clickhouse'}: run the workflow" in said
    assert list(cwd.iterdir()) == [] and not (tmp_path / "nothing").exists()
    bare = gridflow("sql", "--dsn", f"chdb://{tmp_path}/gone", "SELECT 1", cwd=cwd)
    assert bare.returncode == 3 and "no store at" in _one_line(bare, "sql")
    assert not (tmp_path / "gone").exists() and list(cwd.iterdir()) == []


def test_a_busy_store_is_one_line(dsn):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import clickhouse_connect, time\n"
            f"c = clickhouse_connect.get_client(dsn={dsn!r})\n"
            "print('held', flush=True)\ntime.sleep(8)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        busy = gridflow("sql", "--dsn", dsn, "--wait", "1", "SELECT 1")
    finally:
        holder.kill()
        holder.wait()
    assert busy.returncode == 75
    assert "is in use by another process" in _one_line(busy, "sql")
    assert "Cannot lock file" not in busy.stderr


def test_a_closed_pipe_ends_quietly(dsn):
    shown = subprocess.run(
        [
            "bash",
            "-c",
            f"gridflow sql --dsn {shlex.quote(dsn)} 'SELECT number FROM numbers(300000)' "
            "| head -1; exit ${PIPESTATUS[0]}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode in (0, 141), shown.stderr
    assert shown.stderr == "" and shown.stdout == '{"number": 0}\n'


def test_times_arrive_as_times(dsn):
    """ref_time and valid_time through the query API: timezone-aware UTC in Arrow and pandas,
    the same instants `gridflow point` prints."""
    sql = (
        "SELECT ref_time, valid_time, value FROM grid_data WHERE source = %(s)s "
        "ORDER BY valid_time LIMIT 3"
    )
    with contextlib.closing(query.open_store(dsn)) as store:
        table = query.arrow(store, sql, {"s": "era5"})
        frame = query.dataframe(store, sql, {"s": "era5"})
        plain = query.arrow(store, "SELECT 1 AS one, toDate('2019-03-01') AS day")
    for name in ("ref_time", "valid_time"):
        assert table.schema.field(name).type == pa.timestamp("s", tz="UTC")
        assert str(frame[name].dtype) == "datetime64[s, UTC]"
    first = datetime(2019, 3, 1, tzinfo=UTC)
    assert table["valid_time"][0].as_py() == first
    assert frame["valid_time"][0].to_pydatetime() == first
    assert plain.schema.field("day").type == pa.date32()
    with contextlib.closing(query.open_store(dsn)) as store, pytest.raises(query.readonly.Refused):
        query.arrow(store, "SELECT 1 INTO OUTFILE '/tmp/never'")
    with pytest.raises(clickhouse.StoreMissing):
        query.open_store(f"chdb://{dsn[len('chdb://') :]}-none")


def test_values_print_as_the_store_keeps_them(dsn, capsys):
    """A value is the store's Float32 at its own precision (281.12, not 281.1199951171875),
    read back as the same Float32; places to 6 decimals, distances to 3 (gauges alike)."""
    import numpy as np

    era5 = ["--dsn", dsn, *_named(dsn, "era5"), "--lat", "51.5", "--lon", "-0.1"]
    code, out, err = _main(capsys, "point", *era5)
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 168
    for row in rows:
        assert repr(row["value"]) == str(np.float32(row["value"]))
        assert row["distance_km"] == round(row["distance_km"], 3)
        assert row["grid_lat"] == round(row["grid_lat"], 6)
    assert any(len(repr(r["value"])) < len(repr(float(np.float32(r["value"])))) for r in rows)


def test_a_source_nothing_knows_is_named(dsn, capsys):
    """Not in the configuration, no file under config/sources/, nothing of it stored; a
    source only in the store (loaded under another configuration) is still answered."""
    place = ["--lat", "51.5", "--lon", "-0.1"]
    for field in ([], ["--variable", "TMP", "--level", "surface"]):
        code, out, err = _main(capsys, "point", "--dsn", dsn, "--source", "gsf", *field, *place)
        assert code == 2 and out == ""
        assert err == "gridflow point: error: unknown source gsf (enabled: gfs, hrrr)\n"
    code, out, err = _main(capsys, "point", "--dsn", dsn, *_named(dsn, "era5"), *place)
    assert code == 0 and len(out.splitlines()) == 168, err
