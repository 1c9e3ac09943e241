"""`python -m bench`: run every benchmark."""

from bench import (
    fetch_ranges,
    goes_full_disk,
    point_query,
    postgis_cells,
    shred_memory,
    shred_speed,
)

for bench in (fetch_ranges, shred_speed, shred_memory, goes_full_disk, point_query, postgis_cells):
    bench.main()
