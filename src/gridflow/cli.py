"""The `gridflow` command: what the workflow's rules run, and what people query with."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from gridflow import config as gfconfig
from gridflow import errors, logs, operating
from gridflow.dsn import redact, resolve

log = logging.getLogger(__name__)


class UserError(errors.UsageError):
    """A request that cannot be answered (no such data, a command needing what is not set)."""


def _cfg(args) -> dict:
    return gfconfig.load_files(args.configfile or [], args.project)


def _client(args, wait: float = 30.0, loaded: bool = False):
    """A store client; with `loaded`, one whose store has grid_data (queries need it). Only a
    repair may create the embedded store: reading commands never make a folder."""
    from gridflow.sinks import clickhouse

    dsn = args.dsn or _cfg(args)["sinks"]["clickhouse"]["dsn"]
    client = clickhouse.connect(dsn, wait_seconds=wait, create=getattr(args, "repair", False))
    if loaded and not int(client.command(f"EXISTS TABLE {clickhouse.TABLE}")):
        client.close()
        raise UserError(_nothing_loaded(dsn))
    return client, dsn


def _nothing_loaded(dsn: str) -> str:
    from gridflow.sinks import clickhouse

    return f"nothing is loaded in {redact(resolve(dsn))} yet (no {clickhouse.TABLE})"


def cmd_fetch(args) -> None:
    from gridflow.fetch import FetchSpec, Operating, fetch

    spec = FetchSpec.from_json(args.spec)
    where = Operating.from_dict(operating.of_source(spec.source, args.settings))
    results = Path(args.results) if args.results else None
    sidecar = fetch(spec, where, Path(args.raw), Path(args.idx), Path(args.sidecar), results)
    log.info(
        "fetched %s: %s message(s), %s field(s), %s bytes in %d range(s)",
        sidecar["url"],
        sidecar["messages"],
        sidecar["fields"],
        sidecar["size"],
        len(sidecar["byte_ranges"]),
    )


def _job_service(source: str):
    from gridflow import sources

    where = operating.of_source(source)
    return sources.family_class(where["family"]).service(where), where


def cmd_job_submit(args) -> None:
    from gridflow import jobs

    service, _ = _job_service(args.source)
    job = jobs.submit(service, json.loads(args.request), Path(args.out))
    log.info("%s job %s submitted at %s", service.name, job["job_id"], job["submitted_at"])


def cmd_job_await(args) -> None:
    from gridflow import jobs

    service, where = _job_service(args.source)
    seconds = args.seconds if args.seconds is not None else where.get("wait_seconds", 600)
    done = jobs.wait(service, Path(args.job), Path(args.out), seconds, where.get("give_up_hours"))
    made = "; ".join(
        f"{a['href']} ({a['size'] if a['size'] is not None else '?'} bytes, {a['type']})"
        for a in done["assets"]
    )
    log.info("%s job %s done: %s", service.name, done["job"]["job_id"], made or "no outputs")


def cmd_shred(args) -> None:
    from gridflow.shred import ShredOptions, shred

    options = ShredOptions.from_source(json.loads(args.options)) if args.options else ShredOptions()
    stats = shred(Path(args.raw), Path(args.idx), Path(args.sidecar), Path(args.out), options)
    log.info("shredded %s: %s field(s), %s rows", args.raw, stats.fields, stats.rows)


def cmd_load(args) -> None:
    from gridflow import catalog, formats, validate
    from gridflow.sinks import clickhouse

    sidecar = json.loads(Path(args.sidecar).read_text())
    table = formats.get(sidecar["format"]).table.name
    dsn = operating.dsn("clickhouse", args.dsn)
    client = clickhouse.connect(dsn, wait_seconds=args.wait)
    fields = None
    try:
        clickhouse.migrate(client, operating.migrations("clickhouse", args.migrations))
        rows = clickhouse.load(
            client, Path(args.parquet), sidecar["source"], sidecar["raw_key"], table
        )
        if sidecar.get("gauge"):  # a gauge's metadata came with its record
            clickhouse.record_gauge(client, sidecar["source"], sidecar["gauge"], sidecar["run_id"])
        checked = None
        if table == clickhouse.TABLE:
            idx = Path(args.idx or Path(args.sidecar).with_suffix(".idx")).read_text()
            rules = operating.validation(sidecar["source"])
            checked = validate.checks(
                client, table, sidecar["source"], sidecar["raw_key"], idx, rules
            )
            # for the catalog: the PostGIS step records them (this job needs no database)
            fields = catalog.shred_fields(Path(args.parquet))
    finally:
        client.close()
    marker = {
        "table": table,
        "dsn": redact(resolve(dsn)),
        "rows": rows,
        "source": sidecar["source"],
        "raw_key": sidecar["raw_key"],
        "raw_file_id": sidecar["run_id"],
        "run_id": sidecar["run_id"],
        "parquet": args.parquet,
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if fields is not None:
        marker["fields"] = [field.as_json() for field in fields]
    if checked is not None:
        marker["validation"] = checked
        for problem in checked["problems"]:
            log.warning("validation: %s: %s", sidecar["raw_key"], problem)
    _write_marker(args.marker, marker)
    log.info("loaded %s rows of %s into %s", rows, sidecar["raw_key"], table)


def cmd_cycle_summary(args) -> None:
    """One cycle's loads: rows per table, and the markers they come from."""
    rows: dict[str, int] = {}
    for path in args.markers:
        marker = json.loads(Path(path).read_text())
        if "table" in marker:
            rows[marker["table"]] = rows.get(marker["table"], 0) + marker["rows"]
    invalid = []
    for path in args.markers:
        checked = json.loads(Path(path).read_text()).get("validation")
        if checked and not checked["passed"]:
            invalid.append({"marker": path, "problems": checked["problems"]})
    summary = {"rows": rows, "markers": sorted(args.markers), "invalid": invalid}
    Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")


