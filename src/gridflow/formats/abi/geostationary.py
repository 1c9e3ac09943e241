"""Latitude and longitude of ABI fixed-grid pixels from their scan angles.

The ABI grid is a geostationary projection: each pixel is a pair of scan angles (x east-west,
y north-south, radians, sweep axis x) seen from the satellite. A pixel's line of sight is
intersected with the GRS80 ellipsoid named in `goes_imager_projection`; lines of sight that miss
the Earth (space around the disk) get NaN. The equations are those of the GOES-R Product User
Guide, volume 4, section 4.2.8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    lon_origin: float  # degrees east of the sub-satellite point
    height: float  # perspective point height above the ellipsoid, metres
    semi_major: float
    semi_minor: float

    @classmethod
    def from_attrs(cls, attrs: dict) -> Projection:
        return cls(
            float(attrs["longitude_of_projection_origin"]),
            float(attrs["perspective_point_height"]),
            float(attrs["semi_major_axis"]),
            float(attrs["semi_minor_axis"]),
        )


def lat_lon(x: np.ndarray, y: np.ndarray, proj: Projection) -> tuple[np.ndarray, np.ndarray]:
    """(lat, lon) in degrees, NaN off the disk, for every (y, x) pair of the 1-D angle axes
    (arrays shaped (len(y), len(x))): every pixel is a point of the grid, valid or not."""
    # trigonometry on the 1-D axes; the per-pixel work below is a handful of products
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cos_x, sin_x, cos_y, sin_y = np.cos(x), np.sin(x), np.cos(y), np.sin(y)
    cos_x, sin_x = cos_x[np.newaxis, :], sin_x[np.newaxis, :]
    cos_y, sin_y = cos_y[:, np.newaxis], sin_y[:, np.newaxis]
    sat = proj.height + proj.semi_major  # distance from the Earth's centre
    flat2 = (proj.semi_major / proj.semi_minor) ** 2
    # the line of sight meets the ellipsoid at distance r where a r^2 + b r + c = 0
    a = sin_x**2 + cos_x**2 * (cos_y**2 + flat2 * sin_y**2)
    half_b = sat * (cos_x * cos_y)
    disc = half_b**2 - a * (sat**2 - proj.semi_major**2)
    with np.errstate(invalid="ignore"):
        np.sqrt(disc, out=disc)  # NaN where the line of sight misses the Earth
    dist = half_b - disc
    dist /= a  # the nearer intersection
    sx = dist * (cos_x * cos_y)
    sx -= sat
    np.negative(sx, out=sx)  # sat - sx
    sy = dist * -sin_x
    sz = dist
    sz *= sin_y
    sz *= cos_x
    lat = np.degrees(np.arctan(flat2 * sz / np.hypot(sx, sy)))
    lon = np.arctan2(sy, sx)
    np.degrees(lon, out=lon)
    np.subtract(proj.lon_origin, lon, out=lon)
    lon = ((lon + 180.0) % 360.0) - 180.0
    return lat, lon
