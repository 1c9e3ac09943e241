"""PostgreSQL/PostGIS: the catalog of raw files, load lineage, grid cells and route exposure.

Each raw file's catalog row, cells and lineage commit in one transaction, so a failure leaves
nothing half-loaded and a rerun converges.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import astuple, dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from gridflow.config.dsn import redact, resolve
from gridflow.errors import UNREACHABLE, GridflowError
from gridflow.pipeline import load_marker
from gridflow.pipeline.sidecar import Sidecar

CELL_COLUMNS = (
    '"timestamp"',
    "variable",
    "geom",
    "value",
    "severity",
    "source",
    "raw_key",
    "raw_file_id",
)
FIELD_COLUMNS = (  # catalog.fields, in gridflow.pipeline.load_marker.LoadedField's order
    "variable",
    "level",
    "forecast",
    "descriptor",
    "ref_time",
    "step",
    "rows",
    "west",
    "south",
    "east",
    "north",
)
SCHEMA = {
    "catalog.raw_files": {
        "id",
        "source",
        "dataset",
        "date",
        "object_key",
        "source_url",
        "raw_key",
        "sha256",
        "byte_ranges",
        "raw_bytes",
        "upstream_bytes",
        "wire_bytes",
        "fetched_at",
        "created_at",
    },
    "catalog.loads": {"raw_file_id", "sink", "rows", "fields", "status", "loaded_at"},
    "catalog.fields": {"raw_file_id", *FIELD_COLUMNS},
    "catalog.source_updates": {"source", "cycle", "raw_file_id", "cells", "loaded_at"},
    "public.gauges": {"id", "source", "gauge", "name", "former_ids", "geom", "raw_file_id"},
    "public.pollution_grid": {c.strip('"') for c in CELL_COLUMNS} | {"id", "created_at"},
    "public.saved_routes": {
        "id",
        "name",
        "variable",
        "origin",
        "destination",
        "route",
        "last_mean",
        "last_severity",
        "last_cells",
        "last_score",
        "last_computed",
    },
}
CELL_TYPES = ["timestamptz", "text", "bytea", "float8", "int2", "text", "text", "uuid"]


class PostgisError(GridflowError):
    """PostgreSQL refusing us, without PostGIS, or with tables changed by hand."""


class PostgisUnreachable(PostgisError):
    """PostgreSQL that does not answer (or refuses the connection)."""

    exit_code = UNREACHABLE


def connect(dsn: str) -> psycopg.Connection:
    try:
        dsn = resolve(dsn)
        # autocommit: each `conn.transaction()` is a real transaction that commits at its end,
        # never a savepoint of an implicit one that closing the connection would roll back
        return psycopg.connect(dsn, connect_timeout=10, autocommit=True)
    except ValueError as exc:
        raise PostgisError(str(exc)) from None
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise PostgisUnreachable(
            f"cannot connect to PostgreSQL at {redact(dsn)}: {reason}"
        ) from None


# The advisory lock the migrations are applied under: "gridflow" in ASCII, one 64-bit key.
MIGRATION_LOCK = 0x67726964666C6F77


def migrate(conn: psycopg.Connection, migrations: Path) -> list[str]:
    """Apply `*.sql` files not yet applied, in name order, each in its own transaction; returns
    the names applied now. One process at a time: the loads of a run start together, and two
    `CREATE SCHEMA IF NOT EXISTS` at once collide on a fresh database."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        return _migrate(conn, migrations)
    finally:
        # closing the session releases it too: a failed unlock must not hide the error
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


def _migrate(conn: psycopg.Connection, migrations: Path) -> list[str]:
    with conn.transaction():
        conn.execute("CREATE SCHEMA IF NOT EXISTS gridflow")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS gridflow.schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
    done = {r[0] for r in conn.execute("SELECT name FROM gridflow.schema_migrations")}
    applied = []
    for path in sorted(migrations.glob("*.sql")):
        if path.name in done:
            continue
        try:
            with conn.transaction():
                conn.execute(path.read_text())
                conn.execute(
                    "INSERT INTO gridflow.schema_migrations (name) VALUES (%s)", (path.name,)
                )
        except psycopg.errors.FeatureNotSupported as exc:
            raise PostgisError(_no_postgis(conn, exc)) from None
        except (psycopg.errors.UndefinedFile, psycopg.errors.InsufficientPrivilege) as exc:
            if "postgis" not in path.read_text().lower():
                raise PostgisError(f"migration {path.name} failed: {exc}".strip()) from None
            raise PostgisError(_no_postgis(conn, exc)) from None
        except psycopg.Error as exc:
            raise PostgisError(f"migration {path.name} failed: {exc}".strip()) from None
        applied.append(path.name)
    check_schema(conn)
    return applied