def cmd_plan(args) -> None:
    """The plan for people on stderr; with --json, a record per file and a summary on stdout.
    Only a run that fetches remembers listings: a plan writes nothing."""
    from gridflow import paths, plan

    cfg = _cfg(args)
    if args.now:
        cfg["now"] = args.now
    p = plan.plan(cfg, gfconfig.now(cfg))
    log.info("%s", p.summary())
    if args.json:
        for state, targets in (("published", p.ready), ("waiting", p.waiting)):
            for t in targets:
                record = {
                    "source": t.source,
                    "cycle": paths.cycle_id(t.cycle),
                    "step": paths.step_id(t.step),
                    "state": state,
                    "expected_at": gfconfig.clock_text(t.expected_at),
                }
                why = {"why": t.why} if state == "waiting" and t.why else {}  # none if published
                print(json.dumps(record | why, default=str))
        for name, why in sorted(p.unreachable.items()):
            print(json.dumps({"source": name, "state": "unreachable", "error": why}))
        summary = {"published": len(p.ready), "waiting": len(p.waiting)}
        summary["unreachable"] = sorted(p.unreachable)
        print(json.dumps({"summary": True, **summary}))
    if p.unreachable:
        raise SystemExit(errors.UNREACHABLE)


def _chosen_source(args):
    """--source as the configuration given knows it; a gauge network's must be enabled there
    (its config names the gauges), an undefined name is refused when nothing of it is stored."""
    from gridflow import query_options

    chosen = query_options.source_choice(args, _cfg(args))
    if chosen.gauge and not chosen.is_enabled:
        raise UserError(chosen.not_enabled(args))
    return chosen


def cmd_point(args) -> None:
    from gridflow import query, query_options

    query_options.check_place(args)
    plot = getattr(args, "plot", None)
    if plot and Path(plot).suffix.lower() not in (".png", ".svg"):
        raise UserError(f"--plot {plot}: a chart is written as .png or .svg")
    chosen = _chosen_source(args)
    if chosen.gauge:
        if plot:
            raise UserError(f"--plot draws grid series; {args.source} is a gauge source")
        return _gauge_point(args)
    needs_field = "--variable and --level name the field (a gauge source needs neither)"
    if chosen.defined and not (args.variable and args.level):
        raise UserError(needs_field)
    period = query_options.period(args)
    client, _ = _client(args, args.wait, loaded=True)
    try:
        if not chosen.defined and not query.has_source(client, args.source):
            raise UserError(chosen.unknown())
        if not (args.variable and args.level):
            raise UserError(needs_field)
        field = _field(args)
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

    from gridflow import raw_grid, series_plot

    matplotlib.use("Agg")  # no display: the chart is written, never shown
    root = Path(_cfg(args)["data_root"]).resolve()
    units = raw_grid.read(root / rows[-1]["raw_key"], args.variable).units
    what = f"{args.source} {args.variable} {args.level} {args.descriptor or ''}".rstrip()
    figure, lines = series_plot.draw(rows, what, units)
    series_plot.save(figure, out)
    log.info("plot %s: %d line(s), %d values", out, len(lines), len(rows))


def _gauge_point(args) -> None:
    from datetime import date

    from gridflow import gauge_query

    def day(option, text):
        try:
            return date.fromisoformat(text) if text else None
        except ValueError:
            raise UserError(f"{option} {text!r} is not a day (YYYY-MM-DD)") from None

    start, end = day("--start", args.start), day("--end", args.end)
    if start and end and end < start:
        raise UserError(f"--end {args.end} is before --start {args.start}")
    client, _ = _client(args, args.wait)
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

    from gridflow import readonly, sql_guard
    from gridflow.sinks import clickhouse

    if not readonly.statements(args.query):
        raise UserError('the query is empty: give one statement, e.g. "SELECT 1"')
    client, dsn = _client(args, args.wait)
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
            raise UserError(_nothing_loaded(dsn)) from None
        raise refused from None
    finally:
        client.close()
    names = result.column_names
    for row in result.result_rows:
        print(json.dumps(dict(zip(names, row, strict=True)), default=str))


def cmd_migrate(args) -> None:
    """Apply what each store has not had yet; say what was applied and what was in place."""
    from gridflow.sinks import clickhouse, postgis

    cfg = _cfg(args)
    ch_dsn = args.dsn or cfg["sinks"]["clickhouse"]["dsn"]
    folder = Path(args.project) / "migrations"
    client = clickhouse.connect(ch_dsn, args.wait)
    try:
        applied = clickhouse.migrate(client, folder / "clickhouse")
    finally:
        client.close()
    print(_migrated(f"ClickHouse {redact(resolve(ch_dsn))}", folder / "clickhouse", applied))
    pg_dsn = cfg["sinks"]["postgis"]["dsn"]
    if not pg_dsn:
        print("PostgreSQL: no DSN (GRIDFLOW_PG_DSN or sinks.postgis.dsn); skipped")
        return
    with postgis.connect(pg_dsn) as conn:
        applied = postgis.migrate(conn, folder / "postgres")
    print(_migrated(f"PostgreSQL {redact(resolve(pg_dsn))}", folder / "postgres", applied))


