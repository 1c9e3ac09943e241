"""What a command line is expected to have (issue 24, items 15-18 and 22): a version, help that
lists the commands for people apart from the workflow's steps, help for every option, a plan
that previews without writing and speaks JSON when asked, and logging with -v/-q and a JSON
format for log shippers, other libraries quiet unless asked."""

from __future__ import annotations

import argparse
import json
import logging
import tomllib
from datetime import UTC, datetime

import pytest
import yaml
from tests_support import REPO, gridflow

from gridflow import logs
from gridflow.cli import main as cli
from gridflow.cli import parser
from gridflow.ops import scheduled_run

CYCLES = [datetime(2025, 3, 12, h, tzinfo=UTC) for h in (0, 6)]
STEPS = ("f000", "f003")
NOW = "2025-03-12T12:00:00Z"


@pytest.fixture(scope="module")
def gfs_mirror(samples, tmp_path_factory):
    """Two GFS cycles (f000, f003) on a file mirror, and a config reading them at NOW."""
    from devkit.demo import GFS_KEY, GFS_SAMPLE, grib_messages, write_object

    where = tmp_path_factory.mktemp("plan")
    messages = grib_messages(samples / GFS_SAMPLE)[:5]
    for cycle in CYCLES:
        for step in (0, 3):
            key = GFS_KEY.format(cycle=cycle, step=step)
            write_object(where / "mirror", key, messages, cycle, step)
    config = {
        "data_root": str(where / "data"),
        "sources_enabled": ["gfs"],
        "fetch": {"settle_seconds": 0},
        "sources": {
            "gfs": {
                "url": f"file://{where / 'mirror'}",
                "forecast_hours": "0,3",
                "window_hours": 12,
            }
        },
    }
    (where / "c.yaml").write_text(yaml.safe_dump(config))
    return where


