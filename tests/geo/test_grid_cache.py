"""The grid cache: a GOES full disk's places computed once, read back equal, kept within a cap."""

from __future__ import annotations

import numpy as np
import pytest

from gridflow.formats.abi import read as abi_read
from gridflow.geo import grid_cache

RRQPE = "OR_ABI-L2-RRQPEF-M6_G16_s20230761510209_e20230761519517_c20230761520040.nc"


def _pixels(samples):
    with abi_read.open_abi(samples / RRQPE, RRQPE) as ds:
        pixels = list(abi_read.valid_pixels(ds, "RRQPE", RRQPE, dqf_keep=(0,)))
    return [np.concatenate([getattr(p, k) for p in pixels]) for k in ("lat", "lon", "value")]


@pytest.mark.slow  # the places of a whole ABI full disk (over 20 M), computed twice
def test_a_full_disk_reads_its_places_back_from_the_cache(samples, tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.ENV, "off")
    computed = _pixels(samples)
    monkeypatch.setenv(grid_cache.ENV, str(tmp_path))
    first = _pixels(samples)  # computes the whole disk and keeps it
    assert sorted(p.name.split(".", 1)[1] for p in tmp_path.iterdir()) == ["lat.npy", "lon.npy"]
    again = _pixels(samples)  # reads it back
    assert len(computed[0]) > 20_000_000
    for ours, theirs in zip(computed, again, strict=True):
        np.testing.assert_array_equal(ours.astype(np.float32), theirs)
    for ours, theirs in zip(first, again, strict=True):
        np.testing.assert_array_equal(ours, theirs)


def _square(first, end, cols=2000):
    rows = np.arange(first, end, dtype=np.float64)[:, np.newaxis]
    return np.broadcast_to(rows, (end - first, cols)), np.zeros((end - first, cols))


def test_small_grids_and_an_off_cache_are_not_kept(tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.ENV, str(tmp_path))
    assert grid_cache.places("small", 100, 100, _square) is None
    monkeypatch.setenv(grid_cache.ENV, "off")
    assert grid_cache.places("big", 2000, 2000, _square) is None
    assert not any(tmp_path.iterdir())


def test_a_half_written_entry_is_computed_again(tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.ENV, str(tmp_path))
    name = grid_cache.key("test", "half")
    (tmp_path / f"{name}.lon.npy").write_bytes(b"cut short")  # a crash between the renames
    lat, lon = grid_cache.places(name, 2000, 2000, _square)
    assert lat[1999, 0] == 1999 and lon.shape == (2000, 2000)


def test_the_least_recently_used_go_past_the_cap(tmp_path, monkeypatch):
    monkeypatch.setenv(grid_cache.ENV, str(tmp_path))
    monkeypatch.setattr(grid_cache, "CAP_BYTES", 40_000_000)  # room for two grids of 16 MB
    names = [grid_cache.key("test", str(n)) for n in range(3)]
    grid_cache.places(names[0], 1000, 2000, _square)
    grid_cache.places(names[1], 1000, 2000, _square)
    grid_cache.places(names[0], 1000, 2000, _square)  # used again: now the newer
    grid_cache.places(names[2], 1000, 2000, _square)
    kept = {p.name.split(".")[0] for p in tmp_path.iterdir()}
    assert kept == {names[0], names[2]}


def test_a_cache_that_cannot_be_written_is_passed_by(tmp_path, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(grid_cache.ENV, str(blocked / "grids"))
    assert grid_cache.places(grid_cache.key("test", "blocked"), 2000, 2000, _square) is None


@pytest.mark.slow  # two shreds of 2.4 M disk pixels
def test_a_shred_on_a_large_grid_links_the_grids_file_an_earlier_shred_kept(
    samples, tmp_path, monkeypatch
):
    """The first shred of a grid of 2 M points or more keeps its grids file in the cache; the
    next shred on that grid links it (one file, several names) and reads back the same."""
    import json

    from gridflow.paths import grids_beside
    from gridflow.pipeline.shred import ShredOptions, read_rows, shred

    monkeypatch.setenv(grid_cache.ENV, str(tmp_path / "cache"))
    (tmp_path / "x.idx").write_text("1:0:d=2023031715:RRQPE:surface:anl:\n")
    sidecar = {"source": "goes", "run_id": "r", "raw_key": "raw/x", "format": "abi_netcdf"}
    (tmp_path / "x.json").write_text(json.dumps(sidecar))
    outs = [tmp_path / "first.parquet", tmp_path / "second.parquet"]
    for out in outs:
        options = ShredOptions(stride=3, dqf_keep=(0,))
        shred(samples / RRQPE, tmp_path / "x.idx", tmp_path / "x.json", out, options)
    first, second = (grids_beside(out) for out in outs)
    kept = list((tmp_path / "cache").glob("*.grid.parquet"))
    assert len(kept) == 1 and second.stat().st_ino == kept[0].stat().st_ino
    assert first.read_bytes() == second.read_bytes()
    assert read_rows(outs[0]).equals(read_rows(outs[1]))
