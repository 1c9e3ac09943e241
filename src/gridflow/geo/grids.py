"""A grid's identity: the ordered places of its points.

The store keeps each grid once (its points' latitude and longitude, in `grid_points`) and a
field's rows name only the grid and the point. A grid is named by a hash of its places, not by
the format's words for it: two files whose fields fall on the same points share the grid
whatever wrote them (GRIB's templates, the ABI fixed grid, a GeoTIFF's transform, a bbox or
stride taken from any of them), and a grid that changes in any point is another grid.

A field may arrive in blocks (an ABI disk a band of rows at a time); `GridBuilder` takes them
in order and numbers their points on, so a point is its place in the whole field.
`gridflow.pipeline.shred` writes each grid's places down once per shred.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

ID_BYTES = 8  # a UInt64 in the store: 1 in 10^10 odds of a clash at a million grids


@dataclass
class GridBuilder:
    """The points of one field's grid, block by block: the places kept for its id and for
    writing the grid down once."""

    points: int = 0
    blocks: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def add(self, lat: np.ndarray, lon: np.ndarray) -> int:
        """Take the next block of places; returns the number of its first point."""
        lat = np.ascontiguousarray(lat, dtype=np.float32)
        lon = np.ascontiguousarray(lon, dtype=np.float32)
        self.blocks.append((lat, lon))
        first = self.points
        self.points += len(lat)
        return first

    def same_places(self, other: GridBuilder) -> bool:
        """Whether both hold the same places in the same blocks: a memory compare, several
        times cheaper than the hash (most fields of a file lie on its one grid)."""
        return (
            self.points == other.points
            and len(self.blocks) == len(other.blocks)
            and all(
                np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
                for a, b in zip(self.blocks, other.blocks, strict=True)
            )
        )

    def grid_id(self) -> int:
        """The grid's id: the hash of its places, in point order, and of their count."""
        digest = hashlib.blake2b(digest_size=ID_BYTES)
        for lat, lon in self.blocks:
            digest.update(memoryview(lat).cast("B"))
            digest.update(memoryview(lon).cast("B"))
        digest.update(self.points.to_bytes(8, "little"))
        return int.from_bytes(digest.digest(), "little")
