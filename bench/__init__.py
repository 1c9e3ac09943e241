"""Benchmarks: each prints its figure as a ratio against a baseline measured in the same run."""

# psycopg (libpq) must load before eccodes' bundled libraries, or the process crashes at exit;
# the benchmarks import eccodes directly, so the package does this first (see gridflow/__init__).
import psycopg  # noqa: F401, E402
