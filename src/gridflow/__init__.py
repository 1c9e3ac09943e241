"""gridflow: a rolling, queryable archive of weather and environmental grids."""

# Load libpq before eccodes: with eccodes' bundled libraries loaded first, a process that
# later loads libpq crashes at exit (SIGSEGV, measured with psycopg 3 and eccodes 2.50).
import psycopg  # noqa: F401  (import order matters; see above)
