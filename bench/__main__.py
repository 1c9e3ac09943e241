"""`python -m bench`: run every benchmark."""

from bench import fetch_ranges, point_query, postgis_cells, shred_memory, shred_speed

for bench in (fetch_ranges, shred_speed, shred_memory, point_query, postgis_cells):
    bench.main()