def _no_postgis(conn, exc) -> str:
    return (
        f"database {conn.info.dbname!r} has no PostGIS (CREATE EXTENSION postgis failed: "
        f"{str(exc).strip().splitlines()[0]}); install PostGIS on the server "
        "(Debian: postgresql-15-postgis-3)"
    )


def check_schema(conn: psycopg.Connection) -> None:
    """Fail, naming the table and columns, when a table no longer has what gridflow writes."""
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('catalog', 'public')"
    ).fetchall()
    present: dict[str, set[str]] = {}
    for table, column in rows:
        present.setdefault(table, set()).add(column)
    for table, columns in SCHEMA.items():
        missing = sorted(columns - present.get(table, set()))
        if missing:
            raise PostgisError(
                f"table {table} does not match gridflow's schema (missing: {', '.join(missing)}); "
                "it was changed by hand: restore it, or drop it and run `gridflow db migrate`"
            )


@contextlib.contextmanager
def reading(conn: psycopg.Connection):
    """A read-only transaction, as gridflow_reader (a role that can only read) when the
    connecting user may act as it: for people's queries, never for the rules' loads."""
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        reader = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridflow_reader') "
            "AND pg_has_role(current_user, 'gridflow_reader', 'MEMBER')"
        ).fetchone()[0]
        if reader:
            conn.execute("SET LOCAL ROLE gridflow_reader")
        yield conn


def register(conn: psycopg.Connection, sidecar: Sidecar, cycle: datetime) -> None:
    """The raw file in the catalog; the same object again replaces its row (new run id)."""
    conn.execute(
        """
        INSERT INTO catalog.raw_files (id, source, dataset, date, cycle, object_key, source_url,
            raw_key, etag, last_modified, byte_ranges, raw_bytes, upstream_bytes, wire_bytes,
            fetched_at, sha256)
        VALUES (%(id)s, %(source)s, %(dataset)s, %(date)s, %(cycle)s, %(url)s, %(url)s,
            %(raw_key)s, %(etag)s, %(last_modified)s, %(ranges)s, %(size)s, %(upstream_size)s,
            %(wire_bytes)s, %(fetched_at)s, %(sha256)s)
        ON CONFLICT (object_key) DO UPDATE SET id = EXCLUDED.id, etag = EXCLUDED.etag,
            last_modified = EXCLUDED.last_modified, byte_ranges = EXCLUDED.byte_ranges,
            raw_bytes = EXCLUDED.raw_bytes, upstream_bytes = EXCLUDED.upstream_bytes,
            wire_bytes = EXCLUDED.wire_bytes, fetched_at = EXCLUDED.fetched_at,
            sha256 = EXCLUDED.sha256, raw_key = EXCLUDED.raw_key, created_at = now()
        WHERE catalog.raw_files.id <> EXCLUDED.id
        """,
        {
            "id": sidecar.run_id,
            "source": sidecar.source,
            "dataset": sidecar.key,
            "date": cycle.date(),
            "cycle": cycle,
            "url": sidecar.url,
            "raw_key": sidecar.raw_key,
            "etag": sidecar.etag,
            "last_modified": sidecar.last_modified,
            "ranges": json.dumps(sidecar.byte_ranges),
            "size": sidecar.size,
            "upstream_size": sidecar.upstream_size,
            "wire_bytes": sidecar.wire_bytes,  # null: a sidecar from before it was kept
            "fetched_at": sidecar.fetched_at,
            "sha256": sidecar.sha256,
        },
    )


def record_load(
    conn: psycopg.Connection,
    raw_file_id: str,
    sink: str,
    rows: int,
    fields: int | None = None,
    status: str = "loaded",
    loaded_at: datetime | None = None,
) -> None:
    """One load of a raw file into one sink (`clickhouse.grid_data`, `postgis.pollution_grid`);
    a reload replaces it. `loaded_at` defaults to now."""
    conn.execute(
        """
        INSERT INTO catalog.loads (raw_file_id, sink, rows, fields, status, loaded_at)
        VALUES (%s, %s, %s, %s, %s, COALESCE(%s, now()))
        ON CONFLICT (raw_file_id, sink) DO UPDATE SET rows = EXCLUDED.rows,
            fields = EXCLUDED.fields, status = EXCLUDED.status, loaded_at = EXCLUDED.loaded_at
        """,
        (raw_file_id, sink, rows, fields, status, loaded_at),
    )


