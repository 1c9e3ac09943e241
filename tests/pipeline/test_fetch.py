"""Fetching from a loopback HTTP mirror: ranged GETs, verification, and every bad input."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from conftest import copy_sample
from tests_support import gfs_spec

from gridflow import inventory
from gridflow.net.transport import NotPublished, Settings, TransportError
from gridflow.pipeline.fetch import FetchError, fetch
from gridflow.pipeline.fetch_job import FetchSpec, Operating

FAST = Settings(timeout_seconds=5, max_retries=1)


def _outputs(tmp_path: Path):
    out = tmp_path / "out"
    return out / "f.grib2", out / "f.grib2.idx", out / "f.json"


def _spec(url, key, idx_key, select="all") -> tuple[FetchSpec, Operating]:
    return gfs_spec(key, idx_key, select), Operating(url, FAST)


def _assert_nothing_left(tmp_path):
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []


def test_ranged_fetch_takes_only_selected_messages(http_mirror, gfs_object, tmp_path):
    grib, idx, side = _outputs(tmp_path)
    select = [":TMP:2 m above ground:", ":(UGRD|VGRD):10 m above ground:", ":PRMSL:"]
    sidecar = fetch(
        *_spec(http_mirror.url, gfs_object, gfs_object + ".idx", select), grib, idx, side
    )
    kept = inventory.parse(idx.read_text())
    assert [(e.variable, e.level) for e in kept] == [
        ("TMP", "2 m above ground"),
        ("UGRD", "10 m above ground"),
        ("VGRD", "10 m above ground"),
        ("PRMSL", "mean sea level"),
    ]
    ranged = [r for m, p, r in http_mirror.requests if m == "GET" and r]
    assert len(ranged) == len(sidecar.byte_ranges) == 3
    assert sidecar.size == grib.stat().st_size == sum(e - s + 1 for s, e in sidecar.byte_ranges)
    assert json.loads(side.read_text())["sha256"] == sidecar.sha256
    for key in ("url", "etag", "last_modified", "run_id", "fetched_at", "idx_url"):
        assert getattr(sidecar, key)
    assert sidecar.run_id[14] == "7"  # a UUIDv7


def test_missing_idx_is_an_error(http_mirror, gfs_object, tmp_path):
    (http_mirror.root / (gfs_object + ".idx")).unlink()
    with pytest.raises(NotPublished, match=r"f003\.idx: not found"):
        fetch(*_spec(http_mirror.url, gfs_object, gfs_object + ".idx"), *_outputs(tmp_path))
    _assert_nothing_left(tmp_path)


def test_idx_that_does_not_match_the_grib_is_an_error(http_mirror, gfs_object, tmp_path):
    idx = http_mirror.root / (gfs_object + ".idx")
    lines = idx.read_text().splitlines()
    shifted = [
        line.replace(f":{line.split(':')[1]}:", f":{int(line.split(':')[1]) + 7}:", 1)
        if i
        else line
        for i, line in enumerate(lines)
    ]
    idx.write_text("\n".join(shifted) + "\n")
    with pytest.raises(FetchError, match="stale or wrong index"):
        fetch(
            *_spec(http_mirror.url, gfs_object, gfs_object + ".idx", [":PRMSL:"]),
            *_outputs(tmp_path),
        )
    _assert_nothing_left(tmp_path)


@pytest.mark.parametrize(
    "sample, message",
    [
        ("hrrr.t11z.wrfsfcf12.grib2", "truncated"),
        ("subset_20201214_hrrr.t00z.wrfsfcf12.grib2", "stray bytes at offset 887243"),
    ],
)
def test_bad_whole_files_are_errors_naming_the_url(samples, http_mirror, tmp_path, sample, message):
    copy_sample(samples, sample, http_mirror.root / "hrrr" / sample)
    with pytest.raises(FetchError, match=message) as err:
        fetch(*_spec(http_mirror.url, f"hrrr/{sample}", None), *_outputs(tmp_path))
    assert f"{http_mirror.url}/hrrr/{sample}" in str(err.value)
    _assert_nothing_left(tmp_path)


def test_body_cut_short_is_an_error(samples, http_mirror, tmp_path):
    copy_sample(samples, "gfs.complex.grib2", http_mirror.root / "g.grib2")
    http_mirror.cut_short.add("g.grib2")
    with pytest.raises(TransportError):
        fetch(*_spec(http_mirror.url, "g.grib2", None), *_outputs(tmp_path))
    _assert_nothing_left(tmp_path)


def test_unreachable_source_is_an_error_naming_it(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/noaa"
    with pytest.raises(TransportError, match=f"127.0.0.1:{port}/noaa/x.grib2"):
        fetch(*_spec(url, "x.grib2", None), *_outputs(tmp_path))
    _assert_nothing_left(tmp_path)


def test_whole_file_without_idx_gets_an_inventory(samples, tmp_path):
    mirror = tmp_path / "m"
    copy_sample(samples, "gfs.t12z.pgrbf120.2p5deg.grib2", mirror / "gfs.grib2")
    grib, idx, side = _outputs(tmp_path)
    sidecar = fetch(*_spec(f"file://{mirror}", "gfs.grib2", None), grib, idx, side)
    assert sidecar.messages == 307 and sidecar.fields == 343
    assert grib.read_bytes() == (mirror / "gfs.grib2").read_bytes()  # raw stays source-faithful
    assert len(inventory.parse(idx.read_text())) == 343
