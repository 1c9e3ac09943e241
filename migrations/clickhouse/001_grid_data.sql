-- One row per grid point per field; every forecast run is kept.
-- Partitions are (source, day of ref_time) so the purge drops whole days at once.
-- The sort key leads with the field and the 1-degree cell, so a point's series is a few granules.
CREATE TABLE IF NOT EXISTS grid_data
(
    source LowCardinality(String),
    variable LowCardinality(String) COMMENT 'NCEP abbreviation as in wgrib2 inventories, e.g. TMP',
    level LowCardinality(String) COMMENT 'wgrib2 level text, e.g. 2 m above ground',
    forecast LowCardinality(String) COMMENT 'wgrib2 forecast text, e.g. 0-6 hour acc fcst',
    ref_time DateTime('UTC'),
    step Int32 COMMENT 'lead time in minutes (the end of the period for accumulations)',
    valid_time DateTime('UTC'),
    lat Float32,
    lon Float32 COMMENT 'degrees east in [-180, 180)',
    cell UInt32 COMMENT '1-degree cell: (floor(lat) + 90) * 360 + floor(lon) + 180',
    value Nullable(Float32) COMMENT 'NULL where the source marks the point missing',
    raw_file_id LowCardinality(String) COMMENT 'UUIDv7 run id of the fetch (sidecar run_id)',
    raw_key LowCardinality(String) COMMENT 'raw file path under the data root'
)
ENGINE = MergeTree
PARTITION BY (source, toYYYYMMDD(ref_time))
ORDER BY (source, variable, level, cell, lat, lon, ref_time, step, forecast);
