-- Jackfruit's grid_data, as its serving layer queried it (database `jackfruit`: a client whose
-- default database is `jackfruit` runs Jackfruit's SQL unchanged):
--   SELECT value FROM grid_data WHERE variable = 'PMTF' AND timestamp = '2024-05-16 13:00:00'
--   ORDER BY greatCircleDistance(lon, lat, -112.07, 33.45) LIMIT 1
-- One row per field, point and valid time: gridflow keeps every forecast run and two runs
-- share valid times, so the view keeps the rows of the newest run that has the field at that
-- time (the join's right side has one row per field and valid time). Jackfruit's filters on
-- variable and timestamp reach both sides, so only that field's rows are read.
-- `variable` carries the field's descriptor as the PostGIS cells name it
-- (`MASSDEN:chemical=Ozone`), so constituents of one variable stay apart; `level`, `forecast`
-- and `ref_time` are extra columns (a variable at several levels, or accumulated over two
-- periods ending at one time, has a row for each). `raw_file_id` is a UUID, the type of
-- catalog.raw_files.id: the lineage join needs no cast. ClickHouse names the table's database
-- when it stores the view (the migrating client's).

-- A min-max index on valid_time lets parts and granules of other times be skipped: a whole
-- part while it holds one file (GFS TMP on the demo store: 263 -> 32 ms). Parts made before
-- it take it as they merge.
ALTER TABLE grid_data ADD INDEX IF NOT EXISTS valid_time_minmax valid_time TYPE minmax GRANULARITY 1;

CREATE DATABASE IF NOT EXISTS jackfruit;

CREATE OR REPLACE VIEW jackfruit.grid_data AS
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
FROM grid_data AS g
INNER JOIN
(
    SELECT source, variable, descriptor, level, valid_time, max(ref_time) AS ref_time
    FROM grid_data
    GROUP BY source, variable, descriptor, level, valid_time
) AS newest
ON g.source = newest.source AND g.variable = newest.variable
    AND g.descriptor = newest.descriptor AND g.level = newest.level
    AND g.valid_time = newest.valid_time AND g.ref_time = newest.ref_time
