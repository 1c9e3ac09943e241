-- Grid cells with a value and a severity class, and users' saved routes.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE IF NOT EXISTS pollution_grid (
    "timestamp" timestamptz NOT NULL,     -- the field's valid time
    variable text NOT NULL,               -- e.g. PMTF (PM2.5)
    geom geometry(Polygon, 4326) NOT NULL,-- the cell's footprint
    value double precision NOT NULL,
    severity smallint NOT NULL CHECK (severity BETWEEN 0 AND 4),
    source text NOT NULL,
    raw_key text NOT NULL,
    raw_file_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS pollution_grid_geom ON pollution_grid USING gist (geom);
CREATE INDEX IF NOT EXISTS pollution_grid_variable_time ON pollution_grid (variable, "timestamp");
CREATE INDEX IF NOT EXISTS pollution_grid_raw_key ON pollution_grid (source, raw_key);

CREATE TABLE IF NOT EXISTS saved_routes (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    variable text NOT NULL DEFAULT 'PMTF',
    origin geometry(Point, 4326),
    destination geometry(Point, 4326),
    route geometry(LineString, 4326),     -- null: the straight line from origin to destination
    last_mean double precision,
    last_severity integer,
    last_cells integer,
    last_score double precision,
    last_computed timestamptz,
    CHECK (route IS NOT NULL OR (origin IS NOT NULL AND destination IS NOT NULL))
);
