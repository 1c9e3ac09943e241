"""Load shreds into ClickHouse: the embedded chDB store (`chdb:///path`) or a server (`http(s)://`).

A load is idempotent: the rows of a raw file are deleted before they are inserted and counted
after, so a second load, or a load after a crash half-way, leaves exactly one copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import clickhouse_connect
import pyarrow as pa
import pyarrow.parquet as pq
from clickhouse_connect.driver.exceptions import ClickHouseError, DatabaseError, ProgrammingError

from gridflow import paths, rows
from gridflow.config.dsn import redact, resolve
from gridflow.errors import Busy, GridflowError, Unreachable

TABLE = "grid_data"  # the grids' rows as people read them: a view (migrations/clickhouse/006)
VALUES = "grid_values"  # what a grid load writes: the points with a value, by grid and point
POINTS = "grid_points"  # each grid's points' places, once
GRIDS = "grids"  # each grid's size and extent, written after its points
FIELDS = "grid_fields"  # one row per field a raw file loaded: its grid, points and rows
GAUGE_TABLE = "gauge_observations"
BATCH_ROWS = 2_000_000


class StoreBusy(Busy):
    """The embedded store is held by another process (chDB allows one per store)."""


class LoadError(GridflowError):
    """Rows that did not arrive as expected."""


class StoreUnreachable(Unreachable):
    """A ClickHouse server that does not answer."""


class StoreMissing(Unreachable):
    """An embedded store that does not exist, asked for by a command that only reads."""


def connect(dsn: str, wait_seconds: float = 30.0, create: bool = True):
    """A client; for chDB, waits up to `wait_seconds` while another process holds the store.
    Without `create`, an embedded store that does not exist is an error, not a new folder."""
    dsn = resolve(dsn)
    embedded = dsn.startswith("chdb://")
    if embedded:
        path = Path(urlsplit(dsn).path)
        if not create and not path.is_dir():
            raise StoreMissing(f"no store at {path}: run the workflow first")
        path.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    delay = 0.2
    while True:
        try:
            if embedded:
                with _chdb_lock_notes_dropped():
                    return clickhouse_connect.get_client(dsn=dsn)
            return clickhouse_connect.get_client(dsn=dsn)
        except ProgrammingError as exc:
            if not embedded or time.monotonic() >= deadline:
                if embedded:
                    raise StoreBusy(
                        f"the ClickHouse store {redact(dsn)} is in use by another process "
                        f"(chDB allows one process per store; a load job may hold it); waited "
                        f"{wait_seconds:.0f} s. Try again when that process ends."
                    ) from exc
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        except ClickHouseError as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnreachable(f"cannot reach ClickHouse at {redact(dsn)}: {reason}") from None


LOCK_NOTE = b"Cannot lock file"  # chDB's own line for each try at a store another process holds


@contextlib.contextmanager
def _chdb_lock_notes_dropped():
    """chDB writes its lock failures to the process's standard error (file descriptor 2,
    below Python), once per try; the one line gridflow prints says it all. Whatever else
    chDB writes there passes through."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (embedded, captured)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            caught.seek(0)
            kept = [line for line in caught.read().splitlines(True) if LOCK_NOTE not in line]
            if kept:
                os.write(fd, b"".join(kept))


MIGRATIONS_TABLE = "schema_migrations"


def migrate(client, migrations: Path) -> list[str]:
    """Apply every migration not yet recorded in `schema_migrations`, in name order, and record
    it; returns the names applied now. A migration is a `*.sql` file of statements, or a
    `*.py` module whose `apply(client)` does what SQL alone cannot (move rows, decide by what
    the store holds). Every migration is idempotent, so a store from before the record runs
    each again: one that changes no table counts as already in place."""
    client.command(
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} "
        "(name String, applied_at DateTime('UTC') DEFAULT now()) "
        "ENGINE = ReplacingMergeTree ORDER BY name"
    )
    recorded = {row[0] for row in client.query(f"SELECT name FROM {MIGRATIONS_TABLE}").result_rows}
    applied = []
    for path in paths.migration_files(migrations):
        if path.name in recorded:
            continue
        before = _tables(client)
        try:
            if path.suffix == ".py":
                _module(path).apply(client)
            else:
                for statement in _statements(path):
                    client.command(statement)
        except (ClickHouseError, DatabaseError, RuntimeError) as exc:
            reason = str(exc).strip().splitlines()[0]
            raise LoadError(f"migration {path.name} failed: {reason}") from None
        if _tables(client) != before:
            applied.append(path.name)
        client.command(
            f"INSERT INTO {MIGRATIONS_TABLE} (name) VALUES (%(name)s)",
            parameters={"name": path.name},
        )
    return applied


