"""`gridflow point --plot`: each run's forecast a line over valid time (dprog/dt)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import matplotlib
import numpy as np
from matplotlib import dates
from PIL import Image

from gridflow.pictures import series_plot

matplotlib.use("Agg")


def _rows(runs: int, steps: int, hours: int = 6) -> list[dict]:
    """Rows as `gridflow point` prints them: each run warmer by 3 K, rising 1 K a step."""
    start = datetime(2025, 3, 12, tzinfo=UTC)
    rows = []
    for r in range(runs):
        ref = start + timedelta(hours=hours * r)
        for s in range(steps):
            valid = ref + timedelta(hours=3 * s)
            rows.append(
                {
                    "ref_time": f"{ref:%Y-%m-%dT%H:%M:%SZ}",
                    "step": 180 * s,
                    "valid_time": f"{valid:%Y-%m-%dT%H:%M:%SZ}",
                    "forecast": f"{3 * s} hour fcst",
                    "value": 280.0 + 3 * r + s,
                    "grid_lat": 52.5,
                    "grid_lon": 12.5,
                    "distance_km": 60.9,
                }
            )
    return rows


def test_each_run_is_a_line_of_its_own_colour_where_its_values_are(tmp_path):
    rows = _rows(runs=3, steps=5)
    figure, lines = series_plot.draw(rows, "gfs TMP 2 m above ground", "K")
    assert [line.label for line in lines] == [
        "run 2025-03-12 00:00",
        "run 2025-03-12 06:00",
        "run 2025-03-12 12:00",
    ]
    ax = figure.axes[0]
    out = tmp_path / "series.png"
    series_plot.save(figure, out)  # the layout is settled once drawn
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    height = pixels.shape[0]
    for line in lines:
        want = np.array(line.colour[:3]) * 255
        for when, value in zip(line.valid, line.values, strict=True):
            x, y = ax.transData.transform((dates.date2num(when), value))
            row, col = round(height - y), round(x)
            patch = pixels[row - 1 : row + 2, col - 1 : col + 2].reshape(-1, 3)
            assert np.abs(patch - want).sum(axis=1).min() < 40, (line.label, when, value)
    # the newest run is drawn darkest
    assert sum(lines[-1].colour[:3]) < sum(lines[0].colour[:3])
    # the forecasts for one valid time differ run to run: one above the other
    assert lines[0].values[2] != lines[1].values[0]
    assert lines[0].valid[2] == lines[1].valid[0]


def test_analyses_are_one_line_and_many_runs_get_a_colour_bar():
    analyses = _rows(runs=24, steps=1, hours=1)
    _, lines = series_plot.draw(analyses, "era5 2t", "K")
    assert len(lines) == 1 and len(lines[0].values) == 24
    many = _rows(runs=20, steps=3)
    figure, lines = series_plot.draw(many, "gfs TMP", None)
    assert len(lines) == 20 and len(figure.axes) == 2  # the chart and its colour bar
    assert figure.axes[0].get_legend() is None