def record_clickhouse_load(conn: psycopg.Connection, load: load_marker.ClickhouseLoad) -> None:
    """The ClickHouse load of a raw file (from its marker) and the fields it put in the store."""
    record_load(
        conn, load.raw_file_id, load.sink, load.rows, load.field_count, load.status, load.loaded_at
    )
    if load.fields is None:
        return
    conn.execute("DELETE FROM catalog.fields WHERE raw_file_id = %s", (load.raw_file_id,))
    with conn.cursor().copy(
        f"COPY catalog.fields (raw_file_id, {', '.join(FIELD_COLUMNS)}) FROM STDIN"
    ) as copy:
        for field in load.fields:
            copy.write_row((load.raw_file_id, *astuple(field)))


def cell_fields(conn: psycopg.Connection, sidecar: Sidecar) -> int:
    """How many fields (variable and time) of the raw file are in pollution_grid."""
    return conn.execute(
        'SELECT count(DISTINCT (variable, "timestamp")) FROM pollution_grid '
        "WHERE source = %s AND raw_key = %s",
        (sidecar.source, sidecar.raw_key),
    ).fetchone()[0]


def record_update(conn: psycopg.Connection, sidecar: Sidecar, cycle: datetime, cells: int) -> None:
    """The source's newest successful load (catalog.source_updates)."""
    conn.execute(
        """
        INSERT INTO catalog.source_updates (source, cycle, raw_file_id, cells)
        VALUES (%s, %s, %s, %s)
        ON CONFLICT (source) DO UPDATE SET cycle = EXCLUDED.cycle,
            raw_file_id = EXCLUDED.raw_file_id, cells = EXCLUDED.cells, loaded_at = now()
        WHERE catalog.source_updates.cycle <= EXCLUDED.cycle
        """,
        (sidecar.source, cycle, sidecar.run_id, cells),
    )


def record_gauge(conn: psycopg.Connection, source: str, gauge: dict, raw_file_id: str) -> None:
    """A gauge as a point with its metadata; a newer import replaces the row."""
    conn.execute(
        """
        INSERT INTO gauges (source, gauge, name, former_ids, id_history, station_type, city,
            county, elevation_ft, location, remarks, data_begins, geom, raw_file_id)
        VALUES (%(source)s, %(gauge)s, %(name)s, %(former_ids)s, %(id_history)s,
            %(station_type)s, %(city)s, %(county)s, %(elevation_ft)s, %(location)s, %(remarks)s,
            %(data_begins)s, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(raw_file_id)s)
        ON CONFLICT (source, gauge) DO UPDATE SET name = EXCLUDED.name,
            former_ids = EXCLUDED.former_ids, id_history = EXCLUDED.id_history,
            station_type = EXCLUDED.station_type, city = EXCLUDED.city,
            county = EXCLUDED.county, elevation_ft = EXCLUDED.elevation_ft,
            location = EXCLUDED.location, remarks = EXCLUDED.remarks,
            data_begins = EXCLUDED.data_begins, geom = EXCLUDED.geom,
            raw_file_id = EXCLUDED.raw_file_id, updated_at = now()
        """,
        {**gauge, "source": source, "raw_file_id": raw_file_id},
    )


