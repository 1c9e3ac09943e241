"""Load, merge and validate the configuration; a bad file fails at once, naming the key."""

from __future__ import annotations

import copy
import functools
import os
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from gridflow.dsn import from_env
from gridflow.errors import UsageError


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
    return yaml.safe_load(resources.files("gridflow").joinpath("config.schema.yaml").read_text())


def _path(where: tuple) -> str:
    out = "config"
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _normalise(cfg: dict) -> dict:
    # `--config now=2025-03-12T06:00:00Z` arrives as a datetime once YAML has parsed it
    if isinstance(cfg.get("now"), datetime):
        cfg["now"] = cfg["now"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for src in cfg.get("sources", {}).values():
        if isinstance(src, dict) and isinstance(src.get("forecast_hours_by_cycle"), dict):
            src["forecast_hours_by_cycle"] = {
                str(k): v for k, v in src["forecast_hours_by_cycle"].items()
            }
    return cfg


def source_schema(family) -> dict:
    """The schema of one source: the keys every source has and its family's own."""
    common = _schema()["$defs"]["source"]
    own = family.schema
    schema = {
        "type": "object",
        "properties": {**common["properties"], **own.get("properties", {})},
        "required": sorted({*common["required"], *own.get("required", [])}),
        "additionalProperties": False,
    }
    return {**{k: v for k, v in own.items() if k not in ("properties", "required")}, **schema}


def _errors(schema: dict, value, prefix: tuple = ()) -> list:
    found = jsonschema.Draft202012Validator(schema).iter_errors(value)
    return [(prefix + tuple(e.absolute_path), e.message) for e in found]


def validate(cfg: dict) -> None:
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


def resolve(raw: dict, project_dir: Path | str = ".") -> dict:
    """Snakemake's merged config, the GRIDFLOW_* environment over it, plus each enabled source's
    defaults file, validated."""
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
    validate(cfg)
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
    ch = cfg["sinks"].setdefault("clickhouse", {})
    default_store = f"chdb://{Path(cfg['data_root']).resolve()}/clickhouse"
    ch["dsn"] = _dsn("GRIDFLOW_CLICKHOUSE_DSN", ch.get("dsn")) or default_store
    pg = cfg["sinks"].setdefault("postgis", {})
    pg["dsn"] = _dsn("GRIDFLOW_PG_DSN", pg.get("dsn"))
    return cfg


def _family_defaults(family: str | None) -> dict:
    """A family's defaults in code, under what the source's files set; an unknown family is
    named by validate()."""
    from gridflow import sources

    try:
        return copy.deepcopy(sources.family_class(family).defaults) if family else {}
    except UsageError:
        return {}


def _dsn(variable: str, configured: str | None) -> str | None:
    """The environment wins, and is referred to by name so the secret never leaves it."""
    return from_env(variable) if os.environ.get(variable) else configured


def load_files(paths: list[Path | str], project_dir: Path | str = ".") -> dict:
    """What the `gridflow` command reads: config/config.yaml, then each --configfile over it."""
    merged: dict = {}
    for path in [Path(project_dir) / "config" / "config.yaml", *map(Path, paths)]:
        if not path.exists():
            raise ConfigError(f"configuration file {path} does not exist")
        merged = deep_merge(merged, yaml.safe_load(path.read_text()) or {})
    return resolve(merged, project_dir)


def now(cfg: dict) -> datetime:
    """The one clock of a run: `now` from the config, else the wall clock (UTC)."""
    if cfg.get("now"):
        return datetime.fromisoformat(cfg["now"].replace("Z", "+00:00")).astimezone(UTC)
    return datetime.now(UTC).replace(microsecond=0)


def validation(cfg: dict, source: str) -> dict:
    """A source's load checks: the top-level `validate` settings, its own `validate` over them."""
    return deep_merge(cfg.get("validate") or {}, cfg["sources"][source].get("validate") or {})
