"""Load, merge and validate the configuration; a bad file fails at once, naming the key."""

from __future__ import annotations

import copy
import functools
import os
import re
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from gridflow.config.dsn import from_env
from gridflow.errors import USAGE, UsageError


class ConfigError(UsageError, ValueError):
    """A configuration that does not satisfy the schema."""


def deep_merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@functools.cache
def _schema() -> dict:
    return yaml.safe_load(resources.files("gridflow.config").joinpath("schema.yaml").read_text())


def _path(where: tuple) -> str:
    out = "config"
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


# The one form a pinned clock is given in, wherever it is given (`now:` in a file, `--config
# now=...`, `--now`): UTC, to the minute or second, with the Z that says so.
CLOCK_FORM = "YYYY-MM-DDTHH:MM[:SS]Z (UTC), e.g. 2025-03-12T06:00:00Z"
_CLOCK = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?Z")


class ClockError(ConfigError):
    """A pinned clock that is not a time of CLOCK_FORM."""


def parse_clock(value) -> datetime:
    """A pinned clock as a UTC datetime; anything else is a ClockError naming the value.
    YAML turns `2025-03-12T06:00:00Z` into a datetime before we see it: one in UTC is the same
    time; a date, a time without a zone or in another zone is not of the form."""
    if isinstance(value, datetime) and value.utcoffset() is not None:
        if value.utcoffset():
            raise ClockError(f"{value.isoformat()!r} is not UTC; the form is {CLOCK_FORM}")
        return value.astimezone(UTC)
    text = value.isoformat() if isinstance(value, date) else value
    match = _CLOCK.fullmatch(text) if isinstance(text, str) else None
    if not match:
        raise ClockError(f"{text!r} is not a time of the form {CLOCK_FORM}")
    try:
        return datetime(*(int(part or 0) for part in match.groups()), tzinfo=UTC)
    except ValueError as exc:  # a month 13, a day 45, an hour 24
        raise ClockError(f"{text!r} is not a time ({exc}); the form is {CLOCK_FORM}") from None


def clock_text(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _normalise(cfg: dict) -> dict:
    # the clock, checked before the schema (whose pattern says nothing of month 13), and kept
    # as text: the resolved configuration is passed on as JSON
    if cfg.get("now") is not None:
        try:
            cfg["now"] = clock_text(parse_clock(cfg["now"]))
        except ClockError as exc:
            raise ClockError(f"invalid configuration:\n  config.now: {exc}") from None
    for src in cfg.get("sources", {}).values():
        if isinstance(src, dict) and isinstance(src.get("forecast_hours_by_cycle"), dict):
            src["forecast_hours_by_cycle"] = {
                str(k): v for k, v in src["forecast_hours_by_cycle"].items()
            }
    return cfg


def source_schema(family) -> dict:
    """The schema of one source: the keys every source has and its family's own."""
    definitions = _schema()["$defs"]
    common = definitions["source"]
    own = family.schema
    schema = {
        "$defs": definitions,  # the keys every source has refer to them (validate)
        "type": "object",
        "properties": {**common["properties"], **own.get("properties", {})},
        "required": sorted({*common["required"], *own.get("required", [])}),
        "additionalProperties": False,
    }
    return {**{k: v for k, v in own.items() if k not in ("properties", "required")}, **schema}


def _errors(schema: dict, value, prefix: tuple = ()) -> list:
    found = jsonschema.Draft202012Validator(schema).iter_errors(value)
    return [(prefix + tuple(e.absolute_path), e.message) for e in found]


def check_schema(cfg: dict) -> None:
    """The configuration against the schema and each source's family's own; ConfigError lists
    the first problems, each naming its key."""
    from gridflow import sources

    errors = _errors(_schema(), cfg)
    for name, src in (cfg.get("sources") or {}).items():
        if not isinstance(src, dict) or "family" not in src:
            continue  # the schema names it
        try:
            family = sources.family_class(src["family"])
        except UsageError as exc:
            errors.append((("sources", name, "family"), str(exc)))
            continue
        errors += _errors(source_schema(family), src, ("sources", name))
    if errors:
        errors.sort(key=lambda e: list(map(str, e[0])))
        lines = [f"{_path(where)}: {message}" for where, message in errors[:10]]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))


def _flag(text: str) -> bool:
    if text.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if text.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("not true/false, yes/no, on/off or 1/0")


def _sources_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


# Environment variables applied over the configuration files (containers, schedulers).
# GRIDFLOW_PARALLEL_DOWNLOADS and GRIDFLOW_POLL_INTERVAL are about running: `gridflow run`.
ENVIRONMENT = {
    "GRIDFLOW_ENABLED_SOURCES": (("sources_enabled",), _sources_list),
    "GRIDFLOW_CLEANUP_ENABLED": (
        ("purge",),
        lambda text: "after_ingest" if _flag(text) else "manual",
    ),
    "GRIDFLOW_MAX_RETRIES": (("fetch", "max_retries"), int),
}


def apply_environment(cfg: dict) -> dict:
    for variable, (keys, parse) in ENVIRONMENT.items():
        text = os.environ.get(variable)
        if text is None or not text.strip():
            continue
        try:
            value = parse(text)
        except ValueError as exc:
            raise ConfigError(f"invalid configuration:\n  {variable}={text!r}: {exc}") from None
        node = cfg
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return cfg


