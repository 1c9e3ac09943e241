"""Development tools, not installed with gridflow: the demo mirror builder, the schedule
simulator, GRIB re-dating and a throwaway PostgreSQL server for tests and benchmarks."""
