"""The `gridflow` command line: every command, its options and their help."""

from __future__ import annotations

import argparse
import logging

from gridflow import errors, logs
from gridflow.cli import operations, queries, steps
from gridflow.config import loading as gfconfig
from gridflow.config import operating

log = logging.getLogger(__name__)

DESCRIPTION = "The `gridflow` command: what the workflow's rules run, and what people query with."


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line (`gridflow plan: error: ...`)."""

    def error(self, message: str):
        log.error("%s (see %s --help)", message, self.prog, extra={"program": self.prog})
        raise SystemExit(errors.USAGE)


def _clock(text: str) -> str:
    """--now: the one clock parser (gridflow.config.loading), as argparse wants it."""
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
        description=DESCRIPTION,
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
        sp = add(name, queries.cmd_point, text, store=True)
        sp.set_defaults(latest=latest)
        _place_arguments(sp)
        if not latest:  # a chart of the series: each run a line over valid time
            sp.add_argument("--plot", help="also draw the series as a chart (.png or .svg)")
    sp = add(
        "sql",
        queries.cmd_sql,
        "run SQL against the ClickHouse store; rows as JSON lines",
        store=True,
    )
    sp.add_argument("query", help='one read-only statement, e.g. "SELECT count() FROM grid_data"')
    sp = add(
        "status",
        operations.cmd_status,
        "per source: newest cycle, lag, loaded, failed",
        config=True,
    )
    sp.add_argument(
        "--json", action="store_true", help="JSON lines: a record per source, then a summary"
    )
    sp.add_argument("--now", type=_clock, help=NOW_HELP)
    sp = add(
        "metrics", operations.cmd_metrics, "write Prometheus metrics (after a run)", config=True
    )
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
        operations.cmd_report,
        "one HTML page: status, maps, timeline, bytes, rows, purges",
        store=True,
    )
    sp.add_argument("--out", default="report.html", help="the page (default: report.html)")
    sp.add_argument("--source", help="map this field of that source (with --variable, --level)")
    sp.add_argument("--variable", help="e.g. TMP (default: each source's newest largest field)")
    sp.add_argument("--level", help='e.g. "2 m above ground"')
    sp = add(
        "map", queries.cmd_map, "one stored field as a map on its own grid (PNG or SVG)", store=True
    )
    sp.add_argument("--source", required=True, help="the source, e.g. hrrr")
    sp.add_argument("--variable", help="e.g. TMP (default: the newest run's largest field)")
    sp.add_argument("--level", help='e.g. "2 m above ground"')
    sp.add_argument("--descriptor", help='e.g. "chemical=Ozone"')
    sp.add_argument("--ref-time", help="the run, e.g. 2025-03-12T06:00Z (default: the newest)")
    sp.add_argument("--step", type=float, help="lead time in hours (default: the run's first)")
    sp.add_argument("--out", default="map.png", help="a .png or .svg file (default map.png)")
    sp.add_argument("--json", action="store_true", help="a JSON record of the map, a summary")
    sp = add(
        "verify", operations.cmd_verify, "reconcile markers, raw files and the store", store=True
    )
    sp.add_argument("--sha256", action="store_true", help="also check every raw file's bytes")
    sp.add_argument("--repair", action="store_true", help="rebuild exactly what is wrong")
    sp.add_argument("--json", action="store_true", help="JSON lines: a record per file, a summary")
    sp.set_defaults(snakemake_args=[])  # `gridflow verify --repair ... -- <snakemake options>`
    sp = add(
        "backfill",
        operations.cmd_backfill,
        "fetch and load a range of a source's cycles",
        config=True,
    )
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
    sp = add(
        "plan",
        operations.cmd_plan,
        "what is published and what is waiting, per source",
        config=True,
    )
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
    mp.set_defaults(func=operations.cmd_migrate)
    _store_arguments(mp)

    sp = add("purge", operations.cmd_purge, "delete everything past its retention", store=True)
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
        operations.cmd_run,
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
        "trace",
        queries.cmd_trace,
        "like point, with each value's raw file and source URL",
        store=True,
    )
    _place_arguments(sp)

    sp = step("fetch", steps.cmd_fetch)
    sp.add_argument("--spec", required=True, help="the fetch spec (JSON), as the rule makes it")
    sp.add_argument(
        "--settings", help=f"JSON operating settings (url, settings); default ${operating.ENV}"
    )
    sp.add_argument("--results", help="a job's results file: the object is where it says")
    _file_arguments(sp, "raw", "idx", "sidecar")
    sp = step("job-submit", steps.cmd_job_submit)
    sp.add_argument("--source", required=True, help="the job source")
    sp.add_argument("--request", required=True, help="the request (JSON), as the rule makes it")
    sp.add_argument("--out", required=True, help="the job file written")
    sp = step("job-await", steps.cmd_job_await)
    sp.add_argument("--source", required=True, help="the job source")
    sp.add_argument("--job", required=True, help="the job file job-submit wrote")
    sp.add_argument("--out", required=True, help="the results file written")
    sp.add_argument("--seconds", type=float, help="how long this run waits (default: source's)")
    sp = step("shred", steps.cmd_shred)
    _file_arguments(sp, "raw", "idx", "sidecar")
    sp.add_argument("--out", required=True, help="the Parquet file written")
    sp.add_argument(
        "--grids", help="the places of its grids, written (default: beside --out, -grids.parquet)"
    )
    sp.add_argument("--options", help="JSON: missing_values, bbox, stride, dqf_keep")
    sp = step("load", steps.cmd_load)
    sp.add_argument("--parquet", required=True, help="the shred to load")
    sp.add_argument("--grids", help="its grids file (default: beside --parquet)")
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
    sp = step("load-postgis", steps.cmd_load_postgis)
    _file_arguments(sp, "raw", "idx", "sidecar")
    sp.add_argument("--dsn", help=f"the database (default: the workflow's, from ${operating.ENV})")
    sp.add_argument("--marker", required=True, help="the marker written once the cells are in")
    sp.add_argument("--spec", required=True, help="the cells to load (JSON), as the rule makes it")
    sp.add_argument("--migrations", help=f"default: the workflow's, from ${operating.ENV}")
    sp = step("routes", steps.cmd_routes)
    sp.add_argument("--dsn", help=f"the database (default: the workflow's, from ${operating.ENV})")
    sp.add_argument("--marker", required=True, help="the marker written with the routes' scores")
    sp = step("cycle-summary", steps.cmd_cycle_summary)
    sp.add_argument("--out", required=True, help="the cycle's summary written")
    sp.add_argument("markers", nargs="*", help="the cycle's load markers")
    return p


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
