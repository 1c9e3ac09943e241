-- A single integer primary key on every table with a geometry, the feature id GIS clients
-- (GDAL/QGIS, map servers) use: pollution_grid had none, gauges a two-column key they cannot.
-- Existing rows are numbered once; the loads' COPY leaves `id` to the identity.
ALTER TABLE pollution_grid ADD COLUMN IF NOT EXISTS id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;

-- gauges keeps (source, gauge) unique (a newer import replaces its gauge's row, keeping the id).
ALTER TABLE gauges ADD COLUMN IF NOT EXISTS id integer GENERATED ALWAYS AS IDENTITY;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'public.gauges'::regclass
               AND contype = 'p' AND cardinality(conkey) > 1) THEN
        ALTER TABLE gauges DROP CONSTRAINT gauges_pkey;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conrelid = 'public.gauges'::regclass
                   AND contype = 'p') THEN
        ALTER TABLE gauges ADD CONSTRAINT gauges_pkey PRIMARY KEY (id);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_constraint WHERE conname = 'gauges_source_gauge') THEN
        ALTER TABLE gauges ADD CONSTRAINT gauges_source_gauge UNIQUE (source, gauge);
    END IF;
END
$$;
