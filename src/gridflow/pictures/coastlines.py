"""Coastlines, land borders and a graticule for maps, in any grid's projection.

The lines are Natural Earth's (1:50m, public domain), shipped with the package
(`data/natural_earth_50m.npz`, provenance in `data/NATURAL_EARTH.md`): nothing is downloaded.
Projecting a line into a grid's own projection can leave it: beyond a geostationary disk's limb
PROJ answers infinity, and a conic projection throws the far side of the globe far away. So a
projected line is cut where a point does not project, and wherever it jumps across a good part
of the map; pieces wholly outside the map are dropped.
"""

from __future__ import annotations

import functools
from importlib import resources

import numpy as np

KINDS = ("coast", "border")


@functools.cache
def lon_lat_lines(kind: str) -> tuple[np.ndarray, ...]:
    """Natural Earth's lines of one kind (`coast` or `border`), each an (N, 2) array of
    longitude, latitude in degrees."""
    if kind not in KINDS:
        raise ValueError(f"no {kind!r} lines: there are {', '.join(KINDS)}")
    shipped = resources.files("gridflow.pictures").joinpath("data/natural_earth_50m.npz")
    with shipped.open("rb") as fh:
        data = np.load(fh)
        scale, translate = data["scale"], data["translate"]
        steps, starts = data[f"{kind}_steps"], data[f"{kind}_starts"]
    lines = []
    for piece in np.split(steps.astype(np.int64), starts[1:]):
        lines.append(np.cumsum(piece, axis=0) * scale + translate)
    return tuple(lines)


def graticule(step: float = 10.0, resolution: float = 1.0) -> list[np.ndarray]:
    """Meridians and parallels every `step` degrees, as lon/lat lines."""
    along_lat = np.arange(-90.0, 90.0 + resolution / 2, resolution)
    along_lon = np.arange(-180.0, 180.0 + resolution / 2, resolution)
    lines = [
        np.column_stack([np.full_like(along_lat, lon), along_lat])
        for lon in np.arange(-180.0, 180.0, step)
    ]
    lines += [
        np.column_stack([along_lon, np.full_like(along_lon, lat)])
        for lat in np.arange(-90.0 + step, 90.0, step)
    ]
    return lines


def _pieces(xy: np.ndarray, extent: tuple[float, float, float, float]) -> list[np.ndarray]:
    """A projected line cut where it does not project or jumps, and kept only where it comes
    near the map (a margin of a tenth of the map's size around the extent)."""
    left, right, bottom, top = extent
    width, height = right - left, top - bottom
    finite = np.isfinite(xy).all(axis=1)
    with np.errstate(invalid="ignore"):  # steps from or to a point that did not project
        steps = np.abs(np.diff(xy, axis=0))
    jumps = (steps[:, 0] > width / 2) | (steps[:, 1] > height / 2)
    # a cut after point i when i or i+1 is not finite, or the step between them jumps
    cut = ~finite[:-1] | ~finite[1:] | jumps
    near = (
        finite
        & (xy[:, 0] > left - width / 10)
        & (xy[:, 0] < right + width / 10)
        & (xy[:, 1] > bottom - height / 10)
        & (xy[:, 1] < top + height / 10)
    )
    found = []
    for piece_index in np.split(np.arange(len(xy)), np.nonzero(cut)[0] + 1):
        piece_index = piece_index[finite[piece_index]]
        if len(piece_index) >= 2 and near[piece_index].any():
            found.append(xy[piece_index])
    return found


def project(lines, transformer, extent: tuple[float, float, float, float]) -> list[np.ndarray]:
    """Lon/lat lines in a map's coordinates: `transformer` maps (lon, lat) arrays to (x, y)
    (None: the map is in lon/lat itself); `extent` is (left, right, bottom, top)."""
    if not lines:
        return []
    lengths = [len(line) for line in lines]
    lon_lat = np.concatenate(lines)
    if transformer is None:
        xy = lon_lat
    else:
        x, y = transformer(lon_lat[:, 0], lon_lat[:, 1])
        xy = np.column_stack([x, y])
    found = []
    for piece in np.split(xy, np.cumsum(lengths)[:-1]):
        found += _pieces(piece, extent)
    return found
