"""`gridflow report`: one self-contained HTML page of what the archive holds, for people.

At the top, the run's clock (`now`) and the status of every enabled source (the facts of
`gridflow status`: newest complete cycle, lag, loaded, invalid, pending, waiting, failed, stale
sources marked, failures and the last error with their logs). Then the figures (matplotlib):
a map of each source's newest field on its own grid (`gridflow.pictures.maps`), the ingest timeline
(one panel per source, cycles by step, coloured by state), bytes fetched and rows loaded per
source (log scales, so a source of 121 rows shows beside one of 11 M), and the purge history.
Everything comes from the data root's own files and read-only queries of the store (the maps).
"""

from __future__ import annotations

import base64
import html
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridflow import paths
from gridflow.ops import human, metric_counts, status
from gridflow.pictures import maps
from gridflow.pipeline import purge
from gridflow.pipeline.load_marker import LoadMarker
from gridflow.pipeline.plan import Plan
from gridflow.pipeline.sidecar import Sidecar

STATES = {
    "loaded": "#2a9d8f",
    "invalid": "#e9c46a",
    "failed": "#e63946",
    "pending": "#8d99ae",
    "waiting": "#d9d9d9",
}
WIDTH = 9.0  # inches at 100 dpi: the page's 900 pixels
MAX_STEP_LABELS = 10  # a panel of more steps labels every few


def _encoded(figure, fmt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=maps.DPI)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _file_states(root: Path, p: Plan, source: str) -> list[tuple[datetime, str, str]]:
    """(cycle, step, state) of the window's files and of every file with a marker."""
    found = {}
    folder = root / paths.SOURCES / source
    for marker in paths.clickhouse_markers(root, source):
        cycle = paths.cycle_of(marker.parent.parent.parent.name)
        state = "invalid" if LoadMarker.read(marker).invalid else "loaded"
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


def _naive(moment: datetime) -> datetime:
    """matplotlib's dates are UTC without a zone."""
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _time_axis(ax) -> None:
    from matplotlib import dates

    locator = dates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator))


