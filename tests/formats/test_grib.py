"""Framing checks, wgrib2-style names and the shred, on the real sample files."""

from __future__ import annotations

import json

import eccodes
import numpy as np
import pyarrow.parquet as pq
import pytest

from gridflow import inventory
from gridflow.formats.grib.frames import FramingError, frames
from gridflow.formats.grib.geometry import coordinates
from gridflow.formats.grib.read import build_inventory
from gridflow.pipeline.shred import ShredOptions, read_rows, shred


def test_truncated_hrrr_is_detected(samples):
    data = (samples / "hrrr.t11z.wrfsfcf12.grib2").read_bytes()
    with pytest.raises(FramingError, match="truncated"):
        frames(data, "hrrr.t11z.wrfsfcf12.grib2")


def test_stray_bytes_between_messages_are_detected(samples):
    data = (samples / "subset_20201214_hrrr.t00z.wrfsfcf12.grib2").read_bytes()
    with pytest.raises(FramingError, match="stray bytes at offset 887243"):
        frames(data, "subset")


def test_names_match_noaa_inventory(samples):
    real = inventory.parse((samples / "gfswave.t18z.atlocn.0p16.f001.grib2.idx").read_text())
    built = build_inventory(samples / "gfswave.t18z.atlocn.0p16.f001.grib2")
    assert [e.line() for e in built] == [e.line() for e in real]


def test_names_of_common_fields(samples, tmp_path):
    hrrr = build_inventory(samples / "hrrr.t06z.wrfsfcf01-TMP.grib2")
    assert hrrr[0].search_text == ":d=2023072206:TMP:surface:1 hour fcst:"
    pv = build_inventory(samples / "gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2")
    assert pv[0].level == "PV=-2e-06 (Km^2/kg/s) surface"
    # the two APCP fields of the off-by-one subset, cut at their true boundaries
    data = (samples / "subset_20201214_hrrr.t00z.wrfsfcf12.grib2").read_bytes()
    fixed = tmp_path / "apcp.grib2"
    fixed.write_bytes(data[:887243] + data[887244:-1])
    assert [e.forecast for e in build_inventory(fixed)] == [
        "0-12 hour acc fcst",
        "11-12 hour acc fcst",
    ]


def test_multi_field_messages_are_all_listed(samples):
    entries = build_inventory(samples / "gfs.t12z.pgrbf120.2p5deg.grib2")
    assert len({e.offset for e in entries}) == 307
    assert len(entries) == 343


def _shred(samples, tmp_path, name, options=None):
    raw = samples / name
    idx = tmp_path / "x.idx"
    idx.write_text(inventory.format_lines(build_inventory(raw)))
    sidecar = tmp_path / "x.json"
    sidecar.write_text(
        json.dumps({"source": "test", "run_id": "r1", "raw_key": "raw/x", "format": "grib2"})
    )
    out = tmp_path / "x.parquet"
    stats = shred(raw, idx, sidecar, out, options or ShredOptions())
    return stats, out


def test_regular_grid_subsets_keep_the_points_a_full_decode_keeps(samples, tmp_path):
    """A bbox and stride on a regular grid pick points on its axes; they are the points (and
    coordinates) that filtering the fully decoded grid keeps."""
    name = "gfs.complex.grib2"  # 0.25 degree, 1440 x 721
    options = ShredOptions(bbox=(-20.0, 30.0, 40.5, 60.0), stride=3)
    _, out = _shred(samples, tmp_path, name, options)
    fast = read_rows(out, with_missing=True).select(["lat", "lon", "value"]).to_pandas()
    with open(samples / name, "rb") as fh:
        handle = eccodes.codes_grib_new_from_file(fh)
    lat, lon = coordinates(handle)
    values = eccodes.codes_get_values(handle)
    eccodes.codes_release(handle)
    grid = np.arange(len(lat)).reshape(721, 1440)[::3, ::3].ravel()
    keep = grid[(lat[grid] >= 30) & (lat[grid] <= 60) & (lon[grid] >= -20) & (lon[grid] <= 40.5)]
    assert len(fast) == len(keep) > 1000
    assert np.array_equal(fast["lat"].to_numpy(), lat[keep])
    assert np.array_equal(fast["lon"].to_numpy(), lon[keep])
    assert np.array_equal(fast["value"].to_numpy(), values[keep].astype(np.float32))


def test_shred_writes_every_field(samples, tmp_path):
    stats, out = _shred(samples, tmp_path, "gfs.t12z.pgrbf120.2p5deg.grib2")
    table = read_rows(out, with_missing=True)
    assert stats.fields == 343
    assert table.num_rows == 343 * 144 * 73
    fields = set(zip(table["variable"].to_pylist(), table["level"].to_pylist(), strict=True))
    assert ("TMP", "2 m above ground") in fields and len(fields) > 100
    assert pq.ParquetFile(out).metadata.num_row_groups == 4  # small fields share row groups


def test_in_band_missing_values_become_null(samples, tmp_path):
    _, out = _shred(samples, tmp_path, "gfs.t12z.pgrb2.0p25.f023-PV-TMP-missing.grib2")
    values = read_rows(out, with_missing=True).column("value")
    assert 0 < values.null_count < len(values)
    assert np.nanmax(values.to_numpy(zero_copy_only=False)) < 400  # no 9999 left in the data


