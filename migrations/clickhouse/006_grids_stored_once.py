"""Grids stored once: `grid_data` becomes a view over the valued points (`grid_values`) and the
grids they lie on (`grids`, `grid_points`); `grid_fields` keeps one row per field a raw file
loaded (its grid, its points, how many have a value); `grid_data_all_points` shows every point
of every field, NULL where it has no value, as the old table did (a join of all three: for
checking a field whole, not for series).

A store made before this keeps its rows: the old `grid_data` table is renamed
`grid_data_v1`, its rows with a value move into `grid_values`, the missing ones are counted in
`grid_fields`, and the old table is dropped only once the counts agree (else it stays and the
migration fails naming both counts). The old rows' grids are not known by their files: each old
field's grid is named by the set of its places (the old table's sort lost their order), its
points numbered in (lat, lon) order; a new load of the same grid names it by its places in the
file's order, another id. Every step can run again after a crash.
"""

from __future__ import annotations

from gridflow.rows import VALUE_SQL

CELL = (
    "toUInt32(least(greatest(floor(lat + 90), 0), 179)) * 360 "
    "+ toUInt32(modulo(floor(lon + 180), 360))"
)

TABLES = [
    # one row per grid: its size and extent; a load writes it after the grid's points
    """CREATE TABLE IF NOT EXISTS grids
    (
        grid UInt64 COMMENT 'hash of the places of its points, in order (gridflow.geo.grids)',
        points UInt32,
        west Float32,
        south Float32,
        east Float32,
        north Float32,
        registered DateTime('UTC') DEFAULT now()
    )
    ENGINE = ReplacingMergeTree
    ORDER BY grid""",
    # the places of every grid's points, once; sorted by 1-degree cell for the nearest search;
    # FPC predicts a Lambert grid's places best (the demo's: 10.4 MB with Delta, 8.9 with FPC)
    f"""CREATE TABLE IF NOT EXISTS grid_points
    (
        grid UInt64,
        point UInt32 CODEC(Delta, ZSTD(1)),
        lat Float32 CODEC(FPC, ZSTD(3)),
        lon Float32 CODEC(FPC, ZSTD(3)) COMMENT 'degrees east in [-180, 180)',
        cell UInt32 DEFAULT {CELL} CODEC(DoubleDelta, ZSTD(1))
            COMMENT '1-degree cell: (floor(lat) + 90) * 360 + floor(lon) + 180'
    )
    ENGINE = MergeTree
    ORDER BY (grid, cell, point)""",
    # the points with a value, sorted so that a point's series is one run of rows; partitions
    # by source and month: a series of a year opens 12 (a day's partition cost a series half a
    # millisecond each), and the purge deletes a day's rows within the month (measured 0.3-0.65
    # s) and drops the month once all of it expired
    """CREATE TABLE IF NOT EXISTS grid_values
    (
        source LowCardinality(String),
        variable LowCardinality(String) COMMENT 'NCEP abbreviation as in wgrib2 inventories',
        level LowCardinality(String) COMMENT 'wgrib2 level text, e.g. 2 m above ground',
        forecast LowCardinality(String) COMMENT 'wgrib2 forecast text, e.g. 0-6 hour acc fcst',
        descriptor LowCardinality(String) DEFAULT ''
            COMMENT 'product-definition descriptors, e.g. chemical=Ozone',
        ref_time DateTime('UTC') CODEC(Delta, ZSTD(1)),
        step Int32 CODEC(Delta, ZSTD(1))
            COMMENT 'lead time in minutes (the end of the period for accumulations)',
        valid_time DateTime('UTC') DEFAULT ref_time + toIntervalMinute(step)
            CODEC(Delta, ZSTD(1)),
        grid UInt64 CODEC(ZSTD(1)),
        point UInt32 CODEC(Delta, ZSTD(1)) COMMENT 'the point in its grid (grid_points)',
        value Float32 DEFAULT 0 CODEC(Delta, ZSTD(3)) COMMENT 'the value, 0 when packed',
        packed UInt16 DEFAULT 0 CODEC(Delta, ZSTD(3))
            COMMENT 'the integer of a packed field (see grid_fields), else 0',
        raw_file_id LowCardinality(String) COMMENT 'UUIDv7 run id of the fetch',
        raw_key LowCardinality(String) COMMENT 'raw file path under the data root',
        INDEX valid_time_minmax valid_time TYPE minmax GRANULARITY 1
    )
    ENGINE = MergeTree
    PARTITION BY (source, toYYYYMM(ref_time))
    ORDER BY (source, variable, level, grid, point, ref_time, step, forecast, descriptor)""",
    # one row per field a raw file loaded: what its rows are of, without reading them
    """CREATE TABLE IF NOT EXISTS grid_fields
    (
        source LowCardinality(String),
        raw_key String,
        raw_file_id String,
        variable LowCardinality(String),
        level LowCardinality(String),
        forecast LowCardinality(String),
        descriptor LowCardinality(String),
        ref_time DateTime('UTC'),
        step Int32,
        grid UInt64,
        points UInt32 COMMENT 'the points of its grid',
        rows UInt32 COMMENT 'the points with a value (its rows in grid_values)',
        packed UInt8 DEFAULT 0 COMMENT '1: values kept as 16-bit integers (gridflow.rows.Packing)',
        reference Float64 DEFAULT 0,
        scale Float64 DEFAULT 1,
        decimal Float64 DEFAULT 1
    )
    ENGINE = MergeTree
    ORDER BY (source, variable, level, raw_key)""",
]

