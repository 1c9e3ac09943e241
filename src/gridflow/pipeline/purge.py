"""Remove everything past its retention: cycle folders, store rows, Snakemake's own metadata.

A purge first finds what has expired (what `gridflow purge --dry-run` prints), then deletes it
item by item; a failed item is reported and retried by the next purge, and never stops the others.
Every output of a cycle lives in its folder `cycles/<source>/<cycle>/` (gridflow.paths), so a
cycle expires by deleting that folder (or that prefix in the storage bucket). Rows expire with
the cycle that loaded them, whatever their own times say (an analysis of 2011 fetched for
today's cycle stays; a backfilled old cycle goes with its cycle): every row carries the key of
its raw file, `cycles/<source>/<cycle>/raw/<file>`, and the raw files of expired cycles are
deleted from each store, a whole partition at once where it holds nothing else. Snakemake
forgets the deleted outputs through its own persistence. Nothing outside the data root (or the
workflow's `.snakemake`) is ever touched: every path is checked after resolving it, and links
are removed, never followed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gridflow import paths
from gridflow.config import loading as config
from gridflow.errors import UsageError
from gridflow.pipeline import snakemake_records
from gridflow.sources import timetable

REPORTS = "purge-reports"
# Run logs have no cycle; the newest of each kind are kept, so their folders stop growing too.
LOGS_KEPT = 20


class PurgeError(UsageError):
    """A purge that must not run (a source without retention, a data root that is not one)."""


@dataclass
class Item:
    # "path" (a cycle's folder), "objects" (the same in the storage bucket), "log", "metadata"
    # (Snakemake's records of the deleted outputs); in a store, "partition" (a ClickHouse
    # partition holding only rows of expired cycles, dropped), "rows" (their rows in a partition
    # shared with kept cycles, deleted) and "pg_rows" (PostgreSQL's cells and catalog rows)
    kind: str
    source: str
    target: str
    bytes: int = 0
    rows: int = 0
    sink: str | None = None
    # metadata: the outputs' record keys; a store's items: the raw files whose rows go
    keys: list[str] = field(default_factory=list)
    files: int = 0  # a cycle's folder: the files in it
    table: str | None = None  # a ClickHouse item's table and partition id
    partition: str | None = None


TOTALS = ("paths", "files", "bytes", "partitions", "rows")


@dataclass
class Expired:
    """What is past retention, per item, and each source's cutoff."""

    cutoffs: dict[str, str]
    items: list[Item] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        """Per source: cycle folders (`paths`, in the data root or the bucket), the files in
        them, bytes, partitions and rows."""
        out: dict[str, dict[str, int]] = {}
        for item in self.items:
            t = out.setdefault(item.source, dict.fromkeys(TOTALS, 0))
            t["bytes"] += item.bytes
            t["rows"] += item.rows
            if item.kind in ("path", "objects"):
                t["paths"] += 1
                t["files"] += item.files
            elif item.kind == "partition":
                t["partitions"] += 1
        return out


def _inside(path: Path, root: Path) -> bool:
    """True when `path` (its parent resolved, the last step not followed) lies below `root`."""
    try:
        real = path.parent.resolve(strict=False) / path.name
    except OSError:
        return False
    return real != root and real.is_relative_to(root)


def _files(path: Path) -> list[Path]:
    if path.is_symlink() or path.is_file():
        return [path]
    return [Path(base) / f for base, _, files in os.walk(path) for f in files]  # no links


def _expired_folders(root: Path, source: str, cutoff: datetime) -> list[Path]:
    folder = root / paths.SOURCES / source
    if folder.is_symlink() or not folder.is_dir():
        return []
    found = []
    for entry in sorted(folder.iterdir()):
        cycle = paths.cycle_of(entry.name)
        if cycle is not None and cycle < cutoff and _inside(entry, root):
            found.append(entry)
    return found


def _record_keys(data_root: str, source: str, cycle: str, present: list[str]) -> list[str]:
    """Snakemake's record keys of a cycle folder's outputs: the files there, and every output
    its steps had (a shred deleted after its load still has a record)."""
    from gridflow import formats

    raw_names = [k.rsplit("/", 1)[-1] for k in present if k.rsplit("/", 2)[-2:-1] == ["raw"]]
    steps = paths.steps_of(raw_names, formats.extensions())
    had = [os.path.normpath(o) for o in paths.cycle_outputs(data_root, source, cycle, steps)]
    return sorted(set(present) | set(had))