def _module(path: Path):
    """A Python migration, loaded from its file (the folder is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"gridflow_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _statements(path: Path) -> list[str]:
    sql = "\n".join(
        line for line in path.read_text().splitlines() if not line.strip().startswith("--")
    )
    return [s for s in (part.strip() for part in sql.split(";")) if s]


def _tables(client) -> dict[str, str]:
    """Every table's definition: what a migration changes."""
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()"
    ).result_rows
    return dict(rows)


def client_is_embedded(client) -> bool:
    return type(client).__name__ == "ChdbClient"


def stored_table(table: str) -> str:
    """The table a load of `table` (a format's, gridflow.rows) writes: grid rows go to VALUES."""
    return VALUES if table == TABLE else table


def rows_of(client, source: str, raw_key: str, table: str = TABLE, refs: list = ()) -> int:
    """Rows of one raw file; `refs` (its fields' reference times) keeps the count to the
    partitions that can hold them."""
    table = stored_table(table)
    where = "source = %(s)s AND raw_key = %(k)s"
    if refs:
        where += " AND ref_time BETWEEN toDateTime(%(r0)s, 'UTC') AND toDateTime(%(r1)s, 'UTC')"
    seconds = [int(r.timestamp()) for r in refs] or [0]
    return int(
        client.command(
            f"SELECT count() FROM {table} WHERE {where}",
            parameters={"s": source, "k": raw_key, "r0": min(seconds), "r1": max(seconds)},
        )
    )


def _replaced(parquet: Path, table: str) -> tuple[str, dict]:
    """What a load deletes first, beyond the file's own rows: for gauges, what it covers."""
    if table != GAUGE_TABLE:
        return "", {}
    covered = pq.read_table(parquet, columns=["gauge", "kind", "day"])
    if covered.num_rows == 0:
        return "", {}
    import pyarrow.compute as pc

    days = pc.min_max(covered["day"])
    where = " OR (kind IN %(kinds)s AND gauge IN %(gauges)s AND day BETWEEN %(d0)s AND %(d1)s)"
    return where, {
        "kinds": pc.unique(covered["kind"].combine_chunks().cast(pa.string())).to_pylist(),
        "gauges": pc.unique(covered["gauge"]).to_pylist(),
        "d0": days["min"].as_py(),
        "d1": days["max"].as_py(),
    }


def lineage_of(parquet: Path, file: pq.ParquetFile) -> dict:
    """The source and raw file a shred's rows belong to (gridflow.rows.LINEAGE), from its
    metadata; a LoadError for a Parquet file that is not a gridflow shred."""
    metadata = file.metadata.metadata or {}
    if rows.LINEAGE_KEY not in metadata:
        key = rows.LINEAGE_KEY.decode()
        raise LoadError(f"{parquet}: not a gridflow shred (no {key} metadata)")
    return json.loads(metadata[rows.LINEAGE_KEY])


def _quoted_path(path: Path) -> str:
    return str(Path(path).resolve()).replace("\\", "\\\\").replace("'", "\\'")