# the join that gives a row its field's packing (grid_fields: one row per field of a file)
FIELD_OF_ROW = """grid_fields AS f ON f.raw_key = v.raw_key AND f.source = v.source
    AND f.variable = v.variable AND f.level = v.level AND f.forecast = v.forecast
    AND f.descriptor = v.descriptor AND f.ref_time = v.ref_time AND f.step = v.step"""

VIEW = f"""CREATE OR REPLACE VIEW grid_data AS
SELECT
    v.source AS source,
    v.variable AS variable,
    v.level AS level,
    v.forecast AS forecast,
    v.descriptor AS descriptor,
    v.ref_time AS ref_time,
    v.step AS step,
    v.valid_time AS valid_time,
    p.lat AS lat,
    p.lon AS lon,
    p.cell AS cell,
    {VALUE_SQL} AS value,
    v.raw_file_id AS raw_file_id,
    v.raw_key AS raw_key,
    v.grid AS grid,
    v.point AS point
FROM grid_values AS v
INNER JOIN grid_points AS p ON p.grid = v.grid AND p.point = v.point
INNER JOIN {FIELD_OF_ROW}"""

# Every point of every loaded field, the value NULL where the point has none: grid_data as the
# old table kept it (an unmatched point reads `valued` as 0, so no join_use_nulls is needed)
WHOLE = f"""CREATE OR REPLACE VIEW grid_data_all_points AS
SELECT
    f.source AS source,
    f.variable AS variable,
    f.level AS level,
    f.forecast AS forecast,
    f.descriptor AS descriptor,
    f.ref_time AS ref_time,
    f.step AS step,
    f.ref_time + toIntervalMinute(f.step) AS valid_time,
    p.lat AS lat,
    p.lon AS lon,
    p.cell AS cell,
    if(v.valued = 1, {VALUE_SQL}, NULL) AS value,
    f.raw_file_id AS raw_file_id,
    f.raw_key AS raw_key,
    f.grid AS grid,
    p.point AS point
FROM grid_fields AS f
INNER JOIN grid_points AS p ON p.grid = f.grid
LEFT JOIN
(
    SELECT raw_key, variable, level, forecast, descriptor, ref_time, step, grid, point, value,
        packed, 1 AS valued
    FROM grid_values
) AS v
ON v.raw_key = f.raw_key AND v.variable = f.variable AND v.level = f.level
    AND v.forecast = f.forecast AND v.descriptor = f.descriptor AND v.ref_time = f.ref_time
    AND v.step = f.step AND v.grid = f.grid AND v.point = p.point"""

# Jackfruit's view: every point of the field (NULL where missing, as Jackfruit's table had it),
# of the newest run that has the field at that time, picked from grid_fields (a row a field)
JACKFRUIT = """CREATE OR REPLACE VIEW jackfruit.grid_data AS
SELECT
    if(g.descriptor = '', g.variable, concat(g.variable, ':', g.descriptor)) AS variable,
    g.source AS source,
    g.valid_time AS timestamp,
    g.lat AS lat,
    g.lon AS lon,
    g.value AS value,
    toUUID(g.raw_file_id) AS raw_file_id,
    g.level AS level,
    g.forecast AS forecast,
    g.ref_time AS ref_time
FROM grid_data_all_points AS g
INNER JOIN
(
    SELECT source, variable, descriptor, level, ref_time + toIntervalMinute(step) AS at,
        max(ref_time) AS newest_run
    FROM grid_fields
    GROUP BY source, variable, descriptor, level, at
) AS newest
ON g.source = newest.source AND g.variable = newest.variable
    AND g.descriptor = newest.descriptor AND g.level = newest.level
    AND g.valid_time = newest.at AND g.ref_time = newest.newest_run"""

OLD = "grid_data_v1"
FIELD_KEY = "source, raw_key, variable, level, forecast, descriptor, ref_time, step"
FIELD_GRIDS = "grid_data_v1_grids"  # each old field's grid, while the conversion runs
# an old field's grid: a hash of the set of its places (their order is lost in the old
# table's sort), summed, so no field's places are held in memory at once
SET_OF_PLACES = "cityHash64(sum(cityHash64(lat, lon)), count())"


