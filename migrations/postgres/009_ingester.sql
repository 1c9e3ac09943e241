-- The weather ingester's bookkeeping tables as views onto the catalog, in schema `ingester`:
-- its dashboards and the scripts that asked "is this object in yet?" run unchanged with
-- `search_path=ingester`.
CREATE SCHEMA IF NOT EXISTS ingester;

-- One row per upstream object (source_key): its newest fetch and that fetch's ClickHouse load.
-- `status` is the load's (loaded, or invalid when its validators found a problem), or
-- `registered` for a raw file catalogued before loads were recorded.
CREATE OR REPLACE VIEW ingester.ingest_state AS
SELECT DISTINCT ON (f.dataset)
    f.source AS model,
    f.dataset AS source_key,
    l.loaded_at AS ingested_at,
    f.upstream_bytes AS file_size,
    l.fields AS parameters_extracted,
    COALESCE(l.status, 'registered') AS status,
    f.id AS raw_file_id,
    f.fetched_at,
    f.raw_bytes,
    f.source_url
FROM catalog.raw_files f
LEFT JOIN catalog.loads l ON l.raw_file_id = f.id AND l.sink LIKE 'clickhouse.%'
ORDER BY f.dataset, f.fetched_at DESC NULLS LAST, f.created_at DESC;

-- One row per field a raw file put in grid_data. `parameter` is the variable with its
-- descriptor, as the PostGIS cells and Jackfruit's view name it; `forecast_hour` is the lead in
-- hours (fractions for sub-hourly steps; step_minutes exact); `storage_path` the raw file under
-- the data root, whose size is `file_size`; `bbox` the field's points' [west, south, east, north].
CREATE OR REPLACE VIEW ingester.datasets AS
SELECT
    f.source AS model,
    CASE WHEN d.descriptor = '' THEN d.variable ELSE d.variable || ':' || d.descriptor END
        AS parameter,
    d.level,
    d.ref_time AS reference_time,
    (d.step / 60.0)::double precision AS forecast_hour,
    f.raw_key AS storage_path,
    f.raw_bytes AS file_size,
    ARRAY[d.west, d.south, d.east, d.north] AS bbox,
    d.forecast,
    d.step AS step_minutes,
    d.rows,
    f.id AS raw_file_id
FROM catalog.fields d
JOIN catalog.raw_files f ON f.id = d.raw_file_id;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridflow_reader') THEN
        GRANT USAGE ON SCHEMA ingester TO gridflow_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA ingester TO gridflow_reader;
    END IF;
END
$$;
