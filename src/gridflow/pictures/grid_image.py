"""A field's points back on their grid, as an image in the grid's own projection.

`grid_data` keeps each point's latitude and longitude, not its place in the grid. Projected
into the grid's own projection (Lambert conformal for HRRR, the geostationary view for GOES,
plain longitude/latitude for GFS), the points of a grid fall on a lattice again: columns share
an x, rows a y, one step apart. The lattice is found from the points themselves, so a stride or
a bounding box chosen at load time gives the lattice of what was loaded, and every point
becomes one pixel. Points on no lattice (a satellite swath, or a projection not known) are
binned instead; so is a lattice more than `MAX_PIXELS` across (a 7000-column MRMS mosaic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_PIXELS = 2400  # across or down; a finer grid is averaged into bins this many
LATTICE_SAMPLE = 200_000  # points a lattice is found on


@dataclass(frozen=True)
class GridImage:
    values: np.ndarray  # (rows, columns) float32, row 0 at the bottom; NaN where no value is
    on_grid: (
        np.ndarray
    )  # (rows, columns) bool: a point of the grid is there (with or without value)
    extent: tuple[float, float, float, float]  # left, right, bottom, top: the outer pixel edges
    step: tuple[float, float]  # a pixel's width and height, in the projection's units
    points: int  # the points with a value
    binned: bool  # True when a pixel may average several points


@dataclass(frozen=True)
class Axis:
    index: np.ndarray  # each point's column (or row)
    origin: float  # the coordinate of index 0's centre
    step: float  # between neighbouring indices
    binned: bool


def lattice(coords: np.ndarray) -> Axis | None:
    """The lattice the coordinates lie on, or None if they lie on none.

    Values closer than a hundred-thousandth of their range are one column (float32 latitudes
    and longitudes put a column's points a few metres apart once projected); the gaps between
    neighbouring columns' means are whole steps (one, or more where columns are missing), so
    they are counted one gap at a time and the step is fitted to all of them. A large field's
    lattice is found on a sample of its points, then every point is checked against it."""
    sample = coords
    if len(coords) > LATTICE_SAMPLE:
        sample = coords[np.random.default_rng(0).integers(0, len(coords), LATTICE_SAMPLE)]
    ordered = np.sort(sample)
    span = float(ordered[-1] - ordered[0])
    column = np.concatenate([[0], np.cumsum(np.diff(ordered) > span * 1e-5)])
    means = np.bincount(column, weights=ordered) / np.bincount(column)
    if len(means) == 1:
        return Axis(np.zeros(len(coords), np.int64), float(means[0]), 1.0, False)
    gaps = np.diff(means)
    step = float(np.median(gaps[gaps < 1.5 * np.percentile(gaps, 10)]))
    columns = np.concatenate([[0], np.cumsum(np.maximum(1, np.rint(gaps / step)))])
    step, origin = (float(v) for v in np.polyfit(columns, means, 1))
    index = np.rint((coords - origin) / step)
    off = np.abs(coords - origin - index * step)
    if np.percentile(off, 99) > 0.25 * step:
        return None
    return Axis(index.astype(np.int64), origin, step, False)


def _bins(coords: np.ndarray, across: int) -> Axis:
    low, span = float(coords.min()), float(np.ptp(coords))
    step = max(span, 1e-9) / max(across - 1, 1)
    return Axis(np.rint((coords - low) / step).astype(np.int64), low, step, True)


def _axis(coords: np.ndarray) -> Axis:
    found = lattice(coords)
    if found is None:  # about as many bins across as the square root of the points
        return _bins(coords, min(MAX_PIXELS, max(2, int(np.sqrt(len(coords))))))
    size = int(found.index.max()) + 1
    if size <= MAX_PIXELS:
        return found
    factor = -(-size // MAX_PIXELS)  # whole lattice steps per bin keep the bins aligned
    return Axis(
        found.index // factor,
        found.origin + found.step * (factor - 1) / 2,
        found.step * factor,
        True,
    )


def from_points(x: np.ndarray, y: np.ndarray, value: np.ndarray) -> GridImage:
    """The image of points at projected (x, y) with their values (NaN: a point without a value,
    which still has its pixel on the grid). Points that did not project (non-finite x or y) are
    left out."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y, value = x[keep], y[keep], value[keep].astype(np.float64)
    if not len(x):
        empty = np.full((1, 1), np.nan, np.float32)
        return GridImage(empty, np.zeros((1, 1), bool), (0.0, 1.0, 0.0, 1.0), (1.0, 1.0), 0, False)
    cols, rows = _axis(x), _axis(y)
    shape = (int(rows.index.max()) + 1, int(cols.index.max()) + 1)
    flat = rows.index * shape[1] + cols.index
    size = shape[0] * shape[1]
    valued = np.isfinite(value)
    present = np.bincount(flat, minlength=size)
    counts = np.bincount(flat[valued], minlength=size)
    sums = np.bincount(flat[valued], weights=value[valued], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        image = (sums / counts).astype(np.float32).reshape(shape)
    dx, dy = cols.step, rows.step
    extent = (
        cols.origin - dx / 2,
        cols.origin + (shape[1] - 0.5) * dx,
        rows.origin - dy / 2,
        rows.origin + (shape[0] - 0.5) * dy,
    )
    binned = cols.binned or rows.binned or bool(present.max() > 1)
    return GridImage(
        image, (present > 0).reshape(shape), extent, (dx, dy), int(valued.sum()), binned
    )