def timeline(root: Path, p: Plan, sources: list[str], now: datetime):
    """One panel per source (its steps up, its cycles across on a time axis of its own: a week
    of daily ERA5 beside minutes of scans), one legend, the run's clock marked."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    files = {source: _file_states(root, p, source) for source in sources}
    steps = {source: sorted({s for _, s, _ in files[source]}) for source in sources}
    heights = [0.85 + 0.16 * min(len(steps[s]), 14) for s in sources]
    fig = plt.figure(figsize=(WIDTH, 0.9 + sum(heights)), dpi=maps.DPI, layout="constrained")
    axes = fig.subplots(len(sources), 1, height_ratios=heights, squeeze=False)[:, 0]
    seen = set()
    for ax, source in zip(axes, sources, strict=True):
        names = steps[source]
        for state, colour in STATES.items():
            chosen = [(_naive(c), names.index(s)) for c, s, st in files[source] if st == state]
            if chosen:
                seen.add(state)
                when, where = zip(*chosen, strict=True)
                ax.scatter(when, where, c=colour, s=24, marker="s", clip_on=False, zorder=3)
        ax.axvline(_naive(now), color="#1d3557", linestyle="--", linewidth=1)
        every = max(1, -(-len(names) // MAX_STEP_LABELS))
        ax.set_yticks(range(0, len(names), every), names[::every], fontsize=7)
        ax.set_ylim(-0.7, max(len(names), 1) - 0.3)
        ax.set_title(source, loc="left", fontsize=9, fontweight="bold")
        if not names:
            ax.text(
                0.5,
                0.5,
                "nothing in the window",
                ha="center",
                va="center",
                transform=ax.transAxes,
                fontsize=8,
                color="#555555",
            )
        times = [_naive(c) for c, _, _ in files[source]] + [_naive(now)]
        pad = max((max(times) - min(times)) * 0.04, timedelta(minutes=30))
        ax.set_xlim(min(times) - pad, max(times) + pad)
        _time_axis(ax)
        ax.tick_params(axis="x", labelsize=7)
        ax.xaxis.get_offset_text().set_fontsize(7)
        ax.grid(axis="x", color="#eeeeee")
    axes[-1].set_xlabel("cycle or scan time (UTC); each source on its own time axis")
    handles = [
        Line2D([], [], marker="s", linestyle="", color=STATES[s], label=s)
        for s in STATES
        if s in seen
    ]
    handles.append(Line2D([], [], color="#1d3557", linestyle="--", label="now (the run's clock)"))
    fig.legend(
        handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8, frameon=False
    )
    return fig


def _per_source(root: Path, sources: list[str]):
    """(bytes fetched, bytes of the whole objects, {(source, table): rows}) from the sidecars
    and load markers."""
    fetched, whole, rows = {}, {}, {}
    for source in sources:
        fetched[source] = whole[source] = 0
        for path in paths.sidecars(root, source):
            sidecar = Sidecar.read(path)
            fetched[source] += metric_counts.wire_bytes(sidecar)  # as the metrics count it
            whole[source] += sidecar.upstream_size or sidecar.size
        for path in paths.clickhouse_markers(root, source):
            marker = LoadMarker.read(path)
            key = (source, marker.table or "grid_data")
            rows[key] = rows.get(key, 0) + (marker.rows or 0)
    return fetched, whole, rows


def _amount(value: float, unit: str) -> str:
    for size, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def _log_bars(ax, labels, series, unit: str) -> None:
    """Horizontal bars on a log axis: `series` is [(name, colour, values)], side by side."""
    count = len(series)
    height = 0.8 / count
    positives = [v for _, _, values in series for v in values if v > 0]
    floor = min(positives) / 4 if positives else 0.1
    for k, (name, colour, values) in enumerate(series):
        offsets = [i - 0.4 + height * (k + 0.5) for i in range(len(labels))]
        ax.barh(
            offsets,
            [v if v > 0 else 0 for v in values],
            height,
            left=floor,
            color=colour,
            label=name,
        )
        for y, v in zip(offsets, values, strict=True):
            ax.text(
                max(v, floor) * 1.15, y, _amount(v, unit) if v else "none", va="center", fontsize=7
            )
    ax.set_xscale("log")
    top = max(positives) if positives else 1.0
    ax.set_xlim(floor, top * 30)  # room for the labels
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)  # the first source on top
    ax.grid(axis="x", color="#eeeeee")


def volume_figure(sources: list[str], fetched: dict, whole: dict, rows: dict):
    """Bytes (whole objects against what was fetched) and rows per source, each on its own
    log axis: one panel, one unit."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(WIDTH, 0.9 + 0.42 * len(sources)),
        dpi=maps.DPI,
        layout="constrained",
        sharey=True,
    )
    _log_bars(
        left,
        sources,
        [
            ("whole upstream objects", "#a8dadc", [whole[s] for s in sources]),
            ("fetched (ranged GETs)", "#457b9d", [fetched[s] for s in sources]),
        ],
        "B",
    )
    left.set_xlabel("bytes (log scale)")
    tables = sorted({t for _, t in rows})
    colours = ["#1d3557", "#e76f51", "#2a9d8f"]
    _log_bars(
        right,
        sources,
        [
            (f"rows in {t}", colours[i % len(colours)], [rows.get((s, t), 0) for s in sources])
            for i, t in enumerate(tables)
        ],
        "",
    )
    right.set_xlabel("rows loaded (log scale)")
    handles, labels = [], []
    for ax in (left, right):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    fig.legend(
        handles, labels, loc="outside upper center", ncols=len(labels), fontsize=8, frameon=False
    )
    return fig


