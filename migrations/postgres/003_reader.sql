-- gridflow_reader: a role that can only read. People's queries (gridflow trace) run as it, in a
-- read-only transaction; writing stays with the rules. Creating it needs CREATEROLE: without
-- that privilege the migration says so and the queries run read-only as the connecting user.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'gridflow_reader') THEN
        BEGIN
            CREATE ROLE gridflow_reader NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE NOTICE 'gridflow_reader not created (%); queries run read-only as %',
                SQLERRM, current_user;
            RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA catalog, public TO gridflow_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA catalog, public TO gridflow_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA catalog, public GRANT SELECT ON TABLES TO gridflow_reader;
    BEGIN
        EXECUTE format('GRANT gridflow_reader TO %I', current_user);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'gridflow_reader not granted to % (%)', current_user, SQLERRM;
    END;
END
$$;
