-- What the catalog keeps of each raw file besides its identity: its sizes (a ranged fetch
-- keeps 68,308 bytes of a GFS object of 3,770,738), when it was fetched, the fields each load
-- put in its store and how the load went. Until now these lived only in the sidecar JSON.
DO $$
BEGIN
    IF EXISTS (SELECT FROM information_schema.columns WHERE table_schema = 'catalog'
               AND table_name = 'raw_files' AND column_name = 'size') THEN
        ALTER TABLE catalog.raw_files RENAME COLUMN size TO raw_bytes;
    END IF;
END
$$;
COMMENT ON COLUMN catalog.raw_files.raw_bytes IS
    'bytes of the raw file as kept under raw_key (the messages fetched; a gzipped object unpacked)';
ALTER TABLE catalog.raw_files ADD COLUMN IF NOT EXISTS upstream_bytes bigint;
COMMENT ON COLUMN catalog.raw_files.upstream_bytes IS
    'size of the whole object upstream, as its server reported it (null: not reported)';
ALTER TABLE catalog.raw_files ADD COLUMN IF NOT EXISTS wire_bytes bigint;
COMMENT ON COLUMN catalog.raw_files.wire_bytes IS
    'bytes received over the wire (a ranged fetch: its ranges; a gzipped object: packed)';
ALTER TABLE catalog.raw_files ADD COLUMN IF NOT EXISTS fetched_at timestamptz;
COMMENT ON COLUMN catalog.raw_files.fetched_at IS 'when the fetch finished (the sidecar''s fetched_at)';
CREATE INDEX IF NOT EXISTS raw_files_dataset ON catalog.raw_files (dataset);

-- Every load of a raw file, ClickHouse's too: the fields it put in the store and its outcome
-- (invalid: the load's validators found a problem; the rows are kept).
ALTER TABLE catalog.loads ADD COLUMN IF NOT EXISTS fields integer;
ALTER TABLE catalog.loads ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'loaded';
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'loads_status_known') THEN
        ALTER TABLE catalog.loads ADD CONSTRAINT loads_status_known
            CHECK (status IN ('loaded', 'invalid'));
    END IF;
END
$$;

-- The fields a raw file's ClickHouse load put in grid_data, each with its rows and extent; a
-- new fetch of the object (a new id) or a purge of its cycle takes them along.
CREATE TABLE IF NOT EXISTS catalog.fields (
    raw_file_id uuid NOT NULL REFERENCES catalog.raw_files (id) ON UPDATE CASCADE ON DELETE CASCADE,
    variable text NOT NULL,
    level text NOT NULL,
    forecast text NOT NULL,
    descriptor text NOT NULL,
    ref_time timestamptz NOT NULL,
    step integer NOT NULL,                -- lead time in minutes, as grid_data.step
    rows bigint NOT NULL,
    west double precision,                -- the extent of the field's points, degrees
    south double precision,
    east double precision,
    north double precision,
    PRIMARY KEY (raw_file_id, variable, level, forecast, descriptor, ref_time, step)
);
