"""Operating settings: what the workflow's jobs need but must not track (the mirror, timeouts,
retries, anonymous access, a job service's key variable, the checkout's migrations, where the
stores are). Changing them never changes an output's bytes, so the workflow hands them to its
jobs in one environment variable rather than in Snakemake's tracked params: a moved project
folder, or the store's DSN spelled another way, leaves finished work alone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gridflow.errors import UsageError

ENV = "GRIDFLOW_OPERATING"


def _settings() -> dict:
    text = os.environ.get(ENV)
    if not text:
        raise UsageError(f"no operating settings: run from the workflow, or set {ENV}")
    return json.loads(text)


def of_source(source: str, given: str | None = None) -> dict:
    """One source's settings: `given` (JSON, from a command line), else the workflow's."""
    if given:
        return json.loads(given)
    settings = _settings()
    if source not in settings.get("sources", {}):
        raise UsageError(f"{ENV} has no settings for source {source!r}")
    return settings["sources"][source]


def migrations(store: str, given: str | None = None) -> Path:
    """A store's migrations folder: as given, else the workflow's."""
    if given:
        return Path(given)
    found = _settings().get("migrations", {})
    if store not in found:
        raise UsageError(f"no --migrations folder and none for {store} in {ENV}")
    return Path(found[store])


def dsn(store: str, given: str | None = None) -> str:
    """A store's DSN (clickhouse, postgres): as given, else the workflow's. It may be an
    `env:NAME` reference (gridflow.config.dsn), so a secret stays in the environment."""
    if given:
        return given
    found = _settings().get("dsn", {}).get(store)
    if not found:
        raise UsageError(f"no --dsn and no {store} DSN in {ENV}")
    return found


def load_check_settings(source: str) -> dict:
    """A source's load checks (gridflow.pipeline.load_checks): the workflow's `validate`
    settings, with the source's own `validate` over them. Changing them checks new loads, never
    reloads old ones."""
    text = os.environ.get(ENV)
    return json.loads(text).get("validate", {}).get(source, {}) if text else {}


def for_jobs(
    sources: dict,
    basedir: str,
    load_checks: dict | None = None,
    dsns: dict | None = None,
) -> str:
    """The variable's value for a run: every source's settings, the checkout's migrations and
    the stores' DSNs (clickhouse, postgres; None for a sink that is off)."""
    folders = {store: f"{basedir}/migrations/{store}" for store in ("clickhouse", "postgres")}
    return json.dumps(
        {
            "sources": sources,
            "migrations": folders,
            "validate": load_checks or {},
            "dsn": {store: value for store, value in (dsns or {}).items() if value},
        }
    )
