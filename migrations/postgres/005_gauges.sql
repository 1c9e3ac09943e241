-- Rain gauges as points, with the metadata of their period-of-record workbooks (MCFCD's
-- Meta_Stats): one row per gauge, replaced by each newer import.
CREATE TABLE IF NOT EXISTS gauges (
    source text NOT NULL,
    gauge integer NOT NULL,
    name text NOT NULL,
    former_ids integer[] NOT NULL DEFAULT '{}',  -- ids before a renumbering
    id_history text,                             -- the record's words: "59700; 4695 prior to ..."
    station_type text,
    city text,
    county text,
    elevation_ft double precision,
    location text,
    remarks text,
    data_begins date,
    geom geometry(Point, 4326) NOT NULL,
    raw_file_id uuid NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, gauge)
);
CREATE INDEX IF NOT EXISTS gauges_geom ON gauges USING gist (geom);