def _bucket_items(bucket, data_root: str, source: str, cutoff: datetime) -> list[Item]:
    """A source's expired cycle folders among the workflow's outputs in the storage bucket."""
    items = []
    base = os.path.normpath(data_root)
    folders, _ = bucket.children(f"{base}/{paths.SOURCES}/{source}")
    for key in folders:
        cycle = paths.cycle_of(key.rsplit("/", 1)[-1])
        if cycle is None or cycle >= cutoff:
            continue
        objects = bucket.tree(key)
        keys = _record_keys(data_root, source, key.rsplit("/", 1)[-1], list(objects))
        items.append(
            Item(
                "objects",
                source,
                key + "/",
                bytes=sum(objects.values()),
                keys=[f"{bucket.url}/{k}" for k in keys],
                files=len(objects),
            )
        )
    return items


def cycle_of_raw_key(raw_key: str) -> datetime | None:
    """The cycle a raw file was fetched for: the cycle folder its key names
    (`cycles/<source>/<cycle>/raw/<file>`, gridflow.paths.raw_key), or None."""
    for part in raw_key.split("/")[:-1]:
        cycle = paths.cycle_of(part)
        if cycle is not None:
            return cycle
    return None


def _expired(raw_key: str, cutoff: datetime, fallback: datetime | None = None) -> bool:
    cycle = cycle_of_raw_key(raw_key) or fallback
    return cycle is not None and cycle < cutoff


def clickhouse_items(client, cutoffs: dict[str, datetime]) -> list[Item]:
    """Per partition of each table, the rows of expired cycles' raw files: the whole partition
    when nothing else is in it (a drop costs nothing), else those rows (a delete)."""
    from gridflow.sinks import clickhouse

    partitions: dict[tuple[str, str], list] = {}
    for found in clickhouse.partition_files(client, set(cutoffs)):
        partitions.setdefault((found.table, found.partition), []).append(found)
    items = []
    for (table, partition), files in sorted(partitions.items(), key=lambda p: p[1][0].label):
        source = files[0].source
        gone = sorted(
            (f for f in files if _expired(f.raw_key, cutoffs[source])), key=lambda f: f.raw_key
        )
        if not gone:
            continue
        whole = len(gone) == len(files)
        items.append(
            Item(
                "partition" if whole else "rows",
                source,
                f"{table} {files[0].label}",
                rows=sum(f.rows for f in gone),
                sink="clickhouse",
                keys=[f.raw_key for f in gone],
                table=table,
                partition=partition,
            )
        )
    return items


def _postgis_items(pg, source: str, cutoff: datetime) -> list[Item]:
    from gridflow.sinks import postgis

    gone = [
        f
        for f in postgis.catalogued_files(pg, source)
        if _expired(f.raw_key, cutoff, f.catalog_cycle)
    ]
    if not gone:
        return []
    what = (
        f"cells and catalog rows of {len(gone)} raw file(s) of {source} cycles before "
        f"{cutoff:%Y-%m-%dT%H:%M:%SZ}"
    )
    rows = sum(f.cells + f.catalog_rows for f in gone)
    keys = sorted(f.raw_key for f in gone)
    return [Item("pg_rows", source, what, rows=rows, sink="postgis", keys=keys)]


def _old_logs(root: Path, workdir: Path) -> list[Item]:
    items = []
    for folder, pattern, home in (
        (workdir / ".snakemake" / "log", "*.snakemake.log", workdir / ".snakemake"),
        (root / REPORTS, "*.json", root),
        (root / "logs" / "purge", "*.log", root),
    ):
        if folder.is_dir() and not folder.is_symlink():
            old = sorted(folder.glob(pattern), key=lambda f: f.name)[:-LOGS_KEPT]
            items += [
                Item("log", "*", str(f), bytes=f.lstat().st_size)
                for f in old
                if _inside(f, home.resolve())
            ]
    return items


