"""`gridflow`'s entry point: logging set up first, the command line parsed (passing Snakemake's
options through untouched), the command run, and each failure turned into one line and its
exit code."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from gridflow import errors, logs
from gridflow.cli.parser import parser

log = logging.getLogger(__name__)


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
    from gridflow.ops.run_lock import RunActive

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