def load_cells(conn: psycopg.Connection, sidecar: Sidecar, cell_batches) -> int:
    """Replace the raw file's cells with `cell_batches` (binary COPY); returns rows written."""
    conn.execute(
        "DELETE FROM pollution_grid WHERE source = %s AND raw_key = %s",
        (sidecar.source, sidecar.raw_key),
    )
    rows = 0
    raw_file_id = uuid.UUID(sidecar.run_id)
    with conn.cursor().copy(
        f"COPY pollution_grid ({', '.join(CELL_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(CELL_TYPES)
        for cells in cell_batches:
            for wkb, value, sev in zip(
                cells.wkb, cells.value.tolist(), cells.severity.tolist(), strict=True
            ):
                copy.write_row(
                    (
                        cells.timestamp,
                        cells.variable,
                        wkb,
                        value,
                        sev,
                        sidecar.source,
                        sidecar.raw_key,
                        raw_file_id,
                    )
                )
            rows += len(cells.value)
    return rows


ROUTE_EXPOSURE = """
WITH newest AS (
    SELECT variable, max("timestamp") AS ts FROM pollution_grid GROUP BY variable
), exposure AS (
    SELECT r.id, avg(c.value) AS mean, sum(c.severity) AS severity, count(c.*) AS cells
    FROM saved_routes r
    JOIN newest n ON n.variable = r.variable
    LEFT JOIN pollution_grid c
      ON c.variable = r.variable AND c."timestamp" = n.ts
     AND ST_Intersects(c.geom, COALESCE(r.route, ST_MakeLine(r.origin, r.destination)))
    GROUP BY r.id
)
UPDATE saved_routes r
SET last_mean = e.mean, last_severity = e.severity, last_cells = e.cells,
    -- the mean value, weighted up by the mean severity class along the route
    last_score = e.mean * (1 + e.severity::double precision / NULLIF(e.cells, 0)),
    last_computed = now()
FROM exposure e WHERE r.id = e.id
"""


def recompute_routes(conn: psycopg.Connection) -> int:
    """Every saved route's exposure to the newest cells of its variable; returns routes updated."""
    with conn.transaction():
        conn.execute("SET LOCAL jit = off")  # planning a JIT costs more than this query
        return conn.execute(ROUTE_EXPOSURE).rowcount


# Retention. gridflow.pipeline.purge decides which raw files expired (by the cycle each was fetched
# for); these read what each raw file holds here, and delete it. A refetch of an object
# replaces its catalog row (id and raw_key, not cycle), so the raw key, not the catalog's
# cycle, says which cycle a row belongs to.


@dataclass(frozen=True)
class CataloguedFile:
    """One raw file of a source as PostgreSQL knows it: its cells, and its catalog row (with
    the cycle it was registered for) when it has one."""

    raw_key: str
    cells: int
    catalog_rows: int
    catalog_cycle: datetime | None


FILES = """
SELECT coalesce(c.raw_key, r.raw_key), coalesce(c.cells, 0), coalesce(r.n, 0), r.cycle
FROM (SELECT raw_key, count(*) AS cells FROM pollution_grid WHERE source = %(s)s
      GROUP BY raw_key) c
FULL JOIN (SELECT raw_key, count(*) AS n, min(cycle) AS cycle FROM catalog.raw_files
           WHERE source = %(s)s GROUP BY raw_key) r ON r.raw_key = c.raw_key
"""
EXPIRE = (
    # lineage first: it is found through the cells and catalog rows deleted next
    "DELETE FROM catalog.loads WHERE raw_file_id IN ("
    "SELECT id FROM catalog.raw_files WHERE source = %(s)s AND raw_key = ANY(%(k)s) UNION "
    "SELECT DISTINCT raw_file_id FROM pollution_grid "
    "WHERE source = %(s)s AND raw_key = ANY(%(k)s))",
    "DELETE FROM pollution_grid WHERE source = %(s)s AND raw_key = ANY(%(k)s)",
    "DELETE FROM catalog.raw_files WHERE source = %(s)s AND raw_key = ANY(%(k)s)",
)


def route_scores(conn: psycopg.Connection) -> list[dict]:
    """Each saved route's last exposure, as the routes marker keeps it."""
    scores = conn.execute(
        "SELECT id, name, last_cells, last_mean, last_score FROM saved_routes ORDER BY id"
    ).fetchall()
    return [dict(zip(("id", "name", "cells", "mean", "score"), r, strict=True)) for r in scores]


def source_urls(conn: psycopg.Connection, raw_file_ids: list[str]) -> dict[str, str]:
    """{raw file id: the URL it was fetched from} for the catalogued ones of `raw_file_ids`."""
    found = conn.execute(
        "SELECT id::text, source_url FROM catalog.raw_files WHERE id = ANY(%s::uuid[])",
        (raw_file_ids,),
    ).fetchall()
    return dict(found)


def catalogued_files(conn: psycopg.Connection, source: str) -> list[CataloguedFile]:
    return [CataloguedFile(*row) for row in conn.execute(FILES, {"s": source}).fetchall()]


def delete_files(conn: psycopg.Connection, source: str, raw_keys: list[str]) -> None:
    """The cells, load lineage and catalog rows of `raw_keys`, together or not at all."""
    with conn.transaction():
        for statement in EXPIRE:
            conn.execute(statement, {"s": source, "k": list(raw_keys)})