def expired(cfg: dict, now: datetime, workdir: Path, client=None, pg=None, bucket=None) -> Expired:
    """What is past retention: in the data root, the storage bucket (profiles/s3), the stores."""
    root = config.data_root(cfg).resolve()
    if root == Path(root.anchor) or root == Path.home().resolve():
        raise PurgeError(f"refusing to purge: data_root {root} is not a data folder")
    result = Expired({})
    cutoffs: dict[str, datetime] = {}
    for name, src in cfg["sources"].items():
        if not src.get("retention_hours"):
            raise PurgeError(f"refusing to purge: source {name!r} has no retention_hours")
        cutoff = cutoffs[name] = timetable.retention_cutoff(src, now)
        result.cutoffs[name] = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
        for folder in _expired_folders(root, name, cutoff) if root.is_dir() else []:
            files = _files(folder)
            present = [
                os.path.normpath(Path(cfg["data_root"]) / f.relative_to(root)) for f in files
            ]
            keys = _record_keys(cfg["data_root"], name, folder.name, present)
            size = sum(f.lstat().st_size for f in files)
            result.items.append(
                Item("path", name, str(folder), bytes=size, keys=keys, files=len(files))
            )
        if bucket is not None:
            result.items += _bucket_items(bucket, cfg["data_root"], name, cutoff)
        if pg is not None:
            result.items += _postgis_items(pg, name, cutoff)
    if client is not None:
        result.items += clickhouse_items(client, cutoffs)
    keys = [key for item in result.items for key in item.keys]
    records = snakemake_records.recorded(workdir, keys)
    if records:
        result.items.append(Item("metadata", "*", f"{len(records)} record(s)", keys=records))
    if root.is_dir():
        result.items += _old_logs(root, workdir)
    return result


def _remove(path: Path, root: Path) -> None:
    if not _inside(path, root):
        raise PurgeError(f"{path} is outside {root}; not deleted")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)  # rmtree removes links inside, never what they point to


def _drop_empty_parents(path: Path, root: Path) -> None:
    parent = path.parent
    while parent != root and parent.is_relative_to(root):
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


def _execute_one(item: Item, root: Path, workdir: Path, sinks: dict, bucket) -> None:
    from gridflow.sinks import clickhouse, postgis

    if item.kind == "objects":
        bucket.delete(list(bucket.tree(item.target)))
    elif item.kind == "path":
        _remove(Path(item.target), root)
        _drop_empty_parents(Path(item.target), root)
    elif item.kind == "metadata":
        snakemake_records.forget(workdir, item.keys)
    elif item.kind == "log":
        target = Path(item.target)
        _remove(target, root if target.is_relative_to(root) else workdir.resolve())
    elif item.kind == "partition":
        clickhouse.drop_partition(_sink(sinks, item), item.table, item.partition, item.keys)
    else:
        postgis.delete_files(_sink(sinks, item), item.source, item.keys)


def _sink(sinks: dict, item: Item):
    if sinks.get(item.sink) is None:
        raise PurgeError(f"no {item.sink} connection")
    return sinks[item.sink]


def _delete_rows(items: list[Item], sinks: dict) -> None:
    """The "rows" items of one table, as one delete (each delete costs about the same)."""
    from gridflow.sinks import clickhouse

    partitions = sorted({i.partition for i in items})
    keys = sorted({k for i in items for k in i.keys})
    clickhouse.delete_rows(_sink(sinks, items[0]), items[0].table, partitions, keys)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def execute(
    p: Expired,
    cfg: dict,
    workdir: Path,
    client=None,
    pg=None,
    bucket=None,
    on_item: Callable[[Item, str | None], None] | None = None,
) -> dict:
    """Delete what expired, item by item; `on_item` hears of each (with its error, if it failed).
    Returns the report written to `<data_root>/purge-reports/`, with that file's path."""
    root = config.data_root(cfg).resolve()
    sinks = {"clickhouse": client, "postgis": pg}
    failures = []
    done = []
    if bucket is not None and any(i.kind == "objects" for i in p.items):
        bucket.keep_alive()  # deleting the last object must never take the bucket with it

    def outcome(item: Item, error: str | None) -> None:
        if error is None:
            done.append(item)
        else:
            failures.append({**asdict(item), "keys": len(item.keys), "error": error})
        if on_item is not None:
            on_item(item, error)

    tables: dict[str, list[Item]] = {}
    for item in p.items:
        if item.kind == "rows":  # after the drops, one delete per table
            tables.setdefault(item.table, []).append(item)
            continue
        try:
            _execute_one(item, root, workdir, sinks, bucket)
            outcome(item, None)
        except Exception as exc:  # one failure must not stop the rest; it is reported
            outcome(item, _first_line(exc))
    for items in tables.values():
        try:
            _delete_rows(items, sinks)
            error = None
        except Exception as exc:
            error = _first_line(exc)
        for item in items:
            outcome(item, error)
    sources = _by_source(done)  # the metrics count the purge per source
    logs = [i for i in done if i.kind == "log"]
    # the top-level counts are the sums of the sources' (files, not folders), so the report,
    # `gridflow status` and the metrics say the same; run logs are counted apart
    report = {
        "purged_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cutoffs": p.cutoffs,
        "files_deleted": sum(t["files"] for t in sources.values()),
        "bytes_freed": sum(t["bytes"] for t in sources.values()),
        "rows_deleted": sum(t["rows"] for t in sources.values()),
        "cycle_folders_deleted": sum(1 for i in done if i.kind == "path"),
        "storage_entries_deleted": sum(1 for i in done if i.kind == "objects"),
        "partitions_dropped": sum(1 for i in done if i.kind == "partition"),
        "logs_deleted": len(logs),
        "log_bytes_freed": sum(i.bytes for i in logs),
        "metadata_records_deleted": sum(len(i.keys) for i in done if i.kind == "metadata"),
        "sources": sources,
        "failures": failures,
    }
    reports = root / REPORTS
    reports.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + ".json"
    (reports / name).write_text(json.dumps(report, indent=1) + "\n")
    return {**report, "report": str(reports / name)}


