"""Item 14: `gridflow db migrate` says what it applied and what each store already had, and
applies nothing twice: ClickHouse records its migrations in `schema_migrations` (as PostgreSQL
does in `gridflow.schema_migrations`); a store from before the record is recognised by its
tables, not reported as migrated again."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
from tests_support import REPO

from gridflow import paths
from gridflow.sinks import clickhouse

NAMES = [p.name for p in paths.migration_files(REPO / "migrations" / "clickhouse")]
PG_NAMES = sorted(p.name for p in (REPO / "migrations" / "postgres").glob("*.sql"))


def _migrate(tmp_path, project=REPO, env=None) -> subprocess.CompletedProcess:
    command = ["gridflow", "db", "migrate", "--project", str(project)]
    command += ["--dsn", f"chdb://{tmp_path}/store"]
    environment = {k: v for k, v in os.environ.items() if k != "GRIDFLOW_PG_DSN"} | (env or {})
    return subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=120
    )


def _line(result, store: str) -> str:
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if line.startswith(store))


def test_a_second_migrate_applies_nothing_and_says_what_is_in_place(tmp_path):
    first = _line(_migrate(tmp_path), "ClickHouse")
    assert first == f"ClickHouse chdb://{tmp_path}/store: applied {', '.join(NAMES)}"
    second = _line(_migrate(tmp_path), "ClickHouse")
    assert second == (
        f"ClickHouse chdb://{tmp_path}/store: nothing to apply; "
        f"already in place: {', '.join(NAMES)}"
    )


def test_a_store_migrated_before_the_record_is_not_migrated_again(tmp_path):
    """Every store so far ran the statements with no record (each load does): what they made
    is in place, and only a migration that changes a table counts as applied."""
    client = clickhouse.connect(f"chdb://{tmp_path}/store")
    try:
        for path in sorted((REPO / "migrations" / "clickhouse").glob("*.sql")):
            for statement in clickhouse._statements(path):
                client.command(statement)
    finally:
        client.close()
    said = _line(_migrate(tmp_path), "ClickHouse")
    assert said == (
        f"ClickHouse chdb://{tmp_path}/store: applied {NAMES[-1]}; "
        f"already in place: {', '.join(NAMES[:-1])}"
    )


def test_a_new_migration_is_applied_once(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(REPO / "config", project / "config")
    shutil.copytree(REPO / "migrations", project / "migrations")
    _line(_migrate(tmp_path, project), "ClickHouse")
    new = project / "migrations" / "clickhouse" / "999_note.sql"
    new.write_text("ALTER TABLE grid_values ADD COLUMN IF NOT EXISTS note String DEFAULT ''\n")
    said = _line(_migrate(tmp_path, project), "ClickHouse")
    assert said.endswith(f": applied 999_note.sql; already in place: {', '.join(NAMES)}")
    again = _line(_migrate(tmp_path, project), "ClickHouse")
    assert again.endswith(f": nothing to apply; already in place: {', '.join(NAMES)}, 999_note.sql")


@pytest.mark.postgres
def test_postgresql_says_the_same(tmp_path, postgres):
    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    env = {"GRIDFLOW_PG_DSN": postgres.dsn(db=name)}
    first = _line(_migrate(tmp_path, env=env), "PostgreSQL")
    assert first.endswith(f": applied {', '.join(PG_NAMES)}") and "password" not in first
    second = _line(_migrate(tmp_path, env=env), "PostgreSQL")
    assert second.endswith(f": nothing to apply; already in place: {', '.join(PG_NAMES)}")


@pytest.mark.postgres
def test_loads_that_start_together_migrate_a_fresh_database_once(postgres):
    """Every load migrates first, and a run's loads start together: on a fresh database two
    `CREATE SCHEMA IF NOT EXISTS` at once collided (UniqueViolation on pg_namespace)."""
    import threading

    from gridflow.sinks import postgis

    name = "t" + uuid.uuid4().hex[:10]
    postgres.psql(f"CREATE DATABASE {name}")
    together = threading.Barrier(6)
    applied, failed = [], []

    def load():
        with postgis.connect(postgres.dsn(db=name)) as conn:
            together.wait()
            try:
                applied.append(postgis.migrate(conn, REPO / "migrations" / "postgres"))
            except Exception as exc:  # whatever failed is the finding
                failed.append(repr(exc))

    threads = [threading.Thread(target=load) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    assert sorted(applied, key=len) == [[]] * 5 + [PG_NAMES]
