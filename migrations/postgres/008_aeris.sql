-- AERIS's tables as views onto gridflow's own, in schema `aeris`: an AERIS API or task that
-- connects with `search_path=aeris,public` runs its SQL unchanged.
CREATE SCHEMA IF NOT EXISTS aeris;

-- The cells. `timestamp` is the field's valid time; `gas_type` the cells' variable as
-- postgis.variables names it (PMTF, vertical_column_troposphere, MASSDEN:chemical=Ozone).
CREATE OR REPLACE VIEW aeris.pollution_grid AS
SELECT
    id,
    "timestamp",
    variable AS gas_type,
    geom,
    value AS pollution_value,
    severity AS severity_level,
    created_at,
    source
FROM public.pollution_grid;

-- Saved routes with their end points as numbers, writable as AERIS wrote them (insert a route,
-- update its score); a route kept as a line gives its first and last points.
CREATE OR REPLACE VIEW aeris.saved_routes AS
SELECT
    id,
    name,
    variable AS gas_type,
    ST_X(COALESCE(origin, ST_StartPoint(route))) AS origin_lon,
    ST_Y(COALESCE(origin, ST_StartPoint(route))) AS origin_lat,
    ST_X(COALESCE(destination, ST_EndPoint(route))) AS dest_lon,
    ST_Y(COALESCE(destination, ST_EndPoint(route))) AS dest_lat,
    last_score AS last_computed_score,
    last_computed AS last_updated_at
FROM public.saved_routes;
ALTER VIEW aeris.saved_routes ALTER COLUMN name SET DEFAULT 'saved route';
ALTER VIEW aeris.saved_routes ALTER COLUMN gas_type SET DEFAULT 'PMTF';

CREATE OR REPLACE FUNCTION aeris.lon_lat(lon double precision, lat double precision)
RETURNS geometry LANGUAGE sql IMMUTABLE AS
$$ SELECT CASE WHEN lon IS NULL OR lat IS NULL THEN NULL
               ELSE ST_SetSRID(ST_MakePoint(lon, lat), 4326) END $$;

CREATE OR REPLACE FUNCTION aeris.write_saved_route() RETURNS trigger LANGUAGE plpgsql AS
$$
DECLARE
    moved boolean;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO public.saved_routes
            (name, variable, origin, destination, last_score, last_computed)
        VALUES (NEW.name, NEW.gas_type, aeris.lon_lat(NEW.origin_lon, NEW.origin_lat),
                aeris.lon_lat(NEW.dest_lon, NEW.dest_lat), NEW.last_computed_score,
                NEW.last_updated_at)
        RETURNING id INTO NEW.id;
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        -- new end points replace a stored line with the straight one between them
        moved := (NEW.origin_lon, NEW.origin_lat, NEW.dest_lon, NEW.dest_lat)
            IS DISTINCT FROM (OLD.origin_lon, OLD.origin_lat, OLD.dest_lon, OLD.dest_lat);
        UPDATE public.saved_routes SET
            name = NEW.name,
            variable = NEW.gas_type,
            origin = CASE WHEN moved THEN aeris.lon_lat(NEW.origin_lon, NEW.origin_lat)
                          ELSE origin END,
            destination = CASE WHEN moved THEN aeris.lon_lat(NEW.dest_lon, NEW.dest_lat)
                               ELSE destination END,
            route = CASE WHEN moved THEN NULL ELSE route END,
            last_score = NEW.last_computed_score,
            last_computed = NEW.last_updated_at
        WHERE id = OLD.id;
        RETURN NEW;
    END IF;
    DELETE FROM public.saved_routes WHERE id = OLD.id;
    RETURN OLD;
END
$$;
DROP TRIGGER IF EXISTS write_saved_route ON aeris.saved_routes;
CREATE TRIGGER write_saved_route INSTEAD OF INSERT OR UPDATE OR DELETE ON aeris.saved_routes
    FOR EACH ROW EXECUTE FUNCTION aeris.write_saved_route();

-- AERIS's Redis key `tempo:last_update` (the hour of the newest data loaded, ISO 8601), one
-- row per source: `SELECT value FROM aeris.last_update WHERE key = 'tempo:last_update'`.
-- Unlike the Redis key it does not expire after an hour: `loaded_at` says how old it is.
CREATE OR REPLACE VIEW aeris.last_update AS
SELECT
    source,
    source || ':last_update' AS key,
    to_char(cycle AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '+00:00' AS value,
    cycle AS last_update,
    loaded_at
FROM catalog.source_updates;

DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridflow_reader') THEN
        GRANT USAGE ON SCHEMA aeris TO gridflow_reader;
        GRANT SELECT ON ALL TABLES IN SCHEMA aeris TO gridflow_reader;
    END IF;
END
$$;
