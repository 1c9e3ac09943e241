"""Load one raw file's rows and leave the marker that says so: its shred into ClickHouse (grid
points, gauge records) with the load's checks, or its catalog entry, lineage and cells into
PostgreSQL/PostGIS. The marker is written last, so a load that failed leaves none."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gridflow import formats, inventory, paths
from gridflow.config.dsn import redact, resolve
from gridflow.pipeline import load_checks, load_marker
from gridflow.pipeline.load_marker import LoadMarker
from gridflow.pipeline.sidecar import Sidecar

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadFiles:
    """What a load step reads and writes, as the rule names them."""

    sidecar: Path
    marker: Path
    idx: Path | None = None  # the raw file's inventory (default: beside the sidecar)
    grids: Path | None = None  # a grid shred's grids file (default: beside the shred)

    def inventory_text(self) -> str:
        return (self.idx or self.sidecar.with_suffix(".idx")).read_text()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def into_clickhouse(
    parquet: Path, files: LoadFiles, dsn: str, migrations: Path, checks: dict, wait: float
) -> LoadMarker:
    """Load a shred into its table (once, whatever ran before), check a grid load, and write
    the marker; `checks` are the source's load-check settings (its `validate`)."""
    from gridflow.sinks import clickhouse

    sidecar = Sidecar.read(files.sidecar)
    table = formats.get(sidecar.format).table.name
    client = clickhouse.connect(dsn, wait_seconds=wait)
    fields = checked = points = None
    grids = files.grids or paths.grids_beside(parquet)
    try:
        clickhouse.migrate(client, migrations)
        rows = clickhouse.load(client, parquet, sidecar.source, sidecar.raw_key, table, grids)
        if sidecar.gauge:  # a gauge's metadata came with its record
            clickhouse.record_gauge(client, sidecar.source, sidecar.gauge, sidecar.run_id)
        if table == clickhouse.TABLE:
            checked = load_checks.run(
                client, sidecar.source, sidecar.raw_key, files.inventory_text(), checks
            )
            # for the catalog: the PostGIS step records them (this job needs no database)
            fields = load_marker.shred_fields(parquet)
            points = load_marker.shred_points(parquet)
    finally:
        client.close()
    marker = LoadMarker(
        table=table,
        dsn=redact(resolve(dsn)),
        rows=rows,
        points=points,
        source=sidecar.source,
        raw_key=sidecar.raw_key,
        raw_file_id=sidecar.run_id,
        run_id=sidecar.run_id,
        parquet=str(parquet),
        loaded_at=_now(),
        fields=None if fields is None else [field.as_json() for field in fields],
        validation=checked,
    )
    for problem in checked["problems"] if checked is not None else ():
        log.warning("validation: %s: %s", sidecar.raw_key, problem)
    marker.write(files.marker)
    log.info("loaded %s rows of %s into %s", rows, sidecar.raw_key, clickhouse.stored_table(table))
    return marker


def into_postgis(raw: Path, files: LoadFiles, spec: dict, dsn: str, migrations: Path) -> LoadMarker:
    """Catalog a raw file, record its ClickHouse load (whose marker the rule waits for), load
    its cells when `spec` names variables, all in one transaction; then write the marker."""
    from gridflow.sinks import postgis

    sidecar = Sidecar.read(files.sidecar)
    cycle = paths.parse_cycle(raw.parent.parent.name)
    ch_load = load_marker.read_load(load_marker.marker_beside(files.marker))
    if ch_load is not None and ch_load.raw_file_id != sidecar.run_id:
        log.warning(
            "the ClickHouse marker of %s is of another fetch (%s); its load is not recorded",
            sidecar.raw_key,
            ch_load.raw_file_id,
        )
        ch_load = None
    with postgis.connect(dsn) as conn:
        postgis.migrate(conn, migrations)
        with conn.transaction():  # the catalog row, the cells and the lineage, or nothing
            postgis.register(conn, sidecar, cycle)
            if ch_load is not None:
                postgis.record_clickhouse_load(conn, ch_load)
            rows = 0
            if spec["variables"]:
                entries = inventory.parse(files.inventory_text(), str(files.idx or files.sidecar))
                batches = formats.get(sidecar.format).cells(raw, entries, spec)
                # closed here, not at exit: an eccodes handle must not outlive the library
                with contextlib.closing(batches):
                    rows = postgis.load_cells(conn, sidecar, batches)
                fields = postgis.cell_fields(conn, sidecar)
                postgis.record_load(conn, sidecar.run_id, "postgis.pollution_grid", rows, fields)
            postgis.record_update(conn, sidecar, cycle, rows)
            if sidecar.gauge:  # a gauge's metadata came with its record
                postgis.record_gauge(conn, sidecar.source, sidecar.gauge, sidecar.run_id)
    marker = LoadMarker(
        table="pollution_grid",
        dsn=redact(resolve(dsn)),
        rows=rows,
        source=sidecar.source,
        raw_key=sidecar.raw_key,
        raw_file_id=sidecar.run_id,
        loaded_at=_now(),
    )
    marker.write(files.marker)
    log.info("registered %s; %s cells into pollution_grid", sidecar.url, rows)
    return marker


def routes(dsn: str, marker: Path) -> int:
    """Recompute every saved route's exposure; the marker keeps their scores."""
    from gridflow.sinks import postgis

    with postgis.connect(dsn) as conn:
        updated = postgis.recompute_routes(conn)
        scores = postgis.route_scores(conn)
    load_marker.write(marker, {"routes": updated, "at": _now(), "scores": scores})
    log.info("recomputed the exposure of %s saved route(s)", updated)
    return updated


def cycle_summary(markers: list[str], out: Path) -> None:
    """One cycle's loads: rows per table, the markers they come from, the failed checks."""
    rows: dict[str, int] = {}
    invalid = []
    for path in markers:
        marker = LoadMarker.read(Path(path))  # the routes marker too: it has no table
        if marker.table is not None:
            rows[marker.table] = rows.get(marker.table, 0) + marker.rows
        if marker.invalid:
            invalid.append({"marker": path, "problems": marker.validation["problems"]})
    summary = {"rows": rows, "markers": sorted(markers), "invalid": invalid}
    out.write_text(json.dumps(summary, indent=1) + "\n")
