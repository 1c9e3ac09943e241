"""`python -m bench`: run every benchmark."""

from bench import (
    dag_size,
    fetch_ranges,
    goes_full_disk,
    load_wall,
    point_query,
    postgis_cells,
    shred_memory,
    shred_speed,
    store_size,
)

BENCHES = (
    fetch_ranges,
    shred_speed,
    shred_memory,
    goes_full_disk,
    store_size,
    load_wall,
    point_query,
    postgis_cells,
    dag_size,
)
for bench in BENCHES:
    bench.main()
