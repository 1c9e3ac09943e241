"""Two fields of one file never share an identity: descriptors (constituent, ensemble member,
probability, aerosol type and wavelength) tell them apart, in the inventory and in grid_data."""

from __future__ import annotations

import json
import subprocess

import eccodes
import numpy as np
import pytest

from gridflow import inventory
from gridflow.errors import ShredError
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import read_rows, shred
from gridflow.sinks import clickhouse

GFS = "gfs.t12z.pgrbf120.2p5deg.grib2"


def _shred(raw, tmp_path):
    idx = tmp_path / "x.idx"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    sidecar = tmp_path / "x.json"
    meta = {"source": "t", "run_id": "r1", "raw_key": "raw/x", "format": "grib2"}
    sidecar.write_text(json.dumps(meta))
    out = tmp_path / "x.parquet"
    shred(raw, idx, sidecar, out)
    return idx, read_rows(out)


def _eccodes_values(raw) -> list[np.ndarray]:
    out = []
    with open(raw, "rb") as fh:
        while (h := eccodes.codes_grib_new_from_file(fh)) is not None:
            eccodes.codes_set(h, "missingValue", 9.0e36)
            out.append(eccodes.codes_get_values(h).astype(np.float32))
            eccodes.codes_release(h)
    return out


def _by_descriptor(table) -> dict[str, np.ndarray]:
    frame = table.select(["descriptor", "lat", "lon", "value"]).to_pandas()
    frame["descriptor"] = frame["descriptor"].astype(str)
    return {d: g["value"].to_numpy() for d, g in frame.groupby("descriptor", sort=False)}


def test_cams_constituents_are_three_fields_equal_to_eccodes(samples, tmp_path):
    raw = samples / "chem-cams.grib"
    idx, table = _shred(raw, tmp_path)
    assert [line.split(":")[-2] for line in idx.read_text().splitlines()] == [
        "chemical=Carbon monoxide",
        "chemical=Formaldehyde",
        "chemical=Ozone",
    ]
    fields = _by_descriptor(table)
    assert list(fields) == [
        "chemical=Carbon monoxide",
        "chemical=Formaldehyde",
        "chemical=Ozone",
    ]
    for got, want in zip(fields.values(), _eccodes_values(raw), strict=True):
        assert np.array_equal(got, want)


def _variant(template: int, **keys):
    return template, keys


# fields that differ only in one product-definition descriptor
VARIANTS = [
    _variant(1, typeOfEnsembleForecast=3, perturbationNumber=1, numberOfForecastsInEnsemble=30),
    _variant(1, typeOfEnsembleForecast=3, perturbationNumber=2, numberOfForecastsInEnsemble=30),
    _variant(5, probabilityType=1, scaleFactorOfUpperLimit=1, scaledValueOfUpperLimit=25),
    _variant(5, probabilityType=1, scaleFactorOfUpperLimit=1, scaledValueOfUpperLimit=50),
    *(
        _variant(
            48,
            aerosolType=kind,
            typeOfSizeInterval=255,
            typeOfWavelengthInterval=7,
            scaleFactorOfFirstWavelength=9,
            scaledValueOfFirstWavelength=low,
            scaleFactorOfSecondWavelength=9,
            scaledValueOfSecondWavelength=low + 20,
        )
        for kind, low in ((62001, 545), (62006, 545), (62006, 1620))
    ),
]


@pytest.fixture
def variants(samples, tmp_path):
    """A file built with eccodes from a real GFS message: seven fields of one variable, level
    and lead, each with its own values."""
    with open(samples / GFS, "rb") as fh:
        base = eccodes.codes_grib_new_from_file(fh)
    raw = tmp_path / "variants.grib2"
    with open(raw, "wb") as out:
        for k, (template, keys) in enumerate(VARIANTS):
            h = eccodes.codes_clone(base)
            eccodes.codes_set(h, "productDefinitionTemplateNumber", template)
            for key, value in keys.items():
                eccodes.codes_set(h, key, value)
            eccodes.codes_set_values(h, eccodes.codes_get_values(h) + 100.0 * k)
            out.write(eccodes.codes_get_message(h))
            eccodes.codes_release(h)
    eccodes.codes_release(base)
    return raw


def test_fields_differing_only_in_a_descriptor_stay_apart(variants, tmp_path):
    idx, table = _shred(variants, tmp_path)
    lines = idx.read_text().splitlines()
    assert len({line.split(":", 3)[3] for line in lines}) == len(VARIANTS)
    fields = _by_descriptor(table)
    assert list(fields) == [
        "ENS=+1",
        "ENS=+2",
        "prob >2.5",
        "prob >5",
        "aerosol=62001:aerosol_wavelength >=5.45e-07,<=5.65e-07",
        "aerosol=62006:aerosol_wavelength >=5.45e-07,<=5.65e-07",
        "aerosol=62006:aerosol_wavelength >=1.62e-06,<=1.64e-06",
    ]
    for got, want in zip(fields.values(), _eccodes_values(variants), strict=True):
        assert np.array_equal(got, want)


