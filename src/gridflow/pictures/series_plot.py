"""`gridflow point --plot`: a point's series across runs as one chart.

Each run's forecast is a line over valid time, so the runs' forecasts for one moment stand one
above the other: how the forecast for a time changed from run to run (what forecasters call
dprog/dt). Older runs are lighter, the newest darkest. A series of analyses or scans (one value
per run: ERA5, MRMS, GOES) is one line through them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

DPI = 100
MAX_LEGEND_RUNS = 12  # more runs are told apart by a colour bar of run time


@dataclass(frozen=True)
class Line:
    label: str
    valid: list[datetime]
    values: list[float | None]
    colour: tuple


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).replace(tzinfo=None)


def palette():
    """Runs' colours, old to new: viridis reversed, without its palest yellow."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    return ListedColormap(colormaps["viridis_r"](np.linspace(0.15, 0.95, 256)))


def lines(rows: list[dict]) -> tuple[list[Line], bool]:
    """(lines to draw, whether they are runs) from `gridflow point`'s rows."""
    from matplotlib import colormaps

    runs: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        runs.setdefault((row["ref_time"], row.get("descriptor", "")), []).append(row)
    if all(len(r) == 1 for r in runs.values()):  # analyses or scans: one line through them
        ordered = sorted(rows, key=lambda r: r["valid_time"])
        valid = [_time(r["valid_time"]) for r in ordered]
        return [
            Line("value", valid, [r["value"] for r in ordered], colormaps["viridis"](0.3))
        ], False
    colours = palette()
    keys = sorted(runs)
    found = []
    for n, key in enumerate(keys):
        ordered = sorted(runs[key], key=lambda r: r["valid_time"])
        shade = n / max(len(keys) - 1, 1)  # newer runs darker
        label = f"run {_time(key[0]):%Y-%m-%d %H:%M}" + (f" {key[1]}" if key[1] else "")
        found.append(
            Line(
                label,
                [_time(r["valid_time"]) for r in ordered],
                [r["value"] for r in ordered],
                colours(shade),
            )
        )
    return found, True


def draw(rows: list[dict], what: str, units: str | None, width: float = 9.0):
    """The chart of a point's rows (`gridflow point`'s JSON rows, oldest run first)."""
    import matplotlib.pyplot as plt
    from matplotlib import dates

    drawn, are_runs = lines(rows)
    fig, ax = plt.subplots(figsize=(width, 4.2), dpi=DPI, layout="constrained")
    for n, line in enumerate(drawn):
        newest = are_runs and n == len(drawn) - 1
        values = [float("nan") if v is None else v for v in line.values]
        ax.plot(
            line.valid,
            values,
            color=line.colour,
            marker="o",
            markersize=3,
            linewidth=2.2 if newest else 1.2,
            label=line.label,
            zorder=2 + n,
        )
    first = rows[0]
    place = (
        f"grid point {first['grid_lat']:.3f}, {first['grid_lon']:.3f} "
        f"({first['distance_km']:.1f} km from the place asked)"
    )
    kind = f"{len(drawn)} runs, each a line over valid time" if are_runs else "one value a time"
    ax.set_title(f"{what} [{units or 'units unknown'}]\n{place}; {kind}", fontsize=9, loc="left")
    ax.set_ylabel(units or "units unknown")
    ax.set_xlabel("valid time (UTC)")
    locator = dates.AutoDateLocator(maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))
    ax.grid(color="#eeeeee")
    if are_runs and len(drawn) <= MAX_LEGEND_RUNS:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    elif are_runs:
        from matplotlib.cm import ScalarMappable
        from matplotlib.colors import Normalize

        runs = [dates.date2num(_time(k)) for k in sorted({r["ref_time"] for r in rows})]
        shown = ScalarMappable(Normalize(min(runs), max(runs)), palette())
        bar = fig.colorbar(shown, ax=ax, label="run (reference time)")
        bar.ax.yaxis_date()
    return fig, drawn


def save(figure, out: Path) -> None:
    import matplotlib.pyplot as plt

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    figure.savefig(partial, format=out.suffix.lower().lstrip("."), dpi=DPI)
    plt.close(figure)
    partial.replace(out)
