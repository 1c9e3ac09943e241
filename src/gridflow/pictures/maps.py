"""Maps of one stored field: every point of it, as an image on the grid it was published on.

The field's points are read from `grid_values` with their places from `grid_points`, projected
into the grid's own projection (read from its raw file: `gridflow.pictures.raw_grid`), put back
on their lattice (`gridflow.pictures.grid_image`) and drawn with Natural Earth's coastlines and
borders projected the same way (`gridflow.pictures.coastlines`). The title says what the field
is, its units, valid time, run and step; the colour bar carries the units again.

`gridflow map` writes one (PNG or SVG); `gridflow report` draws one per enabled source's newest
field.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from gridflow import rows
from gridflow.pictures import coastlines, grid_image, raw_grid
from gridflow.query import readonly
from gridflow.sinks.clickhouse import FIELDS, POINTS, VALUES

DPI = 100
BACKGROUND = "#ffffff"  # where the grid has no point (off the disk, outside the domain)
NO_VALUE = "#d0d0d0"  # a point of the grid without a value (missing, masked)
ALL_POINTS_UP_TO = 5_000_000  # larger fields are read without their points that have no value
COAST_COLOURS = {"dark": "#000000", "light": "#ffd400"}  # black, or yellow on grey images


@dataclass(frozen=True)
class FieldChoice:
    """Which field to map; what is left None is chosen: the newest run, its first step, and of
    its fields the one with the most points (then by name)."""

    source: str
    variable: str | None = None
    level: str | None = None
    descriptor: str | None = None
    ref_time: datetime | None = None
    step_minutes: int | None = None


@dataclass(frozen=True)
class MapField:
    source: str
    variable: str
    level: str
    forecast: str
    descriptor: str
    ref_time: datetime
    step_minutes: int
    points: int
    raw_key: str
    grid: int  # the grid its points lie on (grid_points)
    packing: rows.Packing | None = None  # how its values are kept (None: as float32)

    @property
    def valid_time(self) -> datetime:
        return self.ref_time + timedelta(minutes=self.step_minutes)


@dataclass
class FieldMap:
    """A drawn map (`figure`) and what a reader of the picture may want to know about it."""

    field: MapField
    raw: raw_grid.RawGrid
    image: grid_image.GridImage
    coast_colour: str
    figure: object

    def record(self) -> dict:
        """The map in JSON terms; after `save`, with where the map sits in the picture."""
        return {
            **asdict(self.field),
            "ref_time": _iso(self.field.ref_time),
            "valid_time": _iso(self.field.valid_time),
            "units": self.raw.units,
            "projection": self.raw.projection,
            "crs": proj_string(self.raw.crs),
            "extent": [round(v, 6) for v in self.image.extent],
            "grid": list(self.image.values.shape),
            "points_drawn": self.image.points,
            "binned": self.image.binned,
            "coast_colour": self.coast_colour,
            **({"note": self.raw.note} if self.raw.note else {}),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def proj_string(crs) -> str:
    """The CRS as PROJ parameters (shorter than WKT, and all a reader needs for these grids)."""
    if crs is None:
        return "EPSG:4326 (longitude, latitude)"
    with warnings.catch_warnings():  # PROJ strings drop datum details no grid here has
        warnings.simplefilter("ignore", UserWarning)
        return crs.to_proj4()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def choose(client, choice: FieldChoice) -> MapField | None:
    """The stored field the choice names (None: nothing matches)."""
    where = ["source = %(source)s"]
    params: dict = {"source": choice.source}
    for column, value in (
        ("variable", choice.variable),
        ("level", choice.level),
        ("descriptor", choice.descriptor),
        ("step", choice.step_minutes),
    ):
        if value is not None:
            where.append(f"{column} = %({column})s")
            params[column] = value
    if choice.ref_time is not None:
        where.append("ref_time = %(ref_time)s")
        params["ref_time"] = _utc(choice.ref_time).replace(tzinfo=None)
    else:
        where.append(f"ref_time = (SELECT max(ref_time) FROM {FIELDS} WHERE {' AND '.join(where)})")
    found = readonly.query(
        client,
        "SELECT variable, level, forecast, descriptor, ref_time, step, sum(points) AS n, "
        "any(raw_key), any(grid), any(packed), any(reference), any(scale), any(decimal) "
        f"FROM {FIELDS} WHERE {' AND '.join(where)} "
        "GROUP BY variable, level, forecast, descriptor, ref_time, step "
        "ORDER BY step, n DESC, variable, level, descriptor, forecast LIMIT 1",
        parameters=params,
    ).result_rows
    if not found:
        return None
    variable, level, forecast, descriptor, ref, step, points, raw_key, grid, packed, *scales = (
        found[0]
    )
    packing = rows.Packing(*scales) if packed else None
    return MapField(
        choice.source,
        variable,
        level,
        forecast,
        descriptor,
        _utc(ref),
        step,
        points,
        raw_key,
        grid,
        packing,
    )


def points(client, field: MapField) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lat, lon, value) of the field's points, NaN where a point has no value. Of a field of
    more than ALL_POINTS_UP_TO points, only those with a value (MRMS keeps 24.5 M points, of
    which a few thousand may have one)."""
    join = "INNER" if field.points > ALL_POINTS_UP_TO else "LEFT"
    table = client.query_arrow(
        # an unmatched point reads v.valued as 0 (no join_use_nulls under readonly)
        "SELECT p.lat AS lat, p.lon AS lon, v.value AS value, v.packed AS packed, "
        f"v.valued AS valued FROM "
        f"(SELECT point, lat, lon FROM {POINTS} WHERE grid = %(g)s) AS p {join} JOIN "
        f"(SELECT point, value, packed, 1 AS valued FROM {VALUES} WHERE source = %(s)s "
        "AND variable = %(v)s AND level = %(l)s AND forecast = %(f)s AND descriptor = %(d)s "
        "AND ref_time = %(r)s AND step = %(t)s AND grid = %(g)s) AS v ON v.point = p.point "
        # in point order: a join's own order varies, and the lattice is fitted on a sample
        "ORDER BY p.point",
        parameters={
            "s": field.source,
            "v": field.variable,
            "l": field.level,
            "f": field.forecast,
            "d": field.descriptor,
            "r": field.ref_time.replace(tzinfo=None),
            "t": field.step_minutes,
            "g": field.grid,
        },
        settings=readonly.SETTINGS,
    )
    lat, lon = (table.column(n).to_numpy().astype(np.float64) for n in ("lat", "lon"))
    value = table.column("value").to_numpy()
    if field.packing is not None:
        value = field.packing.unpack(table.column("packed").to_numpy())
    value = np.where(table.column("valued").to_numpy() == 1, value.astype(np.float64), np.nan)
    return lat, lon, value