def _by_source(done: list[Item]) -> dict[str, dict[str, int]]:
    """Files (in cycle folders or the bucket), bytes and rows deleted, per source."""
    out: dict[str, dict[str, int]] = {}
    for item in done:
        if item.kind in ("log", "metadata"):
            continue  # run logs and Snakemake's records belong to no source
        t = out.setdefault(item.source, {"files": 0, "bytes": 0, "rows": 0})
        t["files"] += item.files
        t["bytes"] += item.bytes
        t["rows"] += item.rows
    return out


# What `gridflow purge` prints: text for people, or (--json) a record per item and a summary.


def record(item: Item, status: str, error: str | None = None) -> dict:
    """An item as a JSON record: planned (a preview), done or failed."""
    return {**asdict(item), "status": status, **({"error": error} if error else {})}


def expired_summary(p: Expired) -> dict:
    totals = dict.fromkeys(TOTALS, 0)
    for per_source in p.totals().values():
        for key in totals:
            totals[key] += per_source[key]
    records = sum(len(i.keys) for i in p.items if i.kind == "metadata")
    return {"cutoffs": p.cutoffs, **totals, "metadata_records": records, "sources": p.totals()}


def expired_lines(p: Expired, dry_run: bool) -> list[str]:
    """Per source what goes; with `dry_run`, every item too."""
    totals = p.totals()
    verb = "would delete" if dry_run else "deleting"
    lines = []
    for name, cutoff in p.cutoffs.items():
        t = totals.get(name, dict.fromkeys(TOTALS, 0))
        lines.append(
            f"{name}: cycles before {cutoff}: {verb} {t['files']:,} file(s) in {t['paths']} "
            f"cycle folder(s) ({t['bytes']:,} bytes), {t['partitions']} partition(s), "
            f"{t['rows']:,} rows"
        )
    if not dry_run:
        return lines
    for item in p.items:
        if item.kind in ("path", "objects", "log"):
            lines.append(f"  {item.kind:9} {item.target}  {item.bytes:,} bytes")
        elif item.kind == "rows":
            files = f"{len(item.keys)} raw file(s) of expired cycles"
            lines.append(f"  {item.kind:9} {item.target}: {files}  {item.rows:,} rows")
        elif item.kind != "metadata":
            lines.append(f"  {item.kind:9} {item.target}  {item.rows:,} rows")
    lines.append(f"  and {expired_summary(p)['metadata_records']} Snakemake metadata record(s)")
    return lines


def report_line(report: dict) -> str:
    return (
        f"purged {report['files_deleted']:,} file(s) in {report['cycle_folders_deleted']} "
        f"cycle folder(s) and {report['storage_entries_deleted']} storage prefix(es) "
        f"({report['bytes_freed']:,} bytes), {report['partitions_dropped']} partition(s), "
        f"{report['rows_deleted']:,} rows, {report['logs_deleted']} old log(s), "
        f"{report['metadata_records_deleted']} Snakemake metadata record(s); "
        f"failures: {len(report['failures'])}; report: {report['report']}"
    )
