"""What people ask `point`, `latest` and `trace`: a place and a period, checked before the store
is opened, and, when nothing answers, a line saying why and what to run next."""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from gridflow.config.dsn import redact
from gridflow.errors import UsageError
from gridflow.query import grids as query
from gridflow.query.grids import Field, Period


def check_place(args) -> None:
    """One line for a place that cannot be (the parser takes any float, NaN included);
    longitudes from -360 to 360 are taken, as [-180, 180)."""
    if not (math.isfinite(args.lat) and -90 <= args.lat <= 90):
        raise UsageError(f"--lat {args.lat:g} is not a latitude (-90 to 90)")
    if not (math.isfinite(args.lon) and -360 <= args.lon <= 360):
        raise UsageError(f"--lon {args.lon:g} is not a longitude (-180 to 180, or 0 to 360)")
    args.lon = (args.lon + 180.0) % 360.0 - 180.0


@dataclass(frozen=True)
class SourceChoice:
    """The --source asked for, as the configuration given knows it."""

    name: str
    enabled: tuple[str, ...]  # what the configuration enables
    defined: bool  # a file under config/sources/ (or settings in the config) names it
    gauge: bool  # its rows are a gauge network's, not a grid's

    @property
    def is_enabled(self) -> bool:
        return self.name in self.enabled

    def unknown(self) -> str:
        return f"unknown source {self.name} (enabled: {', '.join(self.enabled) or 'none'})"

    def not_enabled(self, args) -> str:
        given = " ".join(args.configfile or []) or "config/config.yaml"
        return (
            f"source {self.name} is not enabled in {given} (enabled: "
            f"{', '.join(self.enabled) or 'none'}): give the --configfile that enables it"
        )


def source_choice(args, cfg: dict) -> SourceChoice:
    """What --source names: enabled or not, defined at all, a gauge network or a grid."""
    from gridflow import formats, rows, sources

    name = args.source
    settings = cfg["sources"].get(name)
    if settings is None and name.replace("_", "").replace("-", "").isalnum():  # no paths
        path = Path(args.project) / "config" / "sources" / f"{name}.yaml"
        settings = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else None
    gauge = False
    if settings and settings.get("family"):
        family = sources.family_class(settings["family"])(name, settings)
        gauge = formats.registry()[family.raw_format].table is rows.GAUGES
    return SourceChoice(name, tuple(cfg["sources"]), settings is not None, gauge)


def period(args) -> Period:
    """--start and --end as the valid times a grid series keeps (a day as --end: all of it)."""

    def at(option: str, text: str | None, day_end: bool) -> datetime | None:
        if text is None:
            return None
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise UsageError(
                f"{option} {text!r} is neither a day (YYYY-MM-DD) nor a time "
                "(YYYY-MM-DDTHH:MM[:SS]Z)"
            ) from None
        if day_end and len(text) <= 10:  # a day, not a time
            when += timedelta(days=1, seconds=-1)
        return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    chosen = Period(at("--start", args.start, False), at("--end", args.end, True))
    if chosen.start and chosen.end and chosen.end < chosen.start:
        raise UsageError(f"--end {args.end} is before --start {args.start}")
    return chosen


def why_empty(args, client, field: Field, asked: Period) -> str:
    """Why a grid query found no values, with what to ask next."""
    what = f"source={field.source} variable={field.variable} level={field.level!r}"
    if field.descriptor is not None:
        kinds = query.descriptors(client, field)
        if kinds and field.descriptor not in kinds:
            listed = ", ".join(repr(k) if k else "'' (plain)" for k in kinds)
            return f"no field of {what} has --descriptor {field.descriptor!r}; it has {listed}"
    asked_times = asked.start or asked.end
    if asked_times and query.nearest_point(client, field, args.lat, args.lon):  # rows, not then
        return (
            f"no values of {what} with a valid time from {args.start or 'the first'} to "
            f"{args.end or 'the last'} at the grid point nearest {args.lat:g}, {args.lon:g}"
        )
    listing = "SELECT DISTINCT source, variable, level, descriptor FROM grid_fields"
    return f"no data for {what}; `{hint(args, 'sql', listing)}` lists what is loaded"


def hint(args, command: str, *rest: str) -> str:
    """A gridflow command line for a hint, with the store options this one was given, so it
    reads the same store when run as shown (a DSN without its secrets)."""
    given = []
    for path in args.configfile or []:
        given += ["--configfile", path]
    if args.project != ".":
        given += ["--project", args.project]
    if args.dsn:
        given += ["--dsn", redact(args.dsn)]
    return shlex.join(["gridflow", command, *given, *rest])