def purge_figure(root: Path):
    """Each purge's freed megabytes and deleted rows, in two panels over the purges' times."""
    import matplotlib.pyplot as plt

    reports = []
    for path in sorted((root / purge.REPORTS).glob("*.json")):
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    if not reports:
        fig, ax = plt.subplots(figsize=(WIDTH, 1.2), dpi=maps.DPI, layout="constrained")
        ax.text(
            0.5,
            0.5,
            "no purge has run yet",
            ha="center",
            va="center",
            fontsize=10,
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return fig
    when = [_naive(datetime.fromisoformat(r["purged_at"])) for r in reports]
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(WIDTH, 3.6), dpi=maps.DPI, layout="constrained", sharex=True
    )
    for ax, key, scale, unit, colour in (
        (top, "bytes_freed", 1e6, "MB freed", "#457b9d"),
        (bottom, "rows_deleted", 1.0, "rows deleted", "#e76f51"),
    ):
        values = [r.get(key, 0) / scale for r in reports]
        ax.vlines(when, 0, values, color=colour, linewidth=2)
        ax.scatter(when, values, color=colour, s=18, zorder=3)
        ax.set_ylabel(unit)
        ax.set_ylim(0, max(max(values) * 1.25, 1))
        ax.grid(axis="y", color="#eeeeee")
    for moment, report in zip(when, reports, strict=True):
        if report.get("failures"):
            top.annotate(
                f"{len(report['failures'])} failed",
                (moment, 0),
                color="#e63946",
                fontsize=7,
                xytext=(3, 3),
                textcoords="offset points",
            )
    span = max(when) - min(when)
    pad = max(span * 0.05, timedelta(hours=6))
    bottom.set_xlim(min(when) - pad, max(when) + pad)
    _time_axis(bottom)
    bottom.set_xlabel("when the purge ran (UTC)")
    return fig


def _or_dash(value, show) -> str:
    return "-" if value is None else show(value)


