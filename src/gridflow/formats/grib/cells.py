"""A GRIB file's fields as PostGIS cells: each point's footprint from the grid eccodes places,
for the fields the source asks cells of."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import eccodes

from gridflow.formats.grib.decode import MISSING_SENTINEL, field_times
from gridflow.formats.grib.read import named_fields
from gridflow.geo.cells import CellError, Cells, cell_variable, grid_cells, thresholds_for


def field_cells(
    handle, variable: str, thresholds: list[float], bbox=None, stride: int = 1
) -> Cells:
    ni = eccodes.codes_get(handle, "Ni", int)
    nj = eccodes.codes_get(handle, "Nj", int)
    if ni <= 0 or nj <= 0 or ni * nj != eccodes.codes_get(handle, "numberOfDataPoints", int):
        raise CellError(f"{variable}: cells need a full 2-D grid (Ni x Nj)")
    eccodes.codes_set(handle, "missingValue", MISSING_SENTINEL)
    values = eccodes.codes_get_values(handle).reshape(nj, ni)
    try:
        lat = eccodes.codes_get_array(handle, "latitudes").reshape(nj, ni)
        lon = eccodes.codes_get_array(handle, "longitudes").reshape(nj, ni)
    except eccodes.CodesInternalError as exc:
        grid = eccodes.codes_get(handle, "gridType", str)
        raise CellError(
            f"{variable}: eccodes cannot place the {grid} grid's points ({exc})"
        ) from None
    ref, step = field_times(handle)
    valid = values < MISSING_SENTINEL * 0.999
    when = ref + timedelta(minutes=step)
    return grid_cells(lat, lon, values, valid, when, variable, thresholds, bbox, stride)


def file_cells(
    raw: Path,
    entries: list,
    variables: list[str],
    thresholds: dict[str, list[float]],
    bbox=None,
    stride: int = 1,
) -> Iterator[Cells]:
    """Cells of the fields named in `variables`, by variable (`PMTF`) or with descriptors
    (`MASSDEN:chemical=Ozone`); severity from the thresholds of that same name."""
    for entry, handle in named_fields(raw, entries, f"{raw}.idx"):
        name = cell_variable(entry)
        if name not in variables and entry.variable not in variables:
            continue
        yield field_cells(
            handle, name, thresholds_for(name, entry.variable, thresholds), bbox, stride
        )
