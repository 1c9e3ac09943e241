-- The newest successful PostGIS load of each source (AERIS's "last update"): one row per
-- source, moved forward by every load of a newer cycle, never back by a rebuilt older one.
CREATE TABLE IF NOT EXISTS catalog.source_updates (
    source text PRIMARY KEY,
    cycle timestamptz NOT NULL,           -- the newest cycle loaded
    raw_file_id uuid NOT NULL,            -- catalog.raw_files.id of that load
    cells bigint NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now()
);
