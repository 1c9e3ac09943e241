"""PostGIS: cells loaded per second, and a route's ST_Intersects time over a realistic grid.

The grid is the NOAA AQM CONUS 5 km PM2.5 sample, every cell (about 1.5 M polygons). Baselines:
row-by-row INSERT (executemany) for loading, and the same route query without the GIST index.
"""

from __future__ import annotations

import time
import uuid

from bench.common import REPO, SAMPLES, best_of, report
from devkit.throwaway_postgres import PostgresServer
from gridflow.formats.grib import cells as grib_cells
from gridflow.formats.grib.read import iter_fields
from gridflow.pipeline.sidecar import Sidecar
from gridflow.sinks import postgis

PM25 = [9.1, 55.5, 125.5, 225.5]
ROUTE = "ST_GeomFromText('LINESTRING(-112.4 33.3, -112.0 33.5, -111.9 33.4, -111.6 33.6)', 4326)"
QUERY = f"SELECT count(*), avg(value) FROM pollution_grid WHERE ST_Intersects(geom, {ROUTE})"


def main() -> None:
    server = PostgresServer().start()
    try:
        with postgis.connect(server.dsn()) as conn:
            postgis.migrate(conn, REPO / "migrations" / "postgres")
            for _, handle in iter_fields(SAMPLES / "aqm.t12z.ave_1hr_pm25-PMTF.grib2"):
                grid = grib_cells.field_cells(handle, "PMTF", PM25)
            sidecar = Sidecar(
                source="aqm", raw_key="raw/aqm/bench", run_id=str(uuid.uuid4()), format="grib2"
            )
            start = time.perf_counter()
            with conn.transaction():
                n = postgis.load_cells(conn, sidecar, [grid])
            copy_rate = n / (time.perf_counter() - start)
            sample = 20_000
            rows = [
                (grid.timestamp, "PMTF", w, v, s, "aqm", "raw/aqm/insert", uuid.uuid4())
                for w, v, s in zip(
                    grid.wkb[:sample],
                    grid.value[:sample].tolist(),
                    grid.severity[:sample].tolist(),
                    strict=True,
                )
            ]
            start = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(
                    'INSERT INTO pollution_grid ("timestamp", variable, geom, value, severity, '
                    "source, raw_key, raw_file_id) VALUES (%s, %s, ST_GeomFromEWKB(%s), %s, %s, "
                    "%s, %s, %s)",
                    rows,
                )
            insert_rate = sample / (time.perf_counter() - start)
            conn.execute("ANALYZE pollution_grid")
            conn.execute("SET jit = off")
            indexed = best_of(lambda: conn.execute(QUERY).fetchone())
            conn.execute("SET enable_indexscan = off")
            conn.execute("SET enable_bitmapscan = off")
            scanned = best_of(lambda: conn.execute(QUERY).fetchone(), 3)
            hits = conn.execute(QUERY).fetchone()[0]
    finally:
        server.stop()
    report(
        "postgis cells/s binary COPY / cells/s row-by-row INSERT",
        copy_rate / insert_rate,
        f"{n:,} cells at {copy_rate:,.0f}/s; INSERT {insert_rate:,.0f}/s",
    )
    report(
        "postgis route ST_Intersects with GIST / without",
        indexed / scanned,
        f"{indexed * 1000:.1f} ms vs {scanned * 1000:.0f} ms over {n:,} cells, "
        f"{hits} cells on the route",
    )


if __name__ == "__main__":
    main()
