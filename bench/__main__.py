"""`python -m bench`: run every benchmark."""

from bench import (
    dag_size,
    fetch_ranges,
    goes_full_disk,
    point_query,
    postgis_cells,
    shred_memory,
    shred_speed,
)

BENCHES = (
    fetch_ranges,
    shred_speed,
    shred_memory,
    goes_full_disk,
    point_query,
    postgis_cells,
    dag_size,
)
for bench in BENCHES:
    bench.main()