def test_lambert_grid_gets_real_coordinates(samples, tmp_path):
    _, out = _shred(samples, tmp_path, "hrrr.t06z.wrfsfcf01-TMP.grib2")
    t = read_rows(out, with_missing=True)
    lat, lon = t.column("lat").to_numpy(), t.column("lon").to_numpy()
    # HRRR's first point (south-west corner) is 21.138N 122.72W
    assert abs(lat[0] - 21.138123) < 1e-4 and abs(lon[0] + 122.719528) < 1e-4
    assert -135 < lon.min() < lon.max() < -60 and 21 < lat.min() < lat.max() < 53


def test_failed_shred_leaves_no_output(samples, tmp_path):
    raw = samples / "gfs.complex.grib2"
    idx = tmp_path / "x.idx"
    idx.write_text(
        "1:0:d=2020102600:HGT:500 mb:24 hour fcst:\n2:0:d=2020102600:TMP:500 mb:24 hour fcst:\n"
    )  # claims a second field
    sidecar = tmp_path / "x.json"
    sidecar.write_text(
        json.dumps({"source": "t", "run_id": "r", "raw_key": "k", "format": "grib2"})
    )
    with pytest.raises(Exception, match="not decoded"):
        shred(raw, idx, sidecar, tmp_path / "x.parquet")
    assert not (tmp_path / "x.parquet").exists()
    assert list(tmp_path.glob("*.partial")) == []


def test_reference_time_keeps_its_seconds(samples, tmp_path):
    from datetime import UTC, datetime

    from devkit.grib_restamp import restamp

    scan = datetime(2023, 4, 6, 12, 0, 39, tzinfo=UTC)  # MRMS scans are stamped to the second
    (tmp_path / "s.grib2").write_bytes(
        restamp((samples / "gfs.complex.grib2").read_bytes(), scan, 0)
    )
    (tmp_path / "x.idx").write_text(inventory.format_lines(build_inventory(tmp_path / "s.grib2")))
    (tmp_path / "x.json").write_text(
        json.dumps({"source": "t", "run_id": "r", "raw_key": "k", "format": "grib2"})
    )
    shred(tmp_path / "s.grib2", tmp_path / "x.idx", tmp_path / "x.json", tmp_path / "s.parquet")
    ref = read_rows(tmp_path / "s.parquet").column("ref_time")[0]
    assert ref.as_py() == scan


def _first_message(path) -> bytes:
    with open(path, "rb") as fh:
        handle = eccodes.codes_grib_new_from_file(fh)
    try:
        return eccodes.codes_get_message(handle)
    finally:
        eccodes.codes_release(handle)


def _edited(message: bytes, **keys) -> bytes:
    """The message with some keys set (eccodes re-encodes what they touch)."""
    handle = eccodes.codes_new_from_message(message)
    try:
        for key, value in keys.items():
            eccodes.codes_set(handle, key, value)
        return eccodes.codes_get_message(handle)
    finally:
        eccodes.codes_release(handle)


def _names(tmp_path, *messages: bytes) -> list[str]:
    path = tmp_path / "m.grib"
    path.write_bytes(b"".join(messages))
    return [e.search_text for e in build_inventory(path)]


def test_grib1_fields_are_named_in_wgrib2_words(samples, tmp_path):
    """ERA5's GRIB1 messages get GRIB2's vocabulary: its own 2 m temperature, and the same
    real message relabelled as other ECMWF parameters, levels and periods."""
    era5 = _first_message(samples / "era5-2mt-2019-03-uk-3msg.grib")
    z500 = _edited(era5, paramId=129, typeOfLevel="isobaricInhPa", level=500)
    tp = _edited(era5, paramId=228, stepType="accum", stepRange="0-12")
    unknown = _edited(era5, indicatorOfParameter=254, table2Version=210)
    member = _edited(era5, marsType="pf", marsStream="enfo", number=5)
    assert _names(tmp_path, era5, z500, tp, unknown, member) == [
        ":d=2019030100:TMP:2 m above ground:anl:",  # was 2t:surface 0 (and ENS=0)
        ":d=2019030100:GP:500 mb:anl:",  # geopotential (m2 s-2), not HGT (gpm)
        ":d=2019030100:tp:surface:0-12 hour acc fcst:",  # ECMWF's own, in metres
        ":d=2019030100:var210_254:surface:anl:",  # a parameter eccodes cannot name
        ":d=2019030100:TMP:2 m above ground:anl:ENS=+5:",
    ]


def test_one_field_has_one_name_in_both_editions(samples, tmp_path):
    """ERA5's GRIB1 message and eccodes' GRIB2 conversion of it name the same field alike."""
    era5 = _first_message(samples / "era5-2mt-2019-03-uk-3msg.grib")
    for grib1 in (era5, _edited(era5, paramId=130, typeOfLevel="isobaricInhPa", level=850)):
        grib2 = _edited(grib1, edition=2)
        assert _names(tmp_path, grib1) == _names(tmp_path, grib2)


def test_local_parameters_are_named_from_their_own_centres_table(samples):
    """ECMWF's local 0.6.192 (total cloud cover) is not NCEP's 0.6.192 (CDLYR): a centre's
    local numbers are named by that centre's table, else by its own short name."""
    ecmwf = build_inventory(samples / "ecmwf-ifs-oper-surface.grib2")
    assert [(e.variable, e.level) for e in ecmwf] == [
        ("asn", "surface"),  # was NCEP's MXSALB
        ("PTYPE", "surface"),
        ("SDEN", "surface"),
        ("sd", "surface"),  # was var0_1_254
        ("tcc", "atmos col"),  # was NCEP's CDLYR on "level type 1 to 8"
    ]
    ncep = build_inventory(samples / "aqm.t12z.ave_1hr_pm25-PMTF.grib2")
    assert {e.variable for e in ncep} == {"PMTF"}  # NCEP's own local table still names NCEP's