def _migrated(store: str, folder: Path, applied: list[str]) -> str:
    """One line: what this run applied, and what the store already had."""
    had = [p.name for p in sorted(folder.glob("*.sql")) if p.name not in applied]
    done = f"applied {', '.join(applied)}" if applied else "nothing to apply"
    return f"{store}: {done}" + (f"; already in place: {', '.join(had)}" if had else "")


def cmd_load_postgis(args) -> None:
    from gridflow import catalog, formats, inventory, paths
    from gridflow.sinks import postgis

    sidecar = json.loads(Path(args.sidecar).read_text())
    spec = json.loads(args.spec)
    cycle = paths.parse_cycle(Path(args.raw).parent.parent.name)
    dsn = operating.dsn("postgres", args.dsn)
    # the rule runs after the file's ClickHouse load (its marker is an input) and records it
    ch_load = catalog.read_load(catalog.marker_beside(Path(args.marker)))
    if ch_load is not None and ch_load.raw_file_id != sidecar["run_id"]:
        log.warning(
            "the ClickHouse marker of %s is of another fetch (%s); its load is not recorded",
            sidecar["raw_key"],
            ch_load.raw_file_id,
        )
        ch_load = None
    with postgis.connect(dsn) as conn:
        postgis.migrate(conn, operating.migrations("postgres", args.migrations))
        with conn.transaction():  # the catalog row, the cells and the lineage, or nothing
            postgis.register(conn, sidecar, cycle)
            if ch_load is not None:
                postgis.record_clickhouse_load(conn, ch_load)
            rows = 0
            if spec["variables"]:
                entries = inventory.parse(Path(args.idx).read_text(), args.idx)
                batches = formats.get(sidecar["format"]).cells(Path(args.raw), entries, spec)
                # closed here, not at exit: an eccodes handle must not outlive the library
                with contextlib.closing(batches):
                    rows = postgis.load_cells(conn, sidecar, batches)
                fields = postgis.cell_fields(conn, sidecar)
                postgis.record_load(conn, sidecar["run_id"], "postgis.pollution_grid", rows, fields)
            postgis.record_update(conn, sidecar, cycle, rows)
            if sidecar.get("gauge"):  # a gauge's metadata came with its record
                postgis.record_gauge(conn, sidecar["source"], sidecar["gauge"], sidecar["run_id"])
    marker = {
        "table": "pollution_grid",
        "dsn": redact(resolve(dsn)),
        "rows": rows,
        "source": sidecar["source"],
        "raw_key": sidecar["raw_key"],
        "raw_file_id": sidecar["run_id"],
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    _write_marker(args.marker, marker)
    log.info("registered %s; %s cells into pollution_grid", sidecar["url"], rows)


def cmd_routes(args) -> None:
    from gridflow.sinks import postgis

    with postgis.connect(operating.dsn("postgres", args.dsn)) as conn:
        updated = postgis.recompute_routes(conn)
        scores = conn.execute(
            "SELECT id, name, last_cells, last_mean, last_score FROM saved_routes ORDER BY id"
        ).fetchall()
    _write_marker(
        args.marker,
        {
            "routes": updated,
            "at": datetime.now(UTC).isoformat(timespec="seconds"),
            "scores": [
                dict(zip(("id", "name", "cells", "mean", "score"), r, strict=True)) for r in scores
            ],
        },
    )
    log.info("recomputed the exposure of %s saved route(s)", updated)


def cmd_trace(args) -> None:
    from gridflow import query, query_options
    from gridflow.sinks import postgis

    query_options.check_place(args)
    chosen = _chosen_source(args)
    if chosen.gauge:
        raise UserError(f"{args.source} is a gauge network: `gridflow point` gives its values")
    cfg = _cfg(args)
    if not cfg["sinks"]["postgis"]["dsn"]:
        raise UserError("tracing needs the catalog: set GRIDFLOW_PG_DSN")
    if not (args.variable and args.level):
        raise UserError("--variable and --level name the field to trace")
    period = query_options.period(args)
    client, _ = _client(args, args.wait, loaded=True)
    try:
        if not chosen.defined and not query.has_source(client, args.source):
            raise UserError(chosen.unknown())
        field = _field(args)
        rows = query.series(client, field, args.lat, args.lon, with_lineage=True, period=period)
        if not rows:
            raise UserError(query_options.why_empty(args, client, field, period))
    finally:
        client.close()
    with postgis.connect(cfg["sinks"]["postgis"]["dsn"]) as conn, postgis.reading(conn):
        urls = dict(
            conn.execute(
                "SELECT id::text, source_url FROM catalog.raw_files WHERE id = ANY(%s::uuid[])",
                ([r["raw_file_id"] for r in rows],),
            ).fetchall()
        )
    for row in rows:
        print(json.dumps({**row, "source_url": urls.get(row["raw_file_id"])}))


def _write_marker(path: str, content: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(path + ".partial")
    tmp.write_text(json.dumps(content, indent=1) + "\n")
    tmp.replace(path)


def cmd_purge(args) -> None:
    from gridflow import purge
    from gridflow.sinks import clickhouse, postgis
    from gridflow.storage import Bucket

    cfg = (
        gfconfig.resolve(json.loads(args.config_json), args.project)
        if args.config_json
        else _cfg(args)
    )
    if args.now:
        cfg["now"] = args.now
    now = gfconfig.now(cfg)
    workdir = Path(args.workdir).resolve()
    dsn = args.dsn or cfg["sinks"]["clickhouse"]["dsn"]
    client = clickhouse.connect(dsn, wait_seconds=args.wait)
    pg_dsn = cfg["sinks"]["postgis"]["dsn"]
    pg = postgis.connect(pg_dsn) if pg_dsn else None
    bucket = Bucket(args.storage_prefix) if args.storage_prefix else None

    def emit(record: dict) -> None:
        print(json.dumps(record, default=str), flush=True)

    def done(item, error) -> None:
        emit(purge.record(item, "failed" if error else "done", error))

    try:
        if pg is not None:
            postgis.migrate(pg, Path(args.project) / "migrations" / "postgres")
        plan = purge.plan(cfg, now, workdir, client, pg, bucket)
        if args.json and args.dry_run:
            for item in plan.items:
                emit(purge.record(item, "planned"))
            emit({"summary": True, "dry_run": True, **purge.plan_summary(plan)})
            return
        for line in purge.plan_lines(plan, args.dry_run):
            print(line, file=sys.stderr if args.json else sys.stdout)
        if args.dry_run:
            return
        report = purge.execute(plan, cfg, workdir, client, pg, bucket, done if args.json else None)
    finally:
        client.close()
        if pg is not None:
            pg.close()
    if args.json:
        emit({"summary": True, "dry_run": False, **report})
    else:
        print(purge.report_line(report))
    for failure in report["failures"]:
        print(f"failed: {failure['kind']} {failure['target']}: {failure['error']}", file=sys.stderr)
    if report["failures"]:
        raise SystemExit(errors.FAILED)


def _field(args):
    from gridflow.query import Field

    return Field(args.source, args.variable, args.level, args.descriptor)


def _place_arguments(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--source", required=True, help="a configured source, e.g. gfs or mcfcd")
    sp.add_argument("--variable", help="e.g. TMP (grids)")
    sp.add_argument("--level", help='e.g. "2 m above ground" (grids)')
    sp.add_argument("--lat", type=float, required=True, help="degrees north, -90 to 90")
    sp.add_argument("--lon", type=float, required=True, help="degrees east, -180 to 180 (or 0-360)")
    sp.add_argument(
        "--start",
        help="the first valid time kept, a day or a time in UTC (2025-03-12, "
        "2025-03-12T06:00Z); gauges: the first day",
    )
    sp.add_argument(
        "--end", help="the last valid time kept (a day: all of it); gauges: the last day"
    )
    sp.add_argument(
        "--descriptor",
        help='only the field with this descriptor, e.g. "chemical=Ozone" or "ENS=+1"',
    )


def cmd_status(args) -> None:
    from gridflow import plan, status

    cfg = _cfg(args)
    if args.now:
        cfg["now"] = args.now
    now = gfconfig.now(cfg)
    report = status.collect(cfg, plan.plan(cfg, now), now)
    print("\n".join(status.json_lines(report)) if args.json else status.table(report))
    if code := status.exit_code(report):  # 3 unreachable, 1 stale
        raise SystemExit(code)


def cmd_metrics(args) -> None:
    from gridflow import metrics, plan, status

    cfg = _cfg(args) if not args.config_json else json.loads(args.config_json)
    if not metrics.wanted(cfg):
        raise UserError("no metrics.textfile or metrics.pushgateway is configured")
    try:
        now = gfconfig.now(cfg)
        report = status.collect(cfg, plan.plan(cfg, now), now)
    except Exception as exc:  # noqa: BLE001 (a run that failed must still be counted)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        print(f"gridflow metrics: no status gauges ({first}); counters written", file=sys.stderr)
        report = None
    went = metrics.write(cfg, report, Path(args.workdir), args.outcome, args.run_seconds)
    print(f"metrics written to {', '.join(went)}", file=sys.stderr)


def cmd_verify(args) -> None:
    from gridflow import repair, verify

    cfg = _cfg(args)

    def check() -> verify.RowCheck:
        client, _ = _client(args, args.wait)
        try:
            found = verify.check(cfg, client)
        finally:
            client.close()
        if args.sha256:
            found = dataclasses.replace(found, findings=found.findings + verify.raw_bytes(cfg))
        return found

    def summary(**what) -> None:
        if args.json:
            said = {"summary": True, "problems": len(findings), "markers": checked.markers}
            print(json.dumps(said | what, default=str))

    checked = check()
    findings = checked.findings
    for line in verify.coverage(checked):
        print(f"verify: {line}", file=sys.stderr)
    if not checked.markers:  # a data root read in the wrong place would otherwise "agree"
        summary(repaired=False)
        stray = f" (the store has rows of {len(findings)} file(s))" if findings else ""
        raise verify.NothingToVerify(
            f"no load markers under {checked.root}: nothing to verify{stray}"
        )
    for finding in findings:
        print(
            json.dumps(verify.record(finding), default=str)
            if args.json
            else verify.describe(finding)
        )
    if not findings or not args.repair:
        summary(repaired=False)
        if findings:
            print(f"verify: {len(findings)} problem(s); --repair rebuilds them", file=sys.stderr)
            raise SystemExit(errors.FAILED)
        print(
            f"verify: the {checked.markers} markers, the raw files and the store agree",
            file=sys.stderr,
        )
        return
    options = repair.snakemake_args(args.project, args.configfile or [], args.snakemake_args)
    try:  # nothing is removed until Snakemake has accepted the plan
        plan = repair.plan(cfg, findings, options)
    except repair.RepairRefused as exc:
        summary(repaired=False, refused=str(exc))
        raise
    with repair.holding_the_run_lock(plan):  # busy: exit 75, nothing removed
        try:
            repair.accept(plan)
        except repair.RepairRefused as exc:
            summary(repaired=False, refused=str(exc))
            raise
        if plan.targets:
            print(f"verify: rebuilding {' '.join(plan.targets)}", file=sys.stderr)
        if plan.summaries:
            print(f"verify: and the summaries {' '.join(plan.summaries)}", file=sys.stderr)
        with logs.stdout_on_stderr() if args.json else contextlib.nullcontext():
            code = repair.rebuild(plan)
        if plan.unmarked:
            client, _ = _client(args, args.wait)
            try:
                repair.delete_unmarked(plan, client)
            finally:
                client.close()
            print(
                f"verify: deleted the rows of {len(plan.unmarked)} unmarked file(s)",
                file=sys.stderr,
            )
    left = check().findings if code == 0 else []  # exit 0 means the store agrees now
    for finding in left:
        print(f"verify: still after the repair: {verify.describe(finding)}", file=sys.stderr)
    summary(repaired=code == 0 and not left, rebuilt=list(plan.targets), left=len(left))
    raise SystemExit(code or (errors.FAILED if left else 0))


def cmd_report(args) -> None:
    import matplotlib

    from gridflow import plan, report

    matplotlib.use("Agg")  # no display: the figures are written, never shown
    cfg = _cfg(args)
    now = gfconfig.now(cfg)
    place = (args.source, args.variable, args.level) if args.variable else None
    try:  # the maps need the store; the rest of the page does not
        client = _client(args, args.wait, loaded=True)[0]
    except UserError as exc:
        log.warning("%s: no maps", exc)
        client = None
    try:
        titles = report.build(cfg, plan.plan(cfg, now), client, Path(args.out), place, now)
    finally:
        if client is not None:
            client.close()
    log.info("report %s: %d figures (%s)", args.out, len(titles), "; ".join(titles))


def cmd_map(args) -> None:
    import matplotlib

    from gridflow import maps

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
    client, _ = _client(args, args.wait, loaded=True)
    try:
        field = maps.choose(client, choice)
        if field is None:
            raise UserError(
                f'no field of source={args.source} matches; `gridflow sql "SELECT DISTINCT '
                f'source, variable, level, ref_time, step FROM grid_data"` lists what is loaded'
            )
        drawn = maps.picture(client, Path(_cfg(args)["data_root"]).resolve(), field)
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


def cmd_backfill(args) -> None:
    from gridflow import scheduled_run

    project = scheduled_run.project_folder(args.project)
    args.configfile = [str(Path(f).absolute()) for f in args.configfile or []]
    args.project = "."
    with contextlib.chdir(project):  # as if started in the checkout: its data root, Snakefile
        _backfill(args)


def _backfill(args) -> None:
    from gridflow import backfill, scheduled_run

    cfg = _cfg(args)
    cfg["now"] = backfill.clock_override(args.snakemake_args) or cfg["now"]
    now = gfconfig.now(cfg)
    found = backfill.cycles(cfg, args.source, args.water_years, args.cycles, Path("."))
    wanted = backfill.targets(cfg, args.source, found)
    extra = args.snakemake_args
    configs = [x for f in args.configfile for x in ("--configfile", f)]
    snakemake_args = scheduled_run.checked_args([*configs, "--keep-going", *extra, *wanted], None)
    print(f"backfill {args.source}: {len(wanted)} cycles", file=sys.stderr)
    quiet = logs.stdout_on_stderr() if args.json else contextlib.nullcontext()
    with quiet:
        code = scheduled_run.run(snakemake_args, None)
    dry_run = backfill.is_dry_run(extra)
    results = backfill.assess(cfg, args.source, found, now)
    done = backfill.exit_code(code, results, dry_run)
    if args.json:
        print("\n".join(backfill.json_lines(args.source, results, dry_run, done)))
    else:
        print("\n".join(backfill.report(args.source, results, dry_run)), file=sys.stderr)
    raise SystemExit(done)


def cmd_run(args) -> None:
    from gridflow import scheduled_run

    snakemake_args = args.snakemake_args
    if snakemake_args[:1] == ["--"]:
        snakemake_args = snakemake_args[1:]
    project = Path(args.project) if args.project is not None else None
    raise SystemExit(scheduled_run.run(snakemake_args, args.every, verify=True, project=project))


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line (`gridflow plan: error: ...`)."""

    def error(self, message: str):
        log.error("%s (see %s --help)", message, self.prog, extra={"program": self.prog})
        raise SystemExit(errors.USAGE)


def _clock(text: str) -> str:
    """--now: the one clock parser (gridflow.config), as argparse wants it."""
    try:
        return gfconfig.clock_text(gfconfig.parse_clock(text))
    except gfconfig.ClockError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


NOW_HELP = f"pin the clock: {gfconfig.CLOCK_FORM}"
# What the workflow's rules run, one file at a time: listed apart from the commands for people.
STEPS = {
    "fetch": "fetch one raw file, verified, with its inventory and sidecar",
    "job-submit": "submit one request of a job source, once",
    "job-await": "wait for a submitted job; write its results file",
    "shred": "shred one raw file into Parquet",
    "load": "load one shred into ClickHouse and write its marker",
    "load-postgis": "catalog one raw file in PostgreSQL and load its cells",
    "routes": "recompute the saved routes' exposure",
    "cycle-summary": "summarise the loads of one cycle",
}


def _steps_epilog() -> str:
    lines = ["workflow steps (the rules run these, one file at a time; `gridflow STEP -h`):"]
    lines += [f"  {name:15} {text}" for name, text in STEPS.items()]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="gridflow",
        description=__doc__,
        epilog=_steps_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"gridflow {_version()}")
    p.add_argument(
        "-v", "--verbose", action="count", default=0, help="say more (-vv: libraries too)"
    )
    p.add_argument("-q", "--quiet", action="count", default=0, help="warnings and errors only")
    p.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default="text",
        help="text for people (default), or json: one object per line, for log shippers",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    def add(name, func, help_, store=False, config=False):
        """`store`: the command reads the store (--dsn, --wait and the configuration);
        `config`: only the configuration."""
        sp = sub.add_parser(name, help=help_, description=help_)
        sp.set_defaults(func=func)
        if store:
            _store_arguments(sp)
        elif config:
            _config_arguments(sp)
        return sp

    def step(name, func):
        # no `help`: argparse lists only the commands that have one; the epilog lists steps
        sp = sub.add_parser(name, description=f"A workflow step: {STEPS[name]}.")
        sp.set_defaults(func=func)
        return sp

    for name, latest, text in (
        ("point", False, "the series at the grid point nearest to a place"),
        ("latest", True, "the newest run's (or scan's) value at the grid point nearest to a place"),
    ):
        sp = add(name, cmd_point, text, store=True)
        sp.set_defaults(latest=latest)
        _place_arguments(sp)
        if not latest:  # a chart of the series: each run a line over valid time
            sp.add_argument("--plot", help="also draw the series as a chart (.png or .svg)")
    sp = add("sql", cmd_sql, "run SQL against the ClickHouse store; rows as JSON lines", store=True)
    sp.add_argument("query", help='one read-only statement, e.g. "SELECT count() FROM grid_data"')
    sp = add("status", cmd_status, "per source: newest cycle, lag, loaded, failed", config=True)
    sp.add_argument(
        "--json", action="store_true", help="JSON lines: a record per source, then a summary"
    )
    sp.add_argument("--now", type=_clock, help=NOW_HELP)
    sp = add("metrics", cmd_metrics, "write Prometheus metrics (after a run)", config=True)
    sp.add_argument("--config-json", help="the workflow's resolved config (the rules pass it)")
    sp.add_argument("--workdir", default=".", help="the Snakemake working directory")
    sp.add_argument(
        "--outcome",
        choices=["success", "error"],
        help="(the workflow's exit) count a run that ended so; by hand: count no run",
    )
    sp.add_argument("--run-seconds", type=float, help="(the workflow's exit) the run's duration")
    sp = add(
        "report",
        cmd_report,
        "one HTML page: status, maps, timeline, bytes, rows, purges",
        store=True,
    )
    sp.add_argument("--out", default="report.html", help="the page (default: report.html)")
    sp.add_argument("--source", help="map this field of that source (with --variable, --level)")
    sp.add_argument("--variable", help="e.g. TMP (default: each source's newest largest field)")
    sp.add_argument("--level", help='e.g. "2 m above ground"')
    sp = add("map", cmd_map, "one stored field as a map on its own grid (PNG or SVG)", store=True)
    sp.add_argument("--source", required=True, help="the source, e.g. hrrr")
    sp.add_argument("--variable", help="e.g. TMP (default: the newest run's largest field)")
    sp.add_argument("--level", help='e.g. "2 m above ground"')
    sp.add_argument("--descriptor", help='e.g. "chemical=Ozone"')
    sp.add_argument("--ref-time", help="the run, e.g. 2025-03-12T06:00Z (default: the newest)")
    sp.add_argument("--step", type=float, help="lead time in hours (default: the run's first)")
    sp.add_argument("--out", default="map.png", help="a .png or .svg file (default map.png)")
    sp.add_argument("--json", action="store_true", help="a JSON record of the map, a summary")
    sp = add("verify", cmd_verify, "reconcile markers, raw files and the store", store=True)
    sp.add_argument("--sha256", action="store_true", help="also check every raw file's bytes")
    sp.add_argument("--repair", action="store_true", help="rebuild exactly what is wrong")
    sp.add_argument("--json", action="store_true", help="JSON lines: a record per file, a summary")
    sp.set_defaults(snakemake_args=[])  # `gridflow verify --repair ... -- <snakemake options>`
    sp = add("backfill", cmd_backfill, "fetch and load a range of a source's cycles", config=True)
    sp.add_argument("source", help="the configured source, e.g. gfs or mcfcd")
    span = sp.add_mutually_exclusive_group()
    span.add_argument("--water-years", help="a gauge source's water years, e.g. 2015-2024")
    span.add_argument(
        "--cycles", help="any other source's cycle ids FIRST-LAST, e.g. 2025031200-2025031318"
    )
    sp.add_argument(
        "--json", action="store_true", help="JSON lines: a record per cycle, then a summary"
    )
    sp.set_defaults(snakemake_args=[])  # `gridflow backfill ... -- <snakemake options>`
    sp = add("plan", cmd_plan, "what is published and what is waiting, per source", config=True)
    sp.add_argument("--now", type=_clock, help=NOW_HELP)
    sp.add_argument(
        "--json",
        action="store_true",
        help='a JSON object per file on stdout, then one with "summary": true',
    )
    text = "database administration"
    sp = sub.add_parser("db", help=text, description=text)
    db = sp.add_subparsers(dest="db_command", metavar="ACTION", title="actions", required=True)
    text = "apply the ClickHouse and PostgreSQL migrations a store has not had (idempotent)"
    mp = db.add_parser("migrate", help=text, description=text)
    mp.set_defaults(func=cmd_migrate)
    _store_arguments(mp)

    sp = add("purge", cmd_purge, "delete everything past its retention", store=True)
    sp.add_argument("--dry-run", action="store_true", help="list what would go; delete nothing")
    sp.add_argument(
        "--json", action="store_true", help="JSON lines: a record per item, then a summary"
    )
    sp.add_argument("--now", type=_clock, help=NOW_HELP)
    sp.add_argument("--workdir", default=".", help="the Snakemake working directory")
    sp.add_argument("--config-json", help="(rule) the workflow's resolved configuration")
    sp.add_argument(
        "--storage-prefix",
        help="the outputs' S3 prefix when run with profiles/s3 (s3://bucket[/prefix])",
    )
    sp = add(
        "run",
        cmd_run,
        "the scheduled command: snakemake with the given options, one run at a time",
    )
    sp.add_argument(
        "--every",
        type=_seconds,
        help="run again every SECONDS (default: GRIDFLOW_POLL_INTERVAL; unset: run once)",
    )
    sp.add_argument(
        "--project",
        help="the gridflow checkout Snakemake runs in (default: .); --configfile paths are "
        "read from where the command is given",
    )
    sp.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="options for snakemake, e.g. --profile profiles/cluster",
    )
    sp = add(
        "trace", cmd_trace, "like point, with each value's raw file and source URL", store=True
    )
    _place_arguments(sp)

    sp = step("fetch", cmd_fetch)
    sp.add_argument("--spec", required=True, help="the fetch spec (JSON), as the rule makes it")
    sp.add_argument(
        "--settings", help=f"JSON operating settings (url, settings); default ${operating.ENV}"
    )
    sp.add_argument("--results", help="a job's results file: the object is where it says")
    _file_arguments(sp, "raw", "idx", "sidecar")
    sp = step("job-submit", cmd_job_submit)
    sp.add_argument("--source", required=True, help="the job source")
    sp.add_argument("--request", required=True, help="the request (JSON), as the rule makes it")
    sp.add_argument("--out", required=True, help="the job file written")
    sp = step("job-await", cmd_job_await)
    sp.add_argument("--source", required=True, help="the job source")
    sp.add_argument("--job", required=True, help="the job file job-submit wrote")
    sp.add_argument("--out", required=True, help="the results file written")
    sp.add_argument("--seconds", type=float, help="how long this run waits (default: source's)")
    sp = step("shred", cmd_shred)
    _file_arguments(sp, "raw", "idx", "sidecar")
    sp.add_argument("--out", required=True, help="the Parquet file written")
    sp.add_argument("--options", help="JSON: missing_values, bbox, stride, dqf_keep")
    sp = step("load", cmd_load)
    sp.add_argument("--parquet", required=True, help="the shred to load")
    _file_arguments(sp, "sidecar")
    sp.add_argument("--dsn", help=f"the store (default: the workflow's, from ${operating.ENV})")
    sp.add_argument("--marker", required=True, help="the marker written once the rows are in")
    sp.add_argument("--idx", help="the raw file's inventory (default: beside the sidecar)")
    sp.add_argument("--migrations", help=f"default: the workflow's, from ${operating.ENV}")
    sp.add_argument(
        "--wait",
        type=float,
        default=600.0,
        help="seconds to wait for a busy embedded store (default 600)",
    )
    sp = step("load-postgis", cmd_load_postgis)
    _file_arguments(sp, "raw", "idx", "sidecar")
    sp.add_argument("--dsn", help=f"the database (default: the workflow's, from ${operating.ENV})")
    sp.add_argument("--marker", required=True, help="the marker written once the cells are in")
    sp.add_argument("--spec", required=True, help="the cells to load (JSON), as the rule makes it")
    sp.add_argument("--migrations", help=f"default: the workflow's, from ${operating.ENV}")
    sp = step("routes", cmd_routes)
    sp.add_argument("--dsn", help=f"the database (default: the workflow's, from ${operating.ENV})")
    sp.add_argument("--marker", required=True, help="the marker written with the routes' scores")
    sp = step("cycle-summary", cmd_cycle_summary)
    sp.add_argument("--out", required=True, help="the cycle's summary written")
    sp.add_argument("markers", nargs="*", help="the cycle's load markers")
    return p


def _config_arguments(sp: argparse.ArgumentParser) -> None:
    """Where a command for people finds the configuration."""
    sp.add_argument(
        "--configfile",
        action="append",
        help="extra config file over config/config.yaml (repeatable)",
    )
    sp.add_argument("--project", default=".", help="the gridflow checkout (default: .)")


def _store_arguments(sp: argparse.ArgumentParser) -> None:
    """Where a command that reads the store finds the configuration and the store."""
    _config_arguments(sp)
    sp.add_argument("--dsn", help="ClickHouse DSN (default: from the config)")
    sp.add_argument(
        "--wait",
        type=float,
        default=30.0,
        help="seconds to wait for a busy embedded store (default 30)",
    )


FILE_HELP = {
    "raw": "the raw file",
    "idx": "the raw file's inventory (.idx)",
    "sidecar": "the raw file's sidecar (.json)",
}


def _file_arguments(sp: argparse.ArgumentParser, *names: str) -> None:
    for name in names:
        sp.add_argument(f"--{name}", required=True, help=FILE_HELP[name])


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gridflow")
    except PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return "unknown (not installed)"


def _split_top_level(argv: list[str]) -> tuple[list[str], list[str]]:
    """The options before the command (-v, -q, --log-format ...), and the command with its own."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        i += 2 if argv[i] == "--log-format" else 1
    return argv[:i], argv[i:]


def _logging_of(top: list[str]) -> tuple[int, str]:
    """-v/-q and --log-format as given, before the whole command line is parsed (its errors
    are logged in the format asked for)."""
    known = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    known.add_argument("-v", "--verbose", action="count", default=0)
    known.add_argument("-q", "--quiet", action="count", default=0)
    known.add_argument("--log-format", default="text")
    try:
        found, _ = known.parse_known_args(top)
    except argparse.ArgumentError:  # the whole parse says what is wrong
        return 0, "text"
    fmt = found.log_format if found.log_format in logs.FORMATS else "text"
    return found.verbose - found.quiet, fmt


RUN_OPTIONS = ("--every", "--project")  # `gridflow run`'s own; Snakemake has neither


def _run_options(tail: list[str]) -> tuple[list[str], list[str]]:
    """`gridflow run`'s own options (wherever they are, before a `--`), and Snakemake's."""
    own: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(tail):
        arg = tail[i]
        if arg == "--":
            rest += tail[i:]
            break
        if arg in RUN_OPTIONS:
            own += tail[i : i + 2]
            i += 2
            continue
        (own if arg.startswith(tuple(f"{o}=" for o in RUN_OPTIONS)) else rest).append(arg)
        i += 1
    return own, rest


def _parse(argv: list[str]) -> argparse.Namespace:
    """argparse cannot pass options it does not know through (`run`'s Snakemake options), so
    `run` takes its own option and hands the rest to Snakemake untouched; `backfill` and
    `verify` hand on what follows `--`."""
    top, rest = _split_top_level(argv)
    command = rest[:1]
    if command in (["backfill"], ["verify"]) and "--" in rest:  # after `--`: Snakemake's
        cut = rest.index("--")
        args = parser().parse_args(top + rest[:cut])
        args.snakemake_args = rest[cut + 1 :]
    elif command == ["run"] and not {"-h", "--help"} & set(rest[1:2]):
        own, snakemake_args = _run_options(rest[1:])
        args = parser().parse_args([*top, "run", *own])
        args.snakemake_args = snakemake_args
    else:
        args = parser().parse_args(argv)
    if args.command is None:  # `gridflow` alone: what it can do
        parser().print_help(sys.stderr)
        raise SystemExit(errors.USAGE)
    return args


def argv_or(argv: list[str] | None) -> list[str]:
    return sys.argv[1:] if argv is None else argv


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (`gridflow sql | head`),
    not some other broken pipe (a server's socket)."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLERR)
        return bool(poll.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> None:
    argv = argv_or(argv)
    verbosity, fmt = _logging_of(_split_top_level(argv)[0])
    logs.configure("gridflow", verbosity, fmt)
    args = _parse(argv)
    program = " ".join(
        ["gridflow", args.command, *([args.db_command] if "db_command" in args else [])]
    )
    logs.configure(program, args.verbose - args.quiet, args.log_format)
    from gridflow.run_lock import RunActive

    try:
        args.func(args)
        sys.stdout.flush()  # a reader that closed the pipe shows here, not at exit
    except RunActive as exc:
        log.warning("%s; exiting", exc)
        raise SystemExit(exc.exit_code) from None
    except errors.GridflowError as exc:
        log.error("%s", exc)
        raise SystemExit(exc.exit_code) from None
    except json.JSONDecodeError as exc:  # a JSON argument (the rules' --spec, --options)
        log.error("an argument is not valid JSON: %s", exc)
        raise SystemExit(errors.USAGE) from None
    except OSError as exc:  # a file named on the command line that is missing or unreadable
        if isinstance(exc, BrokenPipeError) and _stdout_reader_gone():
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing at exit
            raise SystemExit(141) from None  # as a Unix tool killed by SIGPIPE: quietly
        log.error("%s", exc)
        raise SystemExit(errors.FAILED) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except Exception as exc:  # a bug of ours: one line, the traceback only when asked for
        if os.environ.get("GRIDFLOW_TRACEBACK"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        log.critical(
            "internal error: %s: %s (GRIDFLOW_TRACEBACK=1 shows where)", type(exc).__name__, first
        )
        raise SystemExit(errors.FAILED) from None