def status_html(report: dict) -> str:
    """The status table (what `gridflow status` prints, in its formats) and a list of what
    needs a look."""
    esc = html.escape
    head = status.HEAD
    rows = []
    for s in report["sources"]:
        stale = ' <span class="badge">STALE</span>' if s.get("stale") else ""
        cells = (esc(s["source"]) + stale, *(esc(c) for c in status.cells(s)))
        bad = s.get("stale") or s.get("failed") or s.get("invalid") or s.get("unreachable")
        rows.append(
            f'<tr class="{"attention" if bad else ""}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    notes = []
    for s in report["sources"]:
        name = esc(s["source"])
        if s.get("stale"):
            notes.append(
                f"{name}: STALE, no complete cycle newer than "
                f"{_or_dash(s.get('stale_after_hours'), lambda h: human.duration(h * 3600))}"
            )
        if s.get("unreachable"):
            notes.append(f"{name}: upstream unreachable: {esc(str(s['unreachable']))}")
        for failure in s.get("failures", [])[:5]:
            notes.append(
                f"{name}: failed {esc(failure['cycle'])} {esc(failure['step'])}, "
                f"log <code>{esc(failure['log'])}</code>"
            )
        for bad in s.get("invalid_files", [])[:3]:
            notes.append(
                f"{name}: invalid <code>{esc(bad['marker'])}</code>: "
                f"{esc('; '.join(bad['problems']))}"
            )
        if s.get("last_error"):
            notes.append(
                f"{name}: last error: {esc(s['last_error']['error'])}, log "
                f"<code>{esc(s['last_error']['log'])}</code>"
            )
    for host in report.get("hosts", []):
        if host.get("paused"):
            notes.append(
                f"host {esc(host['host'])}: PAUSED until "
                f"{human.moment(host['open_until'])} after "
                f"{human.count(host['failures'])} failures in a row"
            )
    purged = report.get("last_purge")
    last = (
        f"last purge {human.moment(purged['purged_at'])}: "
        f"{human.count(purged.get('files_deleted') or 0)} files, "
        f"{human.size(purged.get('bytes_freed') or 0)}, "
        f"{human.count(purged.get('rows_deleted') or 0)} rows"
        + (f", {human.count(purged['failures'])} failed" if purged.get("failures") else "")
        if purged
        else "no purge has run yet"
    )
    listed = "".join(f"<li>{n}</li>" for n in notes) or "<li>nothing: every source is fine</li>"
    return (
        '<table class="status"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table><p>{esc(last)}</p><h3>Needs a look</h3><ul>{listed}</ul>"
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridflow report</title>
<style>
body{{font-family:sans-serif;max-width:960px;margin:1em auto;color:#222}}
figure{{margin:1.5em 0}} figcaption{{font-weight:bold;margin-bottom:.3em}}
img{{max-width:100%;display:block}} h2{{margin-top:1.6em;border-bottom:1px solid #ccc}}
table.status{{border-collapse:collapse;font-size:.85em}}
.status th,.status td{{padding:.25em .6em;border-bottom:1px solid #ddd;text-align:right}}
.status th:first-child,.status td:first-child{{text-align:left}}
tr.attention td{{background:#fde2e4}} .badge{{background:#e63946;color:#fff;padding:0 .3em;
border-radius:3px;font-size:.8em}} code{{font-size:.85em}}
</style></head>
<body><h1>gridflow report</h1>
<p>Run clock (<code>now</code>): <b>{now} UTC</b>; written {written} UTC; sources: {sources}</p>
<h2>Status</h2>
{status}
{sections}
<script>
window.addEventListener("load", () => {{
  const images = [...document.querySelectorAll("figure img")];
  const drawn = images.filter((i) => i.complete && i.naturalWidth > 0).length;
  images.forEach((i) => {{
    const r = i.getBoundingClientRect();
    i.dataset.rect = [r.left + scrollX, r.top + scrollY, r.width, r.height].join(",");
  }});
  document.body.dataset.height = document.documentElement.scrollHeight;
  document.body.dataset.rendered = drawn + "/" + images.length;
}});
</script></body></html>
"""


def _figure(title: str, fmt: str, data: str, extra: str = "") -> str:
    media = {"svg": "svg+xml", "png": "png"}[fmt]
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<img alt="{html.escape(title)}" src="data:image/{media};base64,{data}"{extra}>'
        "</figure>"
    )


def map_sections(client, root: Path, sources: list[str], place) -> tuple[list, list[str]]:
    """([(title, html)] of each source's newest field, [notes on sources without one])."""
    if client is None:
        return [], ["no maps: nothing is loaded in the store yet"]
    found, notes = [], []
    for source in sources:
        if place is not None and place[0] == source:
            choice = maps.FieldChoice(source, place[1], place[2])
        else:
            choice = maps.FieldChoice(source)
        field = maps.choose(client, choice)
        if field is None:
            notes.append(f"{source}: no field in grid_data to map")
            continue
        drawn = maps.picture(client, root, field, width=WIDTH)
        picture, record = maps.render(drawn, "png")
        title = (
            f"{source}: {field.variable} {field.level} {field.descriptor}".rstrip()
            + f", valid {field.valid_time:%Y-%m-%d %H:%M} UTC"
        )
        extra = f" data-map='{html.escape(json.dumps(record, default=str), quote=True)}'"
        found.append((title, _figure(title, "png", base64.b64encode(picture).decode(), extra)))
    return found, notes


def build(
    cfg: dict,
    p: Plan,
    client,
    out: Path,
    place: tuple[str, str, str] | None,
    now: datetime | None = None,
) -> list[str]:
    """Write the page; returns its figures' titles."""
    from gridflow.config import loading as config

    now = now or config.now(cfg)
    root = config.data_root(cfg).resolve()
    sources = list(cfg["sources_enabled"])
    shown = status.collect(cfg, p, now)
    fetched, whole, rows = _per_source(root, sources)
    mapped, notes = map_sections(client, root, sources, place)
    charts = [
        ("Ingest timeline", timeline(root, p, sources, now)),
        ("Bytes fetched and rows loaded per source", volume_figure(sources, fetched, whole, rows)),
        ("Purge history", purge_figure(root)),
    ]
    sections = ["<h2>Newest field of each source</h2>"]
    sections += [block for _, block in mapped]
    sections += [f"<p>{html.escape(n)}</p>" for n in notes]
    sections.append("<h2>Ingest, volume and purges</h2>")
    sections += [_figure(title, "svg", _encoded(fig, "svg")) for title, fig in charts]
    page = PAGE.format(
        now=now.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
        written=datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        sources=html.escape(", ".join(sources)),
        status=status_html(shown),
        sections="\n".join(sections),
    )
    paths.write_whole(out, page)
    return [title for title, _ in mapped] + [title for title, _ in charts]
