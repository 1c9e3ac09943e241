-- The catalog of raw files and the lineage of every load.
CREATE SCHEMA IF NOT EXISTS catalog;

CREATE TABLE IF NOT EXISTS catalog.raw_files (
    id uuid PRIMARY KEY,                  -- the fetch's UUIDv7 run id; grid_data.raw_file_id
    source text NOT NULL,
    dataset text NOT NULL,                -- the object's key upstream, without the location
    date date NOT NULL,                   -- the cycle's date
    cycle timestamptz NOT NULL,
    object_key text NOT NULL UNIQUE,      -- the object's full URL; a refetch replaces the row
    source_url text NOT NULL,
    raw_key text NOT NULL,                -- the raw file under the data root
    etag text,
    last_modified timestamptz,
    byte_ranges jsonb NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS catalog.loads (
    raw_file_id uuid NOT NULL,
    sink text NOT NULL,                   -- clickhouse.grid_data, postgis.pollution_grid
    rows bigint NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (raw_file_id, sink)
);
