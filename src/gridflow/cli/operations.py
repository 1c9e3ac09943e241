"""Operating the archive: the plan, status and metrics, verify and repair, the report, backfill,
the scheduled run, the purge and the stores' migrations."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import sys
from pathlib import Path

from gridflow import errors, logs, paths
from gridflow.cli.args import UserError, configuration, store_client
from gridflow.config import loading as gfconfig
from gridflow.config.dsn import redact, resolve

log = logging.getLogger(__name__)


def cmd_plan(args) -> None:
    """The plan for people on stderr; with --json, a record per file and a summary on stdout.
    Only a run that fetches remembers listings: a plan writes nothing."""
    from gridflow.pipeline import plan

    cfg = configuration(args)
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


def cmd_status(args) -> None:
    from gridflow.ops import status
    from gridflow.pipeline import plan

    cfg = configuration(args)
    if args.now:
        cfg["now"] = args.now
    now = gfconfig.now(cfg)
    report = status.collect(cfg, plan.plan(cfg, now), now)
    print("\n".join(status.json_lines(report)) if args.json else status.table(report))
    if code := status.exit_code(report):  # 3 unreachable, 1 stale
        raise SystemExit(code)


def cmd_metrics(args) -> None:
    from gridflow.ops import metrics, status
    from gridflow.pipeline import plan

    cfg = configuration(args) if not args.config_json else json.loads(args.config_json)
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
    from gridflow.ops import repair, verify

    cfg = configuration(args)

    def check() -> verify.RowCheck:
        client, _ = store_client(args, args.wait)
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
            client, _ = store_client(args, args.wait)
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

    from gridflow.ops import report
    from gridflow.pipeline import plan

    matplotlib.use("Agg")  # no display: the figures are written, never shown
    cfg = configuration(args)
    now = gfconfig.now(cfg)
    place = (args.source, args.variable, args.level) if args.variable else None
    try:  # the maps need the store; the rest of the page does not
        client = store_client(args, args.wait, loaded=True)[0]
    except UserError as exc:
        log.warning("%s: no maps", exc)
        client = None
    try:
        titles = report.build(cfg, plan.plan(cfg, now), client, Path(args.out), place, now)
    finally:
        if client is not None:
            client.close()
    log.info("report %s: %d figures (%s)", args.out, len(titles), "; ".join(titles))


def cmd_backfill(args) -> None:
    from gridflow.ops import scheduled_run

    project = scheduled_run.project_folder(args.project)
    args.configfile = [str(Path(f).absolute()) for f in args.configfile or []]
    args.project = "."
    with contextlib.chdir(project):  # as if started in the checkout: its data root, Snakefile
        _backfill(args)


def _backfill(args) -> None:
    from gridflow.ops import backfill, scheduled_run

    cfg = configuration(args)
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
    from gridflow.ops import scheduled_run

    snakemake_args = args.snakemake_args
    if snakemake_args[:1] == ["--"]:
        snakemake_args = snakemake_args[1:]
    project = Path(args.project) if args.project is not None else None
    raise SystemExit(scheduled_run.run(snakemake_args, args.every, verify=True, project=project))


def cmd_purge(args) -> None:
    from gridflow.pipeline import purge
    from gridflow.pipeline.purge_bucket import Bucket
    from gridflow.sinks import clickhouse, postgis

    cfg = (
        gfconfig.resolve(json.loads(args.config_json), args.project)
        if args.config_json
        else configuration(args)
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
        expired = purge.expired(cfg, now, workdir, client, pg, bucket)
        if args.json and args.dry_run:
            for item in expired.items:
                emit(purge.record(item, "planned"))
            emit({"summary": True, "dry_run": True, **purge.expired_summary(expired)})
            return
        for line in purge.expired_lines(expired, args.dry_run):
            print(line, file=sys.stderr if args.json else sys.stdout)
        if args.dry_run:
            return
        report = purge.execute(
            expired, cfg, workdir, client, pg, bucket, done if args.json else None
        )
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


def cmd_migrate(args) -> None:
    """Apply what each store has not had yet; say what was applied and what was in place."""
    from gridflow.sinks import clickhouse, postgis

    cfg = configuration(args)
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
    had = [p.name for p in paths.migration_files(folder) if p.name not in applied]
    done = f"applied {', '.join(applied)}" if applied else "nothing to apply"
    return f"{store}: {done}" + (f"; already in place: {', '.join(had)}" if had else "")
