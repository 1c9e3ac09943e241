"""gridflow: a rolling, queryable archive of weather and environmental grids."""

import contextlib

# Load libpq before eccodes: with eccodes' bundled libraries loaded first, a process that
# later loads libpq crashes at exit (SIGSEGV, measured with psycopg 3 and eccodes 2.50).
# psycopg comes with the `postgis` extra; without it there is no libpq to load.
with contextlib.suppress(ImportError):
    import psycopg  # noqa: F401  (import order matters; see above)