def load(
    client, parquet: Path, source: str, raw_key: str, table: str = TABLE, grids: Path | None = None
) -> int:
    """Replace the rows of one raw file with the rows of its shred (a grid shred's grids, from
    `grids`, registered first where the store lacks them); returns the row count."""
    file = pq.ParquetFile(parquet)
    lineage = lineage_of(parquet, file)
    if (lineage["source"], lineage["raw_key"]) != (source, raw_key):
        raise LoadError(
            f"{parquet}: a shred of {lineage['source']} {lineage['raw_key']}, not of "
            f"{source} {raw_key}"
        )
    indexed = next(t for t in rows.TABLES if t.name == table).indexed
    fields = _fields(parquet, file) if indexed else []
    if indexed:
        register_grids(client, fields, grids or paths.grids_beside(parquet), parquet)
    stored = stored_table(table)
    if indexed:
        _delete_grid_rows(client, source, raw_key, [f.identity[4] for f in fields])
        # the fields first: a load that dies inserting values leaves them, and the next load
        # finds the values to replace through them
        record_fields(client, fields, lineage)
    else:
        also, covered = _replaced(parquet, table)
        replaced = f"source = %(s)s AND (raw_key = %(k)s{also})"
        parameters = {"s": source, "k": raw_key, **covered}
        # a delete is a mutation of every part of the source (0.6 s at 25 M rows even when
        # nothing matches); the count that tells whether there is anything to delete is cheap
        if int(client.command(f"SELECT count() FROM {stored} WHERE {replaced}", parameters)):
            client.command(
                f"DELETE FROM {stored} WHERE {replaced}",
                parameters=parameters,
                settings={"lightweight_deletes_sync": 2},
            )
    expected = file.metadata.num_rows
    if expected and client_is_embedded(client):
        # chDB reads the shred straight from disk: about 6x faster than passing Arrow batches
        columns, select, picked = _insert_columns(file.schema_arrow.names, fields)
        client.command(
            f"INSERT INTO {stored} ({', '.join(columns)}) SELECT {', '.join(select)} "
            f"FROM file('{_quoted_path(parquet)}', Parquet)",
            parameters={**lineage, **picked},
        )
    elif expected:
        # a server cannot see our disk; batches of ~2 M rows keep it from making a part per field
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            shred = pa.Table.from_batches([batch])
            if indexed:
                shred_rows = rows.as_stored(shred, fields, lineage)
            else:
                shred_rows = with_lineage(shred, lineage)
            client.insert_arrow(stored, shred_rows)
    loaded = rows_of(client, source, raw_key, table, [f.identity[4] for f in fields])
    if loaded != expected:
        raise LoadError(
            f"{parquet}: {stored} holds {loaded} rows of {raw_key} after loading {expected}"
        )
    return loaded


_IDENTITY_TYPES = {
    "variable": "LowCardinality(String)",
    "level": "LowCardinality(String)",
    "forecast": "LowCardinality(String)",
    "descriptor": "LowCardinality(String)",
    "ref_time": "DateTime(\\'UTC\\')",
    "step": "Int32",
}


def _delete_grid_rows(client, source: str, raw_key: str, refs: list) -> None:
    """A raw file's rows and fields in the store, before its load puts them back. A load
    records its fields before its values (and a delete takes the values first), so a file
    without fields in `grid_fields` has no rows: its first load reads nothing of
    grid_values. Rows lie at the reference times the fields had or have now (`refs`): only
    the partitions of those times are read, never all of the source's."""
    where = {"s": source, "k": raw_key}
    found = (
        "SELECT count(), toUnixTimestamp(min(ref_time)), toUnixTimestamp(max(ref_time)) "
        f"FROM {FIELDS} WHERE source = %(s)s AND raw_key = %(k)s"
    )
    had, first, last = client.query(found, parameters=where).result_rows[0]
    if not had:
        return
    seconds = [int(r.timestamp()) for r in refs] + [int(first), int(last)]
    span = {**where, "r0": min(seconds), "r1": max(seconds)}
    rows_there = (
        "source = %(s)s AND raw_key = %(k)s AND "
        "ref_time BETWEEN toDateTime(%(r0)s, 'UTC') AND toDateTime(%(r1)s, 'UTC')"
    )
    sync = {"lightweight_deletes_sync": 2}
    client.command(f"DELETE FROM {VALUES} WHERE {rows_there}", span, settings=sync)
    client.command(
        f"DELETE FROM {FIELDS} WHERE source = %(s)s AND raw_key = %(k)s", where, settings=sync
    )


def _fields(parquet: Path, file: pq.ParquetFile) -> list[rows.ShredField]:
    metadata = file.metadata.metadata or {}
    names = file.schema_arrow.names
    if rows.FIELDS_KEY not in metadata or "point" not in names or "field" not in names:
        raise LoadError(
            f"{parquet}: not a grid shred of this gridflow (no field index, point or "
            f"{rows.FIELDS_KEY.decode()} metadata); shreds of releases before it are "
            "not loaded: shred the raw file again"
        )
    try:
        return rows.fields_of(metadata)
    except (ValueError, TypeError) as exc:
        raise LoadError(
            f"{parquet}: its field list is of another gridflow ({exc}): shred the raw file again"
        ) from None


