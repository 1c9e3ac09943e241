"""Places of large fixed grids, computed once and kept on local disk.

Every GOES full-disk file of a product has the same 29 M pixels, and their latitudes and
longitudes took a shred 0.9 s of trigonometry each time. Kept as float32 `.npy` files (the
precision rows are stored at), they are read back memory-mapped in a fraction of that. An entry
is keyed by everything the places depend on, written under a temporary name and renamed, so
jobs racing on one grid each see a whole file; past the size cap the least recently used go.

A shred's grids file of one large grid is kept too (`g<id>.grid.parquet`, by the grid's id):
the next shred on that grid links it as its own instead of writing 20 M places again.

`GRIDFLOW_GRID_CACHE` names the folder (default `$XDG_CACHE_HOME/gridflow/grids`, else
`~/.cache/gridflow/grids`); `off` turns the cache off.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENV = "GRIDFLOW_GRID_CACHE"
MIN_POINTS = 2_000_000  # smaller grids (ABI mesoscale sectors, which move) cost little to compute
CAP_BYTES = 4 * 2**30
BLOCK_ROWS = 256  # rows computed at a time: keeps the float64 temporaries small


def directory() -> Path | None:
    """The cache folder, or None when the cache is off."""
    chosen = os.environ.get(ENV)
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gridflow" / "grids"


def key(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:32]


def places(
    name: str, rows: int, cols: int, compute: Callable[[int, int], tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray] | None:
    """(lat, lon) of a grid of `rows` x `cols` points as float32 arrays, memory-mapped from the
    cache entry `name` (see `key`); `compute(first_row, end_row)` gives a block of rows in
    degrees when the entry is missing. None when the grid is small, the cache is off or cannot
    be used (the cache only ever saves time)."""
    folder = directory()
    if folder is None or rows * cols < MIN_POINTS:
        return None
    lat_path, lon_path = folder / f"{name}.lat.npy", folder / f"{name}.lon.npy"
    try:
        written = not (lat_path.exists() and lon_path.exists())
        if written:
            folder.mkdir(parents=True, exist_ok=True)
            _write(lat_path, lon_path, rows, cols, compute)
        now = time.time_ns()  # to the nanosecond: the kernel's own clock ticks in milliseconds
        for path in (lat_path, lon_path):
            os.utime(path, ns=(now, now))  # recently used: trimmed last
        if written:
            _trim(folder, name)
        return np.load(lat_path, mmap_mode="r"), np.load(lon_path, mmap_mode="r")
    except (OSError, ValueError) as exc:  # a folder we cannot write, a full disk, an entry
        # another job trimmed meanwhile: the caller computes the places itself
        print(f"grid cache {folder} not used ({exc}); computing the places", file=sys.stderr)
        return None


def _grids_file(folder: Path, grid_id: int) -> Path:
    return folder / f"g{grid_id:016x}.grid.parquet"


def link_or_copy(source: Path, target: Path) -> None:
    """`target` as the same file as `source`: a hard link, or a copy across file systems."""
    import shutil

    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def kept_grids_file(grid_id: int) -> Path | None:
    """The kept grids file of a grid (whose places a shred wrote before), if any."""
    folder = directory()
    if folder is None:
        return None
    path = _grids_file(folder, grid_id)
    try:
        os.utime(path)  # recently used: trimmed last
    except OSError:
        return None
    return path


def keep_grids_file(grid_id: int, grids_file: Path) -> None:
    """Keep a grids file holding one grid's places for the shreds after it (a cache: a
    failure only costs them the writing)."""
    folder = directory()
    if folder is None:
        return
    path = _grids_file(folder, grid_id)
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        link_or_copy(grids_file, tmp)
        os.replace(tmp, path)
        _trim(folder, path.name.split(".", 1)[0])
    except OSError as exc:
        print(f"grid cache {folder} not used ({exc})", file=sys.stderr)
    finally:
        tmp.unlink(missing_ok=True)


def _write(lat_path: Path, lon_path: Path, rows: int, cols: int, compute) -> None:
    tag = f".{uuid.uuid4().hex}.partial"
    tmp = [p.with_name(p.name + tag) for p in (lat_path, lon_path)]
    try:
        lat, lon = (np.lib.format.open_memmap(p, "w+", np.float32, (rows, cols)) for p in tmp)
        for first in range(0, rows, BLOCK_ROWS):
            end = min(first + BLOCK_ROWS, rows)
            lat[first:end], lon[first:end] = compute(first, end)
        lat.flush()
        lon.flush()
        del lat, lon
        os.replace(tmp[1], lon_path)  # lon first: an entry is whole once its lat exists
        os.replace(tmp[0], lat_path)
    finally:
        for path in tmp:
            path.unlink(missing_ok=True)


def _trim(folder: Path, keep: str) -> None:
    """Delete the least recently used entries but `keep` while the folder holds more than
    CAP_BYTES."""
    entries: dict[str, list[Path]] = {}
    for path in [*folder.glob("*.npy"), *folder.glob("*.grid.parquet")]:
        entries.setdefault(path.name.split(".", 1)[0], []).append(path)
    stats = {name: [p.stat() for p in files] for name, files in entries.items()}
    total = sum(s.st_size for found in stats.values() for s in found)
    oldest_first = sorted(entries, key=lambda name: max(s.st_mtime_ns for s in stats[name]))
    for name in oldest_first:
        if total <= CAP_BYTES:
            break
        if name == keep:
            continue
        total -= sum(s.st_size for s in stats[name])
        for path in entries[name]:
            path.unlink(missing_ok=True)