def test_constituents_eccodes_cannot_name_keep_their_code(samples, tmp_path):
    """CAMS Europe's PM2.5 and PM10 (mass density, constituents 40009 and 40008)."""
    with open(samples / "chem-cams.grib", "rb") as fh:
        base = eccodes.codes_grib_new_from_file(fh)
    raw = tmp_path / "pm.grib2"
    with open(raw, "wb") as out:
        for constituent in (40009, 40008, 5):
            h = eccodes.codes_clone(base)
            for key, value in (("parameterCategory", 20), ("parameterNumber", 0)):
                eccodes.codes_set(h, key, value)
            eccodes.codes_set(h, "constituentType", constituent)
            out.write(eccodes.codes_get_message(h))
            eccodes.codes_release(h)
    eccodes.codes_release(base)
    _, table = _shred(raw, tmp_path)
    assert list(_by_descriptor(table)) == [
        "chemical=40009",
        "chemical=40008",
        "chemical=Nitrogen dioxide",
    ]


def test_cells_are_chosen_and_named_with_their_descriptor(samples):
    from gridflow.formats.grib import cells

    raw = samples / "chem-cams.grib"
    thresholds = {"MASSMR:chemical=Ozone": [1e-8, 2e-8, 3e-8, 4e-8]}
    chosen = list(cells.file_cells(raw, build_inventory(raw), list(thresholds), thresholds))
    assert [c.variable for c in chosen] == ["MASSMR:chemical=Ozone"]
    assert set(chosen[0].severity.tolist()) <= {0, 1, 2, 3, 4} and len(chosen[0].value) == 84


def test_point_query_names_each_field_and_chooses_one(samples, tmp_path):
    raw = samples / "chem-cams.grib"
    _, table = _shred(raw, tmp_path)
    dsn = f"chdb://{tmp_path}/store"
    client = clickhouse.connect(dsn)
    clickhouse.migrate(client, samples.parent / "migrations" / "clickhouse")
    clickhouse.load(client, tmp_path / "x.parquet", "t", "raw/x")
    client.close()
    lat, lon = float(table["lat"][0].as_py()), float(table["lon"][0].as_py())
    place = ["--source", "t", "--variable", "MASSMR", "--level", "1 hybrid level"]
    place += ["--lat", str(lat), "--lon", str(lon), "--dsn", dsn]
    every = subprocess.run(["gridflow", "point", *place], capture_output=True, text=True)
    assert every.returncode == 0, every.stderr
    rows = [json.loads(line) for line in every.stdout.splitlines()]
    assert [r["descriptor"] for r in rows] == [
        "chemical=Carbon monoxide",
        "chemical=Formaldehyde",
        "chemical=Ozone",
    ]
    ozone = subprocess.run(
        ["gridflow", "point", *place, "--descriptor", "chemical=Ozone"],
        capture_output=True,
        text=True,
    )
    assert [json.loads(line)["value"] for line in ozone.stdout.splitlines()] == [rows[2]["value"]]


def test_two_fields_with_one_identity_fail_naming_both(samples, tmp_path):
    with open(samples / GFS, "rb") as fh:
        h = eccodes.codes_grib_new_from_file(fh)
        message = eccodes.codes_get_message(h)
        eccodes.codes_release(h)
    raw = tmp_path / "twice.grib2"
    raw.write_bytes(message + message)
    with pytest.raises(ShredError, match=r"fields '1:0:.*' and '2:\d+:.*' share one identity"):
        _shred(raw, tmp_path)
    assert not (tmp_path / "x.parquet").exists()


def _edited(samples, tmp_path, name, **keys):
    with open(samples / name, "rb") as fh:
        h = eccodes.codes_grib_new_from_file(fh)
    for key, value in keys.items():
        eccodes.codes_set(h, key, value)
    raw = tmp_path / "edited.grib2"
    raw.write_bytes(eccodes.codes_get_message(h))
    eccodes.codes_release(h)
    return raw


def test_an_unset_forecast_time_takes_the_end_of_its_period(samples, tmp_path):
    """NOAA AQM daily maxima leave forecastTime all ones (-2147483647): the period's own end
    places the field instead of overflowing a date."""
    raw = _edited(samples, tmp_path, "aqm.t12z.ave_1hr_pm25-PMTF.grib2", forecastTime=-2147483647)
    idx, table = _shred(raw, tmp_path)
    assert ":0-1 hour ave fcst:" in idx.read_text()
    assert set(table["step"].to_pylist()) == {60}


def test_a_grid_eccodes_cannot_place_is_one_clear_error(samples, tmp_path):
    """A RAP native grid (NCEP rotated lat/lon, template 32769): eccodes has no coordinates."""
    raw = _edited(
        samples, tmp_path, "aqm.t12z.ave_1hr_pm25-PMTF.grib2", gridDefinitionTemplateNumber=32769
    )
    with pytest.raises(ShredError, match="grid definition template 32769 .*cannot compute"):
        _shred(raw, tmp_path)