def register_grids(client, fields: list[rows.ShredField], grids: Path, parquet: Path):
    """Every grid of `fields` the store lacks, from the shred's grids file: its points first,
    its `grids` row last (a grid with a row is whole; points of a half-written one go first)."""
    wanted = sorted({f.grid for f in fields if f.points})  # a grid of no point has no places
    if not wanted:
        return
    known = client.query(
        f"SELECT DISTINCT grid FROM {GRIDS} WHERE grid IN %(g)s", parameters={"g": wanted}
    ).result_rows
    missing = sorted(set(wanted) - {g for (g,) in known})
    if not missing:
        return
    if not Path(grids).is_file():
        raise LoadError(
            f"{parquet}: the store lacks {len(missing)} of its grids and their places are not "
            f"beside it ({grids}): shred the raw file again"
        )
    for grid in missing:
        stale = {"g": grid}
        found = f"SELECT count() FROM {POINTS} WHERE grid = %(g)s"
        if int(client.command(found, parameters=stale)):
            client.command(
                f"DELETE FROM {POINTS} WHERE grid = %(g)s",
                parameters=stale,
                settings={"lightweight_deletes_sync": 2},
            )
    if client_is_embedded(client):
        client.command(
            f"INSERT INTO {POINTS} (grid, point, lat, lon) SELECT grid, point, lat, lon "
            f"FROM file('{_quoted_path(grids)}', Parquet) WHERE grid IN %(g)s",
            parameters={"g": missing},
        )
    else:
        import pyarrow.compute as pc

        for batch in pq.ParquetFile(grids).iter_batches(batch_size=BATCH_ROWS):
            table = pa.Table.from_batches([batch])
            table = table.filter(pc.is_in(table.column("grid"), pa.array(missing, pa.uint64())))
            if table.num_rows:
                client.insert_arrow(POINTS, table)
    placed = client.query(
        f"SELECT grid, count(), min(lon), min(lat), max(lon), max(lat) FROM {POINTS} "
        "WHERE grid IN %(g)s GROUP BY grid",
        parameters={"g": missing},
    ).result_rows
    sizes = {f.grid: f.points for f in fields}
    for grid, n, *_ in placed:
        if n != sizes[grid]:
            raise LoadError(f"{grids}: grid {grid} has {n} points, its fields {sizes[grid]}")
    if len(placed) != len(missing):
        raise LoadError(f"{grids}: {len(missing) - len(placed)} of the shred's grids are not in it")
    client.insert(
        GRIDS,
        [list(row) for row in placed],
        column_names=["grid", "points", "west", "south", "east", "north"],
    )


def record_fields(client, fields: list[rows.ShredField], lineage: dict) -> None:
    """One `grid_fields` row per field of the raw file: what its rows are of, and how a
    packed field's integers give its values."""
    if not fields:
        return
    client.insert(
        FIELDS,
        [
            [
                lineage["source"],
                lineage["raw_key"],
                lineage["raw_file_id"],
                *f.identity[:4],
                f.identity[4].replace(tzinfo=None),
                f.identity[5],
                f.grid,
                f.points,
                f.rows,
                int(f.packing is not None),
                *(f.packing.as_json() if f.packing else (0.0, 1.0, 1.0)),
            ]
            for f in fields
        ],
        column_names=[
            "source",
            "raw_key",
            "raw_file_id",
            *rows.IDENTITY,
            "grid",
            "points",
            "rows",
            "packed",
            "reference",
            "scale",
            "decimal",
        ],
    )


def _insert_columns(names: list[str], fields: list[rows.ShredField]) -> tuple[list, list, dict]:
    """(columns, SELECT expressions, parameters) of chDB's INSERT from a shred: each identity
    column and the grid picked from the field list by the row's `field` index, lineage as
    parameters."""
    columns, select, picked = [], [], {}
    for name in names:
        if name != "field":
            columns.append(name)
            select.append(name)
    if fields:
        for n, name in enumerate(rows.IDENTITY):
            values = [f.identity[n] for f in fields]
            if name == "ref_time":
                picked[name] = [int(t.timestamp()) for t in values]
            else:
                picked[name] = values
            # typed as the column is: an Array(LowCardinality(String)) hands each row its
            # dictionary index, where a plain string array costs a string per row (2x slower)
            pick = f"CAST(%({name})s, 'Array({_IDENTITY_TYPES[name]})')[field + 1]"
            columns.append(name)
            select.append(pick)
        picked["grid"] = [f.grid for f in fields]
        columns.append("grid")
        select.append("CAST(%(grid)s, 'Array(UInt64)')[field + 1]")
    columns.extend(rows.LINEAGE)
    select.extend(f"%({name})s" for name in rows.LINEAGE)
    return columns, select, picked


def with_lineage(shred: pa.Table, lineage: dict) -> pa.Table:
    """Rows of a shred without a field index (gauges) as the store's: lineage added as constants."""
    for name in rows.LINEAGE:
        shred = shred.append_column(name, rows.constant(lineage[name], shred.num_rows))
    return shred.unify_dictionaries()


