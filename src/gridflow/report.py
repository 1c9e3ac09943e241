"""`gridflow report`: one self-contained HTML page with the figures people look at (matplotlib,
as inline SVG): each source's ingest timeline (cycles by step, coloured by state), a map of the
newest field of a chosen variable, bytes fetched against the whole objects' size, rows per
source and table, and the purge history. Everything comes from the data root's own files and
one read-only query of the store (the map)."""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from gridflow import metric_counts, paths, purge, readonly
from gridflow.plan import Plan

STATES = {
    "loaded": "#2a9d8f",
    "invalid": "#e9c46a",
    "failed": "#e63946",
    "pending": "#8d99ae",
    "waiting": "#d9d9d9",
}


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _file_states(root: Path, p: Plan, source: str) -> list[tuple[datetime, str, str]]:
    """(cycle, step, state) of the window's files and of every file with a marker."""
    found = {}
    folder = root / paths.SOURCES / source
    for marker in folder.glob("*/loaded/clickhouse/*.json"):
        cycle = paths.cycle_of(marker.parent.parent.parent.name)
        checked = json.loads(marker.read_text()).get("validation")
        state = "invalid" if checked and not checked["passed"] else "loaded"
        found[(cycle, marker.stem)] = state
    for target in p.ready:
        if target.source == source:
            key = (target.cycle, paths.step_id(target.step))
            if key not in found:
                logs = folder / paths.cycle_id(target.cycle) / "logs"
                failed = any(
                    ": error:" in log.read_text(errors="replace")
                    for log in logs.glob(f"*/{key[1]}.*log")
                )
                found[key] = "failed" if failed else "pending"
    for target in p.waiting:
        if target.source == source:
            found.setdefault((target.cycle, paths.step_id(target.step)), "waiting")
    return sorted((c, s, state) for (c, s), state in found.items() if c is not None)


def timeline(root: Path, p: Plan, sources: list[str]):
    import matplotlib.pyplot as plt
    from matplotlib import dates

    fig, axes = plt.subplots(
        len(sources), 1, figsize=(9, 1.6 + 1.4 * len(sources)), squeeze=False, sharex=True
    )
    for ax, source in zip(axes[:, 0], sources, strict=True):
        files = _file_states(root, p, source)
        steps = sorted({s for _, s, _ in files})
        for state, colour in STATES.items():
            chosen = [(c, steps.index(s)) for c, s, st in files if st == state]
            if chosen:
                when = dates.date2num([c.replace(tzinfo=None) for c, _ in chosen])
                ax.scatter(when, [y for _, y in chosen], c=colour, s=28, marker="s", label=state)
        ax.xaxis_date()
        ax.set_yticks(range(len(steps)), steps, fontsize=7)
        ax.set_title(source, loc="left", fontsize=9)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    axes[-1, 0].set_xlabel("cycle (UTC)")
    fig.autofmt_xdate()
    return fig


def field_map(client, source: str, variable: str, level: str):
    import matplotlib.pyplot as plt

    params = {"s": source, "v": variable, "l": level}
    where = "source = %(s)s AND variable = %(v)s AND level = %(l)s"
    newest = readonly.query(
        client, f"SELECT max(valid_time) FROM grid_data WHERE {where}", parameters=params
    ).result_rows[0][0]
    rows = readonly.query(
        client,
        f"SELECT lat, lon, value FROM grid_data WHERE {where} AND valid_time = %(t)s "
        "AND value IS NOT NULL AND modulo(cityHash64(lat, lon), 4) = 0 LIMIT 200000",
        parameters={**params, "t": newest},
    ).result_rows
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if rows:
        lat, lon, value = zip(*rows, strict=True)
        shown = ax.scatter(lon, lat, c=value, s=2, cmap="viridis", linewidths=0)
        fig.colorbar(shown, ax=ax, shrink=0.8)
    ax.set_title(f"{source} {variable} {level}, valid {newest}", fontsize=9)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    return fig


def _per_source(root: Path, sources: list[str]):
    fetched, whole, rows = {}, {}, {}
    for source in sources:
        folder = root / paths.SOURCES / source
        fetched[source] = whole[source] = 0
        for sidecar in folder.glob("*/raw/*.json"):
            meta = json.loads(sidecar.read_text())
            fetched[source] += metric_counts.wire_bytes(meta)  # as the metrics count it
            whole[source] += meta.get("upstream_size") or meta.get("size", 0)
        for marker in folder.glob("*/loaded/clickhouse/*.json"):
            meta = json.loads(marker.read_text())
            rows[source] = rows.get(source, 0) + meta.get("rows", 0)
    return fetched, whole, rows


def bytes_figure(fetched: dict, whole: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    names = list(fetched)
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [whole[n] / 1e6 for n in names], 0.4, label="whole objects")
    ax.bar([i + 0.2 for i in x], [fetched[n] / 1e6 for n in names], 0.4, label="fetched")
    ax.set_xticks(list(x), names, fontsize=8)
    ax.set_ylabel("MB")
    ax.legend(fontsize=8)
    return fig


def rows_figure(rows: dict):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.2))
    ax.bar(list(rows), [rows[n] / 1e6 for n in rows], color="#457b9d")
    ax.set_ylabel("million rows")
    return fig


def purge_figure(root: Path):
    import matplotlib.pyplot as plt

    reports = [json.loads(p.read_text()) for p in sorted((root / purge.REPORTS).glob("*.json"))]
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if reports:
        when = [datetime.fromisoformat(r["purged_at"]) for r in reports]
        ax.plot(when, [r["bytes_freed"] / 1e6 for r in reports], marker="o", label="MB freed")
        ax.plot(when, [r["rows_deleted"] / 1e6 for r in reports], marker="s", label="M rows")
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
    else:
        ax.text(0.5, 0.5, "no purge has run yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    return fig


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridflow report</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:1em auto}}figure{{margin:1.5em 0}}
figcaption{{font-weight:bold;margin-bottom:.3em}}img{{max-width:100%}}</style></head>
<body><h1>gridflow report</h1><p>{when}; sources: {sources}</p>
{figures}
<script>
window.addEventListener("load", () => {{
  const images = [...document.querySelectorAll("figure img")];
  const drawn = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.rendered = drawn + "/" + images.length;
}});
</script></body></html>
"""


def build(cfg: dict, p: Plan, client, out: Path, place: tuple[str, str, str] | None) -> list[str]:
    """Write the page; returns its figures' titles."""
    root = Path(cfg["data_root"]).resolve()
    sources = list(cfg["sources_enabled"])
    fetched, whole, rows = _per_source(root, sources)
    figures = [("Ingest timeline", timeline(root, p, sources))]
    if place is not None and client is not None:
        figures.append((f"Newest {place[1]} ({place[0]})", field_map(client, *place)))
    figures += [
        ("Bytes fetched against the whole objects", bytes_figure(fetched, whole)),
        ("Rows loaded per source", rows_figure(rows)),
        ("Purge history", purge_figure(root)),
    ]
    body = "\n".join(
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<img alt="{html.escape(title)}" src="data:image/svg+xml;base64,{_svg(fig)}"></figure>'
        for title, fig in figures
    )
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text(PAGE.format(when=when, sources=", ".join(sources), figures=body))
    tmp.replace(out)
    return [title for title, _ in figures]