# Set by load_files, never by a file: the folder a relative data_root lies below.
PROJECT_DIR = "project_dir"


def data_root(cfg: dict) -> Path:
    """The data root on disk. A relative `data_root` lies below the project folder: the
    `gridflow` command's --project, as the workflow's lies below Snakemake's working directory
    (where `gridflow run` starts it). Left relative when no project folder was given (the
    workflow), so the rules' own spelling is kept."""
    root = Path(cfg["data_root"])
    return Path(cfg[PROJECT_DIR]) / root if cfg.get(PROJECT_DIR) else root


def resolve(raw: dict, project_dir: Path | str = ".", root_below: Path | str | None = None) -> dict:
    """Snakemake's merged config, the GRIDFLOW_* environment over it, plus each enabled source's
    defaults file, validated. With `root_below`, a relative data_root lies below that folder
    (data_root() reads it) rather than below the working directory."""
    cfg = apply_environment(_normalise(copy.deepcopy(raw)))
    overrides = cfg.get("sources") or {}
    sources = {}
    for name in cfg.get("sources_enabled") or []:
        path = Path(project_dir) / "config" / "sources" / f"{name}.yaml"
        if not path.exists() and name not in overrides:
            raise ConfigError(
                f"invalid configuration:\n  config.sources_enabled: source {name!r} "
                f"has no file {path} and no settings under config.sources.{name}"
            )
        configured = yaml.safe_load(path.read_text()) if path.exists() else {}
        configured = deep_merge(configured or {}, overrides.get(name) or {})
        sources[name] = deep_merge(_family_defaults(configured.get("family")), configured)
    cfg["sources"] = sources
    cfg = _normalise(cfg)
    check_schema(cfg)
    for name, src in sources.items():
        # one clock: what the schedule still wants must never be past retention
        if src["retention_hours"] < src["window_hours"]:
            raise ConfigError(
                f"invalid configuration:\n  config.sources.{name}.retention_hours: "
                f"{src['retention_hours']} is shorter than window_hours {src['window_hours']}; "
                "the purge would delete what the next run fetches again"
            )
    cfg.setdefault("purge", "manual")
    cfg.setdefault("keep_shreds", False)
    if root_below is not None:
        cfg[PROJECT_DIR] = str(Path(root_below).resolve())
    ch = cfg["sinks"].setdefault("clickhouse", {})
    default_store = f"chdb://{data_root(cfg).resolve()}/clickhouse"
    ch["dsn"] = _dsn("GRIDFLOW_CLICKHOUSE_DSN", ch.get("dsn")) or default_store
    pg = cfg["sinks"].setdefault("postgis", {})
    pg["dsn"] = _dsn("GRIDFLOW_PG_DSN", pg.get("dsn"))
    return cfg


def _family_defaults(family: str | None) -> dict:
    """A family's defaults in code, under what the source's files set; an unknown family is
    named by check_schema()."""
    from gridflow import sources

    try:
        return copy.deepcopy(sources.family_class(family).defaults) if family else {}
    except UsageError:
        return {}


def _dsn(variable: str, configured: str | None) -> str | None:
    """The environment wins, and is referred to by name so the secret never leaves it."""
    return from_env(variable) if os.environ.get(variable) else configured


class _TimesAsText(yaml.SafeLoader):
    """YAML that leaves times as text: `now: 2025-03-12T06:00:00Z` reaches the one clock
    parser as written (YAML's own would refuse a month 13 with a bare ValueError)."""


_TimesAsText.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_files(paths: list[Path | str], project_dir: Path | str = ".") -> dict:
    """What the `gridflow` command reads: config/config.yaml, then each --configfile over it."""
    merged: dict = {}
    defaults = Path(project_dir) / "config" / "config.yaml"
    for path in [defaults, *map(Path, paths)]:
        if path == defaults and not path.exists():
            raise ConfigError(
                f"configuration file {path} does not exist: run this from the gridflow "
                "checkout, or give --project DIR"
            )
        if not path.exists():
            raise ConfigError(f"configuration file {path} does not exist")
        try:
            content = yaml.load(path.read_text(), Loader=_TimesAsText)
        except yaml.YAMLError as exc:
            reason = " ".join(str(exc).split())
            raise ConfigError(f"configuration file {path} is not YAML: {reason}") from None
        merged = deep_merge(merged, content or {})
    return resolve(merged, project_dir, root_below=project_dir)


def now(cfg: dict) -> datetime:
    """The one clock of a run: `now` from the config, else the wall clock (UTC)."""
    if cfg.get("now"):
        try:
            return parse_clock(cfg["now"])
        except ClockError as exc:
            raise ClockError(f"invalid configuration:\n  config.now: {exc}") from None
    return datetime.now(UTC).replace(microsecond=0)


def for_workflow(raw: dict, project_dir: Path | str):
    """resolve() for the Snakefile: a bad configuration ends Snakemake with exit 2 and the
    error's lines alone (raised, Snakemake would print it with a traceback)."""
    import sys

    try:
        return resolve(raw, project_dir)
    except ConfigError as exc:
        print(f"gridflow: {exc}", file=sys.stderr)
        raise SystemExit(USAGE) from None


def load_check_settings(cfg: dict, source: str) -> dict:
    """A source's load checks: the top-level `validate` settings, its own `validate` over them."""
    return deep_merge(cfg.get("validate") or {}, cfg["sources"][source].get("validate") or {})