def record_gauge(client, source: str, gauge: dict, raw_file_id: str) -> None:
    """A gauge's metadata (from its period-of-record workbook) into `gauges`, replacing the
    older row of that gauge (ReplacingMergeTree on `updated`; queries read it FINAL)."""
    keys = ("gauge", "name", "former_ids", "lat", "lon", "elevation_ft", "city", "location")
    values = {"source": source, **{k: gauge[k] for k in keys}}
    values |= {
        "station_type": gauge["station_type"],
        "remarks": gauge["remarks"],
        "updated": datetime.now(UTC).replace(tzinfo=None, microsecond=0),
        "raw_file_id": raw_file_id,
    }
    client.insert("gauges", [list(values.values())], column_names=list(values))


# Retention. gridflow.pipeline.purge decides which raw files expired (by the cycle each was fetched
# for, never by the rows' own times); these read what each raw file holds where, and delete it.
PURGED_TABLES = (VALUES, GAUGE_TABLE)


@dataclass(frozen=True)
class PartitionFile:
    """The rows one raw file has in one partition of a table."""

    table: str
    partition: str  # the partition's id, as DROP PARTITION ID takes it
    label: str  # its value as people read it, e.g. ('gfs', 20250310)
    source: str
    raw_key: str
    rows: int


def partition_files(client, sources: set[str]) -> list[PartitionFile]:
    """Every raw file of `sources` with its rows per partition of the purged tables. Each
    partition is read alone (its raw_key column, low-cardinality): grouping the whole table by
    `_partition_id` builds that id for every row, about 8x slower at 25 M rows."""
    found = []
    for table in PURGED_TABLES:
        if not int(client.command(f"EXISTS TABLE {table}")):
            continue
        partitions = client.query(
            "SELECT DISTINCT partition_id FROM system.parts "
            "WHERE database = currentDatabase() AND table = %(t)s AND active ORDER BY partition_id",
            parameters={"t": table},
        ).result_rows
        for (partition,) in partitions:
            where = {"p": partition}
            head = client.query(
                f"SELECT source, _partition_value FROM {table} WHERE _partition_id = %(p)s LIMIT 1",
                parameters=where,
            ).result_rows
            if not head or head[0][0] not in sources:
                continue  # emptied by deletes, or another source's
            source, value = head[0]
            counts = client.query(
                f"SELECT raw_key, count() FROM {table} WHERE _partition_id = %(p)s "
                "GROUP BY raw_key",
                parameters=where,
            ).result_rows
            found += [
                PartitionFile(table, partition, str(value), source, raw_key, int(rows))
                for raw_key, rows in counts
            ]
    return found


def drop_partition(client, table: str, partition: str, raw_keys: list[str]) -> None:
    """Drop a partition planned to hold only rows of `raw_keys`. Should rows of another raw
    file have arrived since (a load into a server while the purge ran), only the rows of
    `raw_keys` are deleted from it."""
    present = client.query(
        f"SELECT DISTINCT raw_key FROM {table} WHERE _partition_id = %(p)s",
        parameters={"p": partition},
    ).result_rows
    if {key for (key,) in present} <= set(raw_keys):
        client.command(f"ALTER TABLE {table} DROP PARTITION ID %(p)s", parameters={"p": partition})
        _forget_fields(client, table, raw_keys)
    else:
        delete_rows(client, table, [partition], raw_keys)


def delete_rows(client, table: str, partitions: list[str], raw_keys: list[str]) -> None:
    """Delete the rows of `raw_keys` in `partitions`, in one statement: a delete is a mutation
    whose cost grows with the table's parts (about 2 s at 15 parts of 1.5 M rows, 8 s at 60),
    whatever it matches, so the purge sends one per table rather than one per partition."""
    client.command(
        f"DELETE FROM {table} WHERE _partition_id IN %(p)s AND raw_key IN %(k)s",
        parameters={"p": list(partitions), "k": list(raw_keys)},
        settings={"lightweight_deletes_sync": 2},
    )
    _forget_fields(client, table, raw_keys)


def _forget_fields(client, table: str, raw_keys: list[str]) -> None:
    """The `grid_fields` rows of raw files whose grid rows are gone. Their grids stay: a grid
    is small beside its rows and the next file of its source is most likely on it."""
    if table == VALUES and raw_keys:
        client.command(
            f"DELETE FROM {FIELDS} WHERE raw_key IN %(k)s",
            parameters={"k": list(raw_keys)},
            settings={"lightweight_deletes_sync": 2},
        )
