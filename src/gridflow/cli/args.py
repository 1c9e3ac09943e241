"""What every command reads from its arguments: the configuration, a store client, the source
and the field asked for; and the error for a request that cannot be answered."""

from __future__ import annotations

from gridflow import errors
from gridflow.config import loading as gfconfig
from gridflow.config.dsn import redact, resolve


class UserError(errors.UsageError):
    """A request that cannot be answered (no such data, a command needing what is not set)."""


def configuration(args) -> dict:
    return gfconfig.load_files(args.configfile or [], args.project)


def store_client(args, wait: float = 30.0, loaded: bool = False):
    """A store client; with `loaded`, one whose store has grid_data (queries need it). Only a
    repair may create the embedded store: reading commands never make a folder."""
    from gridflow.sinks import clickhouse

    dsn = args.dsn or configuration(args)["sinks"]["clickhouse"]["dsn"]
    client = clickhouse.connect(dsn, wait_seconds=wait, create=getattr(args, "repair", False))
    if loaded and not int(client.command(f"EXISTS TABLE {clickhouse.TABLE}")):
        client.close()
        raise UserError(nothing_loaded(dsn))
    return client, dsn


def nothing_loaded(dsn: str) -> str:
    from gridflow.sinks import clickhouse

    return f"nothing is loaded in {redact(resolve(dsn))} yet (no {clickhouse.TABLE})"


def chosen_source(args):
    """--source as the configuration given knows it; a gauge network's must be enabled there
    (its config names the gauges), an undefined name is refused when nothing of it is stored."""
    from gridflow.query import options as query_options

    chosen = query_options.source_choice(args, configuration(args))
    if chosen.gauge and not chosen.is_enabled:
        raise UserError(chosen.not_enabled(args))
    return chosen


def field_asked(args):
    from gridflow.query.grids import Field

    return Field(args.source, args.variable, args.level, args.descriptor)
