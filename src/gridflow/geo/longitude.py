"""Longitudes in one convention: degrees east in [-180, 180), whatever a grid publishes."""

from __future__ import annotations

import numpy as np


def normalise_lon(lon: np.ndarray) -> np.ndarray:
    return ((lon + 180.0) % 360.0) - 180.0
