"""Remove everything past its retention: cycle folders, store rows, Snakemake's own metadata.

A purge is planned first (what `gridflow purge --dry-run` prints) and then carried out item by
item; a failed item is reported and retried by the next purge, and never stops the others.
Every output of a cycle lives in its folder `cycles/<source>/<cycle>/` (gridflow.paths), so a
cycle expires by deleting that folder (or that prefix in the storage bucket); each sink expires
its own rows (`expired`/`expire` beside its load SQL); Snakemake forgets the deleted outputs
through its own persistence. Nothing outside the data root (or the workflow's `.snakemake`) is
ever touched: every path is checked after resolving it, and links are removed, never followed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from gridflow import paths, schedule, snakemake_metadata
from gridflow.errors import UsageError

REPORTS = "purge-reports"
# Run logs have no cycle; the newest of each kind are kept, so their folders stop growing too.
LOGS_KEPT = 20


class PurgeError(UsageError):
    """A purge that must not run (a source without retention, a data root that is not one)."""


@dataclass
class Item:
    # "path" (a cycle's folder), "objects" (the same in the storage bucket), "log", "metadata"
    # (Snakemake's records of the deleted outputs), or a sink's own kind ("partition", "rows",
    # "pg_rows") with the sink that expires it
    kind: str
    source: str
    target: str
    bytes: int = 0
    rows: int = 0
    sink: str | None = None
    keys: list[str] = field(default_factory=list)  # metadata: the outputs' record keys
    files: int = 0  # a cycle's folder: the files in it


@dataclass
class Plan:
    cutoffs: dict[str, str]
    items: list[Item] = field(default_factory=list)

    def totals(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for item in self.items:
            t = out.setdefault(item.source, {"paths": 0, "bytes": 0, "partitions": 0, "rows": 0})
            t["bytes"] += item.bytes
            t["rows"] += item.rows
            if item.kind in ("path", "objects"):
                t["paths"] += 1
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


def _sink_items(sinks: dict, source: str, cutoff: datetime) -> list[Item]:
    from gridflow.sinks import clickhouse, postgis

    modules = {"clickhouse": clickhouse, "postgis": postgis}
    return [
        Item(found["kind"], source, found["target"], rows=int(found["rows"]), sink=name)
        for name, conn in sinks.items()
        if conn is not None
        for found in modules[name].expired(conn, source, cutoff)
    ]


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


def plan(cfg: dict, now: datetime, workdir: Path, client=None, pg=None, bucket=None) -> Plan:
    """What is past retention: in the data root, the storage bucket (profiles/s3), the stores."""
    root = Path(cfg["data_root"]).resolve()
    if root == Path(root.anchor) or root == Path.home().resolve():
        raise PurgeError(f"refusing to purge: data_root {root} is not a data folder")
    result = Plan({})
    for name, src in cfg["sources"].items():
        if not src.get("retention_hours"):
            raise PurgeError(f"refusing to purge: source {name!r} has no retention_hours")
        cutoff = schedule.retention_cutoff(src, now)
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
        result.items += _sink_items({"clickhouse": client, "postgis": pg}, name, cutoff)
    keys = [key for item in result.items for key in item.keys]
    records = snakemake_metadata.recorded(workdir, keys)
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


def _execute_one(item: Item, p: Plan, root: Path, workdir: Path, sinks: dict, bucket) -> None:
    from gridflow.sinks import clickhouse, postgis

    if item.kind == "objects":
        bucket.delete(list(bucket.tree(item.target)))
    elif item.kind == "path":
        _remove(Path(item.target), root)
        _drop_empty_parents(Path(item.target), root)
    elif item.kind == "metadata":
        snakemake_metadata.forget(workdir, item.keys)
    elif item.kind == "log":
        target = Path(item.target)
        _remove(target, root if target.is_relative_to(root) else workdir.resolve())
    else:
        conn = sinks.get(item.sink)
        if conn is None:
            raise PurgeError(f"no {item.sink} connection")
        module = {"clickhouse": clickhouse, "postgis": postgis}[item.sink]
        cutoff = datetime.fromisoformat(p.cutoffs[item.source])
        module.expire(conn, item.source, cutoff, item.kind, item.target)


def execute(p: Plan, cfg: dict, workdir: Path, client=None, pg=None, bucket=None) -> dict:
    root = Path(cfg["data_root"]).resolve()
    sinks = {"clickhouse": client, "postgis": pg}
    failures = []
    done = []
    if bucket is not None and any(i.kind == "objects" for i in p.items):
        bucket.keep_alive()  # deleting the last object must never take the bucket with it
    for item in p.items:
        try:
            _execute_one(item, p, root, workdir, sinks, bucket)
            done.append(item)
        except Exception as exc:  # one failure must not stop the rest; it is reported
            failures.append({**asdict(item), "keys": len(item.keys), "error": str(exc)})
    report = {
        "purged_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cutoffs": p.cutoffs,
        "files_deleted": sum(1 for i in done if i.kind == "path"),
        "storage_entries_deleted": sum(1 for i in done if i.kind == "objects"),
        "bytes_freed": sum(i.bytes for i in done),
        "partitions_dropped": sum(1 for i in done if i.kind == "partition"),
        "rows_deleted": sum(i.rows for i in done),
        "metadata_records_deleted": sum(len(i.keys) for i in done if i.kind == "metadata"),
        "sources": _by_source(done),  # the metrics count the purge per source
        "failures": failures,
    }
    reports = root / REPORTS
    reports.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + ".json"
    (reports / name).write_text(json.dumps(report, indent=1) + "\n")
    return report


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
