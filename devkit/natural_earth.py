"""Make `src/gridflow/data/natural_earth_50m.npz` from the npm package `world-atlas`.

`world-atlas` (ISC, by Mike Bostock) redistributes Natural Earth's admin-0 countries (public
domain) as TopoJSON. A TopoJSON topology stores every shared boundary once as an "arc"; an arc
that only one country uses is a coastline, one that two countries use is a land border. This
keeps the arcs as lines, delta-encoded in the topology's own integer quantization (0.0036 x
0.0017 degrees at 1:50m), so maps draw them without downloading anything at run time.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python -m devkit.natural_earth package/countries-50m.json \
        src/gridflow/data/natural_earth_50m.npz
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np


def _arc_uses(topology: dict) -> Counter:
    """How many countries' rings use each arc (an arc index i, or ~i when reversed)."""
    uses: Counter = Counter()
    for country in topology["objects"]["countries"]["geometries"]:
        polygons = {"Polygon": [country.get("arcs", [])], "MultiPolygon": country.get("arcs", [])}
        seen = set()
        for polygon in polygons.get(country["type"], []):
            for ring in polygon:
                seen.update(i if i >= 0 else ~i for i in ring)
        uses.update(seen)  # a country counts once per arc
    return uses


def _drawn_pieces(arc: list, topology: dict) -> list[np.ndarray]:
    """An arc as lines to draw, delta-encoded as TopoJSON stores them (the first position
    absolute, then steps: small numbers, which compress well). Edges that are no coast or
    border are left out: where polygons are cut at the antimeridian (both ends at longitude
    +-180) and Antarctica's closing edge along the south pole."""
    absolute = np.cumsum(np.asarray(arc, dtype=np.int64), axis=0)
    scale, translate = topology["transform"]["scale"], topology["transform"]["translate"]
    lon = absolute[:, 0] * scale[0] + translate[0]
    lat = absolute[:, 1] * scale[1] + translate[1]
    seam = (np.abs(lon[:-1]) > 179.99) & (np.abs(lon[1:]) > 179.99)
    pole = (lat[:-1] < -89.99) & (lat[1:] < -89.99)
    pieces = []
    for piece in np.split(np.arange(len(absolute)), np.nonzero(seam | pole)[0] + 1):
        if len(piece) >= 2:
            positions = absolute[piece]
            pieces.append(np.vstack([positions[:1], np.diff(positions, axis=0)]))
    return pieces


def convert(topojson: Path, out: Path) -> dict:
    topology = json.loads(topojson.read_text())
    uses = _arc_uses(topology)
    kinds = {"coast": [], "border": []}
    for index, arc in enumerate(topology["arcs"]):
        if uses[index] == 1:
            kinds["coast"] += _drawn_pieces(arc, topology)
        elif uses[index] >= 2:
            kinds["border"] += _drawn_pieces(arc, topology)
    arrays = {
        "scale": np.asarray(topology["transform"]["scale"], np.float64),
        "translate": np.asarray(topology["transform"]["translate"], np.float64),
    }
    for kind, lines in kinds.items():
        arrays[f"{kind}_steps"] = np.concatenate(lines).astype(np.int32)
        arrays[f"{kind}_starts"] = np.cumsum([0] + [len(line) for line in lines[:-1]]).astype(
            np.int32
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **arrays)
    return {kind: (len(lines), sum(map(len, lines))) for kind, lines in kinds.items()}


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("topojson", type=Path, help="world-atlas countries-50m.json")
    cli.add_argument("out", type=Path)
    args = cli.parse_args()
    for kind, (lines, points) in convert(args.topojson, args.out).items():
        print(f"{kind}: {lines} lines, {points} points")
    print(f"{args.out}: {args.out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