def _walk(parser: argparse.ArgumentParser, prog: str = "gridflow"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{prog} {name}")
        else:
            yield prog, action


def test_every_option_and_argument_has_help():
    missing = [
        f"{prog} {'/'.join(action.option_strings) or action.dest}"
        for prog, action in _walk(parser.parser())
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_version():
    result = gridflow("--version")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert result.returncode == 0 and result.stdout.strip() == f"gridflow {version}"


def test_gridflow_alone_prints_help_with_the_steps_apart():
    result = gridflow()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    help_text = result.stderr
    commands, steps = help_text.split("workflow steps")
    assert "usage: gridflow" in commands and "--log-format" in commands
    for name in ("plan", "run", "status", "point", "sql", "verify", "purge", "db"):
        assert f"\n    {name} " in commands, name
    for name in parser.STEPS:
        assert f"\n    {name} " not in commands, name  # not among the commands for people
        assert f"\n  {name} " in steps, name
    assert gridflow("-h").stdout == help_text  # the same help, on stdout when asked for


def test_a_step_still_runs_and_explains_itself():
    result = gridflow("shred", "-h")
    assert result.returncode == 0 and "A workflow step: shred one raw file" in result.stdout


def test_plan_prints_its_summary_on_stderr_and_json_only_when_asked(gfs_mirror):
    args = ("plan", "--configfile", str(gfs_mirror / "c.yaml"), "--now", NOW)
    people = gridflow(*args)
    assert people.returncode == 0 and people.stdout == ""
    assert people.stderr.startswith(
        "gridflow plan: 4 file(s) published in the catch-up window, 2 waiting\n"
        "  gfs: 2 waiting; next 2025031212 f000 expected at"
    )
    machine = gridflow(*args, "--json")
    assert machine.returncode == 0 and machine.stderr == people.stderr  # for people, still
    records = [json.loads(line) for line in machine.stdout.splitlines()]
    assert records[-1] == {"summary": True, "published": 4, "waiting": 2, "unreachable": []}
    published = {(c, step, "published") for c in ("2025031200", "2025031206") for step in STEPS}
    waiting = {("2025031212", step, "waiting") for step in STEPS}
    assert {(r["cycle"], r["step"], r["state"]) for r in records[:-1]} == published | waiting
    assert all(r["why"] == "not due yet" for r in records[:-1] if r["state"] == "waiting")


def test_a_plan_writes_nothing_in_the_data_root(gfs_mirror):
    """Item 15: complete cycles' listings are remembered by runs that fetch; a preview (plan,
    status, a dry run) must not leave what a later run would trust."""
    result = gridflow("plan", "--configfile", str(gfs_mirror / "c.yaml"), "--now", NOW)
    assert result.returncode == 0, result.stderr
    assert not (gfs_mirror / "data").exists()


def test_a_run_that_fetches_remembers_complete_listings(gfs_mirror):
    from gridflow.config import loading as config
    from gridflow.pipeline import plan

    cfg = config.load_files([gfs_mirror / "c.yaml"], REPO)
    now = config.parse_clock(NOW)
    assert len(plan.plan(cfg, now).ready) == 4
    assert not (gfs_mirror / "data").exists()
    assert len(plan.plan(cfg, now, keep=True).ready) == 4
    kept = sorted(p.relative_to(gfs_mirror / "data") for p in (gfs_mirror / "data").rglob("*"))
    listings = [p for p in kept if p.name == "listing.json"]
    assert [str(p) for p in listings] == [f"cycles/gfs/{c:%Y%m%d%H}/listing.json" for c in CYCLES]


def test_quiet_keeps_errors_and_json_logs_are_one_object_a_line(gfs_mirror):
    args = ("plan", "--configfile", str(gfs_mirror / "c.yaml"), "--now", NOW)
    assert gridflow("-q", *args).stderr == ""
    shipped = gridflow("--log-format", "json", *args)
    record = json.loads(shipped.stderr)  # one record, the summary
    assert record["level"] == "info" and record["program"] == "gridflow plan"
    assert record["message"].startswith("4 file(s) published") and record["logger"]
    refused = gridflow("--log-format", "json", "-q", "plan", "--now", "tomorrow")
    assert refused.returncode == 2
    error = json.loads(refused.stderr)
    assert error["level"] == "error" and "'tomorrow' is not a time" in error["message"]


def test_other_libraries_are_quiet_unless_verbose(capsys):
    """The ClickHouse driver sets urllib3's level itself: quiet must not rest on levels."""
    chatter = [logging.getLogger(name) for name in ("urllib3", "clickhouse_connect", "chdb")]
    try:
        for verbosity, shown in ((0, False), (-1, False), (1, True)):
            logs.configure("gridflow test", verbosity)
            for logger in chatter:
                logger.warning("library chatter")
            logging.getLogger("gridflow.cli").warning("ours")
            err = capsys.readouterr().err
            assert ("library chatter" in err) is shown, verbosity
            assert "gridflow test: ours" in err
            if shown:
                assert "gridflow test: [urllib3] library chatter" in err
    finally:
        logs.configure("gridflow", 0)


def test_snakemake_chatter_follows_verbosity():
    """`gridflow run`: Snakemake's host block only with -v, its rule lines not with -q."""
    try:
        logs.configure("gridflow run", 0)
        command = scheduled_run.snakemake_command(["--cores", "2"])
        assert command[-4:] == ["--cores", "2", "--quiet", "host"]
        logs.configure("gridflow run", -1)
        assert scheduled_run.snakemake_command([])[-4:] == ["--quiet", "host", "rules", "progress"]
        logs.configure("gridflow run", 1)
        assert "--quiet" not in scheduled_run.snakemake_command([])
        logs.configure("gridflow run", 0)
        given = scheduled_run.snakemake_command(["--quiet", "rules"])
        assert given.count("--quiet") == 1  # the user's own choice stands
    finally:
        logs.configure("gridflow", 0)


def test_top_level_options_come_before_any_command():
    args = cli._parse(["-vv", "--log-format", "json", "run", "--every", "60", "--cores", "2"])
    assert (args.verbose, args.log_format, args.every) == (2, "json", 60.0)
    assert args.snakemake_args == ["--cores", "2"]
    args = cli._parse(["-q", "verify", "--repair", "--", "--cores", "1"])
    assert (args.quiet, args.repair, args.snakemake_args) == (1, True, ["--cores", "1"])


def test_the_licence_the_package_declares_is_in_the_checkout():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    text = (REPO / "LICENSE").read_text()
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_a_published_file_has_no_waiting_reason(gfs_mirror):
    """The plan gave every published GFS file the reason "not due yet"; only a file waited
    for has a reason, in the plan and in `gridflow plan --json`."""
    from gridflow.config import loading as config
    from gridflow.pipeline import plan

    cfg = config.load_files([gfs_mirror / "c.yaml"], REPO)
    p = plan.plan(cfg, config.parse_clock(NOW))
    assert len(p.ready) == 4 and all(t.why == "" for t in p.ready)
    assert p.waiting and all(t.why == "not due yet" for t in p.waiting)
    result = gridflow("plan", "--configfile", str(gfs_mirror / "c.yaml"), "--now", NOW, "--json")
    assert result.returncode == 0, result.stderr
    *records, _ = [json.loads(line) for line in result.stdout.splitlines()]
    published = [r for r in records if r["state"] == "published"]
    assert len(published) == 4 and not any("why" in r for r in published)
    assert all(r["why"] == "not due yet" for r in records if r["state"] == "waiting")


# the commands for people that read the ClickHouse store; the others have no --dsn or --wait
STORE_READERS = {"point", "latest", "sql", "map", "report", "verify", "purge", "trace"}
STORE_READERS |= {"db migrate"}


def test_only_commands_that_read_the_store_take_dsn_and_wait():
    """plan, status, metrics and backfill took --dsn and --wait and never used them."""
    for option in ("--dsn", "--wait"):
        taking = {
            prog.removeprefix("gridflow ")
            for prog, action in _walk(parser.parser())
            if option in action.option_strings
        }
        assert taking - set(parser.STEPS) == STORE_READERS, option
    for command in ("plan", "status"):
        result = gridflow(command, "--dsn", "chdb:///tmp/elsewhere", "--now", NOW)
        assert result.returncode == 2 and "unrecognized arguments: --dsn" in result.stderr
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