def lon_lat_to(crs):
    """A function (lon, lat) -> (x, y) into the CRS; None for plain longitude/latitude."""
    if crs is None:
        return None
    import pyproj

    transformer = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return lambda lon, lat: transformer.transform(lon, lat, errcheck=False)


def colour_map(field: MapField) -> tuple[str, str]:
    """(matplotlib colour map, coastline colour) that suit the variable."""
    name = field.variable.upper()
    if name in ("TMP", "2T", "T2M", "SKT", "TMAX", "TMIN", "DPT"):
        return "RdYlBu_r", COAST_COLOURS["dark"]
    if name == "CMI":  # ABI imagery: reflectance bright, cold cloud tops white
        band = int(field.level.split()[-1]) if field.level.split()[-1].isdigit() else 1
        return ("Greys_r" if band <= 6 else "Greys"), COAST_COLOURS["light"]
    return "viridis", COAST_COLOURS["dark"]


def _limits(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return 0.0, 1.0
    low, high = np.percentile(finite, [1, 99])
    if high <= low:
        low, high = float(finite.min()), float(finite.max())
    if high <= low:
        low, high = low - 1.0, high + 1.0
    return float(low), float(high)


def _step_text(minutes: int) -> str:
    return f"+{minutes // 60} h" if minutes % 60 == 0 else f"+{minutes} min"


def title(field: MapField, image: grid_image.GridImage, raw: raw_grid.RawGrid) -> str:
    what = " ".join(
        part for part in (field.source, field.variable, field.level, field.descriptor) if part
    )
    units = f" [{raw.units}]" if raw.units else " [units unknown]"
    return (
        f"{what}{units}\nvalid {field.valid_time:%Y-%m-%d %H:%M} UTC, run "
        f"{field.ref_time:%Y-%m-%d %H:%M} UTC {_step_text(field.step_minutes)}\n"
        f"{_points_text(field, image)} on the {raw.projection} grid"
    )


def _points_text(field: MapField, image: grid_image.GridImage) -> str:
    if image.points == field.points:
        return f"{field.points:,} points"
    return f"{image.points:,} of {field.points:,} points with a value"


def draw(field: MapField, image: grid_image.GridImage, raw: raw_grid.RawGrid, width=9.0):
    """The figure of a field's image with coastlines, borders and (projected maps) a
    graticule."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.colors import ListedColormap

    left, right, bottom, top = image.extent
    aspect = min(1.4, max(0.3, (top - bottom) / (right - left)))
    fig = plt.figure(figsize=(width, 1.2 + (width - 1.6) * aspect), dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.set_facecolor(BACKGROUND)
    cmap, coast = colour_map(field)
    low, high = _limits(image.values)
    if (image.on_grid & np.isnan(image.values)).any():  # points without a value: grey
        ax.imshow(
            np.ma.masked_where(~image.on_grid, np.zeros(image.on_grid.shape)),
            origin="lower",
            extent=image.extent,
            cmap=ListedColormap([NO_VALUE]),
            interpolation="nearest",
        )
    shown = ax.imshow(
        np.ma.masked_invalid(image.values),
        origin="lower",
        extent=image.extent,
        cmap=cmap,
        vmin=low,
        vmax=high,
        interpolation="nearest",
    )
    to_map = lon_lat_to(raw.crs)
    if raw.crs is not None:  # a graticule every 10 degrees says where a projected map is
        grid_lines = coastlines.project(coastlines.graticule(10.0), to_map, image.extent)
        ax.add_collection(LineCollection(grid_lines, colors="#7f7f7f", linewidths=0.4))
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        ax.set_xlabel("longitude (degrees east)")
        ax.set_ylabel("latitude (degrees north)")
    for kind, line_width in (("border", 0.5), ("coast", 0.9)):
        lines = coastlines.project(coastlines.lon_lat_lines(kind), to_map, image.extent)
        ax.add_collection(LineCollection(lines, colors=coast, linewidths=line_width))
    if raw.crs is None:  # a cell of a coarse grid centred on a pole does not reach past it
        left, right = max(left, -180.0), min(right, 180.0)
        bottom, top = max(bottom, -90.0), min(top, 90.0)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_aspect("equal")
    ax.set_title(title(field, image, raw), fontsize=9, loc="left")
    bar = fig.colorbar(shown, ax=ax, shrink=0.85, extend="both")
    bar.set_label(raw.units or "units unknown")
    return fig, coast


def picture(client, data_root: Path, field: MapField, width: float = 9.0) -> FieldMap:
    """The map of a stored field (its raw file under `data_root` gives the projection)."""
    raw = raw_grid.read(data_root / field.raw_key, field.variable)
    lat, lon, value = points(client, field)
    to_map = lon_lat_to(raw.crs)
    x, y = (lon, lat) if to_map is None else to_map(lon, lat)
    image = grid_image.from_points(np.asarray(x), np.asarray(y), value)
    figure, coast = draw(field, image, raw, width)
    return FieldMap(field, raw, image, coast, figure)


def plot_box(figure, axes) -> list[int]:
    """Where the axes sit in the saved picture: [left, top, right, bottom] pixels, top-left
    origin (call after saving: the layout is settled when drawn)."""
    box = axes.get_window_extent()
    height = figure.get_size_inches()[1] * figure.dpi
    return [round(box.x0), round(height - box.y1), round(box.x1), round(height - box.y0)]


def render(field_map: FieldMap, fmt: str) -> tuple[bytes, dict]:
    """The map as PNG or SVG bytes, and its record (with where the map sits in the picture)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    field_map.figure.savefig(buffer, format=fmt, dpi=DPI)
    record = field_map.record() | {
        "plot_box": plot_box(field_map.figure, field_map.figure.axes[0]),
        "size": [round(v * DPI) for v in field_map.figure.get_size_inches()],
    }
    plt.close(field_map.figure)
    return buffer.getvalue(), record


def save(field_map: FieldMap, out: Path) -> dict:
    """Write the map (PNG or SVG, by the file's suffix) and return its record."""
    picture, record = render(field_map, out.suffix.lower().lstrip("."))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_bytes(picture)
    partial.replace(out)
    return record | {"out": str(out)}