def _engine(client, name: str) -> str | None:
    found = client.query(
        "SELECT engine FROM system.tables WHERE database = currentDatabase() AND name = %(n)s",
        parameters={"n": name},
    ).result_rows
    return found[0][0] if found else None


def apply(client) -> None:
    if _engine(client, "grid_data") not in (None, "View") and _engine(client, OLD) is None:
        client.command(f"RENAME TABLE grid_data TO {OLD}")
    for statement in TABLES:
        client.command(statement)
    if _engine(client, "grid_data") not in (None, "View"):
        raise RuntimeError(f"both grid_data and {OLD} are tables: move one aside by hand")
    client.command(VIEW)
    client.command(WHOLE)
    client.command("CREATE DATABASE IF NOT EXISTS jackfruit")
    client.command(JACKFRUIT)
    if _engine(client, OLD) is not None:
        _convert(client)


def _convert(client) -> None:
    """The old table's rows into the new ones (again from the start after a crash), then the
    old table dropped once every row is accounted for. Each old field's grid is named by the
    set of its places, so the fields of one grid share it and a field that changed grid over
    time has one grid a run; points are numbered in (lat, lon) order."""
    client.command(f"DROP TABLE IF EXISTS {FIELD_GRIDS}")
    client.command(
        f"CREATE TABLE {FIELD_GRIDS} ENGINE = MergeTree ORDER BY ({FIELD_KEY}) AS "
        f"SELECT {FIELD_KEY}, {SET_OF_PLACES} AS grid, count() AS points, "
        f"countIf(value IS NOT NULL) AS rows, any(raw_file_id) AS raw_file_id "
        f"FROM {OLD} GROUP BY {FIELD_KEY}"
    )
    legacy = f"SELECT DISTINCT grid FROM {FIELD_GRIDS}"
    sync = {"lightweight_deletes_sync": 2}
    for table in ("grid_values", "grid_fields", "grid_points", "grids"):
        client.command(f"DELETE FROM {table} WHERE grid IN ({legacy})", settings=sync)
    with_grid = (
        f"(SELECT o.*, g.grid AS grid FROM {OLD} AS o "
        f"INNER JOIN {FIELD_GRIDS} AS g USING ({FIELD_KEY}))"
    )
    client.command(
        "INSERT INTO grid_points (grid, point, lat, lon) "
        "SELECT grid, toUInt32(row_number() OVER (PARTITION BY grid ORDER BY lat, lon) - 1), "
        f"lat, lon FROM (SELECT DISTINCT grid, lat, lon FROM {with_grid})"
    )
    client.command(
        "INSERT INTO grids (grid, points, west, south, east, north) "
        "SELECT grid, count(), min(lon), min(lat), max(lon), max(lat) FROM grid_points "
        f"WHERE grid IN ({legacy}) GROUP BY grid"
    )
    client.command(
        "INSERT INTO grid_values (source, variable, level, forecast, descriptor, ref_time, step, "
        "grid, point, value, raw_file_id, raw_key) "
        "SELECT o.source, o.variable, o.level, o.forecast, o.descriptor, o.ref_time, o.step, "
        "p.grid, p.point, assumeNotNull(o.value), o.raw_file_id, o.raw_key "
        f"FROM {with_grid} AS o "
        "INNER JOIN grid_points AS p ON p.grid = o.grid AND p.lat = o.lat AND p.lon = o.lon "
        "WHERE o.value IS NOT NULL"
    )
    client.command(
        "INSERT INTO grid_fields (source, raw_key, raw_file_id, variable, level, forecast, "
        "descriptor, ref_time, step, grid, points, rows) "
        "SELECT source, raw_key, raw_file_id, variable, level, forecast, descriptor, ref_time, "
        f"step, grid, points, rows FROM {FIELD_GRIDS}"
    )
    old_rows, old_valued = client.query(
        f"SELECT count(), countIf(value IS NOT NULL) FROM {OLD}"
    ).result_rows[0]
    moved = int(client.command(f"SELECT count() FROM grid_values WHERE grid IN ({legacy})"))
    counted = int(client.command(f"SELECT sum(points) FROM grid_fields WHERE grid IN ({legacy})"))
    if moved != old_valued or counted != old_rows:
        raise RuntimeError(
            f"{OLD} holds {old_rows} rows, {old_valued} with a value; {moved} moved to "
            f"grid_values and {counted} counted in grid_fields: {OLD} is kept"
        )
    client.command(f"DROP TABLE {OLD}")
    client.command(f"DROP TABLE {FIELD_GRIDS}")
