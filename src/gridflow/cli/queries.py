"""What people ask the stores: a point's series or newest value, SQL, a value's lineage, a map."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path

from gridflow.cli.args import (
    UserError,
    chosen_source,
    configuration,
    field_asked,
    nothing_loaded,
    store_client,
)

log = logging.getLogger(__name__)


def cmd_point(args) -> None:
    from gridflow.query import grids as query
    from gridflow.query import options as query_options

    query_options.check_place(args)
    plot = getattr(args, "plot", None)
    if plot and Path(plot).suffix.lower() not in (".png", ".svg"):
        raise UserError(f"--plot {plot}: a chart is written as .png or .svg")
    chosen = chosen_source(args)
    if chosen.gauge:
        if plot:
            raise UserError(f"--plot draws grid series; {args.source} is a gauge source")
        return _gauge_point(args)
    needs_field = "--variable and --level name the field (a gauge source needs neither)"
    if chosen.defined and not (args.variable and args.level):
        raise UserError(needs_field)
    period = query_options.period(args)
    client, _ = store_client(args, args.wait, loaded=True)
    try:
        if not chosen.defined and not query.has_source(client, args.source):
            raise UserError(chosen.unknown())
        if not (args.variable and args.level):
            raise UserError(needs_field)
        field = field_asked(args)
        rows = query.series(
            client,
            field,
            args.lat,
            args.lon,
            with_lineage=bool(plot),
            latest=args.latest,
            period=period,
        )
        if not rows:
            raise UserError(query_options.why_empty(args, client, field, period))
    finally:
        client.close()
    if plot:
        _plot_series(args, rows, Path(plot))
    for row in rows:
        print(json.dumps({k: v for k, v in row.items() if k not in ("raw_file_id", "raw_key")}))


def _plot_series(args, rows: list[dict], out: Path) -> None:
    import matplotlib

    from gridflow.pictures import raw_grid, series_plot

    matplotlib.use("Agg")  # no display: the chart is written, never shown
    root = Path(configuration(args)["data_root"]).resolve()
    units = raw_grid.read(root / rows[-1]["raw_key"], args.variable).units
    what = f"{args.source} {args.variable} {args.level} {args.descriptor or ''}".rstrip()
    figure, lines = series_plot.draw(rows, what, units)
    series_plot.save(figure, out)
    log.info("plot %s: %d line(s), %d values", out, len(lines), len(rows))


def _gauge_point(args) -> None:
    from datetime import date

    from gridflow.query import gauges as gauge_query

    def day(option, text):
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            raise UserError(f"{option} {text!r} is not a day (YYYY-MM-DD)") from None

    start, end = day("--start", args.start), day("--end", args.end)
    if start and end and end < start:
        raise UserError(f"--end {args.end} is before --start {args.start}")
    client, _ = store_client(args, args.wait)
    try:
        found = gauge_query.daily(client, args.source, args.lat, args.lon, start, end, args.latest)
    finally:
        client.close()
    if not found:
        raise UserError(f"no daily values of {args.source} at the nearest gauge in that range")
    for row in found:
        print(json.dumps(row))


def cmd_sql(args) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    from gridflow.query import readonly, sql_guard
    from gridflow.sinks import clickhouse

    if not readonly.statements(args.query):
        raise UserError('the query is empty: give one statement, e.g. "SELECT 1"')
    client, dsn = store_client(args, args.wait)
    try:
        sql_guard.check(client, args.query)
        result = readonly.query(client, args.query)
    except (DatabaseError, readonly.StoreRefused) as exc:
        refused = exc if isinstance(exc, readonly.StoreRefused) else None
        refused = refused or readonly.store_refusal(exc, args.query)
        # an empty store has no tables yet: say so as `point` does
        if getattr(refused, "code", None) == readonly.UNKNOWN_TABLE_CODE and not int(
            client.command(f"EXISTS TABLE {clickhouse.TABLE}")
        ):
            raise UserError(nothing_loaded(dsn)) from None
        raise refused from None
    finally:
        client.close()
    names = result.column_names
    for row in result.result_rows:
        print(json.dumps(dict(zip(names, row, strict=True)), default=str))


def cmd_trace(args) -> None:
    from gridflow.query import grids as query
    from gridflow.query import options as query_options
    from gridflow.sinks import postgis

    query_options.check_place(args)
    chosen = chosen_source(args)
    if chosen.gauge:
        raise UserError(f"{args.source} is a gauge network: `gridflow point` gives its values")
    cfg = configuration(args)
    if not cfg["sinks"]["postgis"]["dsn"]:
        raise UserError("tracing needs the catalog: set GRIDFLOW_PG_DSN")
    if not (args.variable and args.level):
        raise UserError("--variable and --level name the field to trace")
    period = query_options.period(args)
    client, _ = store_client(args, args.wait, loaded=True)
    try:
        if not chosen.defined and not query.has_source(client, args.source):
            raise UserError(chosen.unknown())
        field = field_asked(args)
        rows = query.series(client, field, args.lat, args.lon, with_lineage=True, period=period)
        if not rows:
            raise UserError(query_options.why_empty(args, client, field, period))
    finally:
        client.close()
    with postgis.connect(cfg["sinks"]["postgis"]["dsn"]) as conn, postgis.reading(conn):
        urls = postgis.source_urls(conn, [r["raw_file_id"] for r in rows])
    for row in rows:
        print(json.dumps({**row, "source_url": urls.get(row["raw_file_id"])}))


def cmd_map(args) -> None:
    import matplotlib

    from gridflow.pictures import maps

    matplotlib.use("Agg")  # no display: the picture is written, never shown
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".svg"):
        raise UserError(f"--out {args.out}: a map is written as .png or .svg")
    try:
        ref_time = datetime.fromisoformat(args.ref_time) if args.ref_time else None
    except ValueError:
        raise UserError(f"--ref-time {args.ref_time!r} is not a time (2025-03-12T06:00Z)") from None
    step = None if args.step is None else round(args.step * 60)
    choice = maps.FieldChoice(
        args.source, args.variable, args.level, args.descriptor, ref_time, step
    )
    client, _ = store_client(args, args.wait, loaded=True)
    try:
        field = maps.choose(client, choice)
        if field is None:
            raise UserError(
                f'no field of source={args.source} matches; `gridflow sql "SELECT DISTINCT '
                f'source, variable, level, ref_time, step FROM grid_data"` lists what is loaded'
            )
        drawn = maps.picture(client, Path(configuration(args)["data_root"]).resolve(), field)
    finally:
        client.close()
    record = maps.save(drawn, out)
    if args.json:
        print(json.dumps(record, default=str))
        print(json.dumps({"summary": True, "maps": 1, "out": str(out)}))
    log.info(
        "map %s: %s %s %s, valid %s UTC, %s points on the %s grid%s",
        out,
        field.source,
        field.variable,
        field.level,
        f"{field.valid_time:%Y-%m-%d %H:%M}",
        f"{drawn.image.points:,}",
        drawn.raw.projection,
        f" ({drawn.raw.note})" if drawn.raw.note else "",
    )
