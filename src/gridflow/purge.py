"""Remove everything past its retention: files, ClickHouse rows, Snakemake's own metadata.

A purge is planned first (what `gridflow purge --dry-run` prints) and then carried out item by
item; a failed item is reported and retried by the next purge, and never stops the others.
Nothing outside the data root (or the workflow's `.snakemake/metadata`) is ever touched: every
path is checked after resolving it, and symbolic links are removed, never followed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from base64 import urlsafe_b64encode
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gridflow import paths, schedule

CYCLE_NAME = re.compile(r"^(\d{10}|\d{14})(\.json|\.log)?$")
# Per-cycle folders (and files) gridflow writes, relative to the data root.
CYCLE_HOMES = (
    "raw/{source}",
    "shred/{source}",
    "loaded/clickhouse/{source}",
    "loaded/postgis/{source}",
    "loaded/routes/{source}",
    "cycles/{source}",
    "logs/fetch/{source}",
    "logs/shred/{source}",
    "logs/load/{source}",
    "logs/cycle/{source}",
    "logs/load_postgis/{source}",
    "logs/routes/{source}",
    ".cache/listing/{source}",
)
REPORTS = "purge-reports"
# Run logs have no cycle; the newest of each kind are kept, so their folders stop growing too.
LOGS_KEPT = 20


class PurgeError(RuntimeError):
    """A purge that must not run (a source without retention, a data root that is not one)."""


@dataclass
class Item:
    # "path" (a cycle's file or folder), "objects" (the same in the storage bucket, a folder's
    # key ending in /), "partition", "rows", "pg_rows", "metadata", "log"
    kind: str
    source: str
    target: str
    bytes: int = 0
    rows: int = 0


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


def _size(path: Path) -> int:
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for base, _, files in os.walk(path):  # does not follow links
        total += sum((Path(base) / f).lstat().st_size for f in files)
    return total


def _cycle_paths(root: Path, source: str, cutoff: datetime) -> list[Path]:
    found = []
    for home in CYCLE_HOMES:
        folder = root / home.format(source=source)
        if folder.is_symlink() or not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            match = CYCLE_NAME.match(entry.name)
            if match and paths.parse_cycle(match.group(1)) < cutoff:
                found.append(entry)
    return found


def _metadata_record(workdir: Path, output: str) -> Path:
    """Where Snakemake keeps the metadata of one output (its on-disk format: the path,
    urlsafe-base64 encoded, split into 254-character folder names prefixed with '@')."""
    if "://" not in output:  # a storage query (s3://...) is recorded as it is
        output = os.path.normpath(output)
    encoded = urlsafe_b64encode(output.encode()).decode()
    parts = [encoded[i : i + 254] for i in range(0, len(encoded), 254)]
    return workdir / ".snakemake" / "metadata" / Path(*["@" + p for p in parts[:-1]], parts[-1])


def _outputs_of(root_text: str, source: str, cycle: str, entry: Path) -> list[str]:
    """The rule outputs (as the rules spell them) stored in one purged cycle entry."""
    if entry.is_file() or entry.is_symlink():
        return [paths.CYCLE.format(root=root_text, source=source, cycle=cycle)]
    outs = []
    formats = "|".join(paths.RAW_FORMATS)
    for f in entry.iterdir():
        match = re.fullmatch(rf"(.+?)(?:\.({formats})(?:\.idx|\.json)?|\.json|\.parquet)", f.name)
        if not match:
            continue
        step, fmt = match.group(1), match.group(2) or ""
        for pattern in (
            paths.RAW,
            paths.RAW_IDX,
            paths.SIDECAR,
            paths.SHRED,
            paths.MARKER,
            paths.PG_MARKER,
            paths.ROUTES_MARKER,
        ):
            out = pattern.format(root=root_text, source=source, cycle=cycle, step=step, fmt=fmt)
            if Path(out).name == f.name:
                outs.append(out)
    return outs


def _day_partitions(client, source: str, cutoff: datetime) -> list[Item]:
    from gridflow.sinks.clickhouse import TABLE

    if not int(client.command(f"EXISTS TABLE {TABLE}")):
        return []  # nothing was ever loaded
    rows = client.query(
        f"SELECT toYYYYMMDD(ref_time) AS day, count() FROM {TABLE} "
        "WHERE source = %(s)s AND ref_time < %(c)s GROUP BY day ORDER BY day",
        parameters={"s": source, "c": cutoff.replace(tzinfo=None)},
    ).result_rows
    items = []
    for day, count in rows:
        start = datetime.strptime(str(day), "%Y%m%d").replace(tzinfo=UTC)
        whole = start + timedelta(days=1) <= cutoff
        if whole:
            items.append(Item("partition", source, f"({source!r}, {day})", rows=int(count)))
        else:
            where = f"source = {source!r} AND ref_time < {cutoff:%Y-%m-%dT%H:%M:%SZ}"
            items.append(Item("rows", source, where, rows=int(count)))
    return items


PG_EXPIRED = """
SELECT (SELECT count(*) FROM pollution_grid p JOIN catalog.raw_files r ON p.raw_file_id = r.id
        WHERE r.source = %(s)s AND r.cycle < %(c)s),
       (SELECT count(*) FROM catalog.raw_files WHERE source = %(s)s AND cycle < %(c)s)
"""
PG_DELETE = (
    "DELETE FROM pollution_grid p USING catalog.raw_files r WHERE p.raw_file_id = r.id "
    "AND r.source = %(s)s AND r.cycle < %(c)s",
    "DELETE FROM catalog.loads l USING catalog.raw_files r WHERE l.raw_file_id = r.id "
    "AND r.source = %(s)s AND r.cycle < %(c)s",
    "DELETE FROM catalog.raw_files WHERE source = %(s)s AND cycle < %(c)s",
)


def _pg_rows(pg, source: str, cutoff: datetime) -> list[Item]:
    cells, files = pg.execute(PG_EXPIRED, {"s": source, "c": cutoff}).fetchone()
    if not cells and not files:
        return []
    what = f"cells and catalog rows of {source} cycles before {cutoff:%Y-%m-%dT%H:%M:%SZ}"
    return [Item("pg_rows", source, what, rows=int(cells) + int(files))]


def _bucket_items(
    bucket, data_root: str, source: str, cutoff: datetime, workdir: Path
) -> list[Item]:
    """A source's expired cycles among the workflow's outputs in the storage bucket, and the
    Snakemake metadata records of those outputs (kept under their s3:// query)."""
    items = []
    base = os.path.normpath(data_root)
    for home in CYCLE_HOMES:
        folders, files = bucket.children(f"{base}/{home.format(source=source)}")
        for key in [*folders, *files]:
            match = CYCLE_NAME.match(key.rsplit("/", 1)[-1])
            if not match or paths.parse_cycle(match.group(1)) >= cutoff:
                continue
            objects = {key: files[key]} if key in files else bucket.tree(key)
            target = key if key in files else key + "/"
            items.append(Item("objects", source, target, bytes=sum(objects.values())))
            for obj in objects:
                record = _metadata_record(workdir, f"{bucket.url}/{obj}")
                if record.exists():
                    items.append(Item("metadata", source, str(record)))
    return items


def plan(cfg: dict, now: datetime, workdir: Path, client=None, pg=None, bucket=None) -> Plan:
    """What is past retention: in the data root, the storage bucket (profiles/s3), the stores."""
    root = Path(cfg["data_root"]).resolve()
    if not root.is_dir():
        return Plan({})
    if root == Path(root.anchor) or root == Path.home().resolve():
        raise PurgeError(f"refusing to purge: data_root {root} is not a data folder")
    result = Plan({})
    for name, src in cfg["sources"].items():
        if not src.get("retention_hours"):
            raise PurgeError(f"refusing to purge: source {name!r} has no retention_hours")
        cutoff = schedule.retention_cutoff(src, now)
        result.cutoffs[name] = cutoff.strftime("%Y-%m-%dT%H:%M:%SZ")
        for entry in _cycle_paths(root, name, cutoff):
            if not _inside(entry, root):
                continue
            cycle = CYCLE_NAME.match(entry.name).group(1)
            result.items.append(Item("path", name, str(entry), bytes=_size(entry)))
            for output in _outputs_of(cfg["data_root"], name, cycle, entry):
                record = _metadata_record(workdir, output)
                if record.exists():
                    result.items.append(Item("metadata", name, str(record)))
        if bucket is not None:
            result.items += _bucket_items(bucket, cfg["data_root"], name, cutoff, workdir)
        if client is not None:
            result.items += _day_partitions(client, name, cutoff)
        if pg is not None:
            result.items += _pg_rows(pg, name, cutoff)
    for folder, pattern, home in (
        (workdir / ".snakemake" / "log", "*.snakemake.log", workdir / ".snakemake"),
        (root / REPORTS, "*.json", root),
        (root / "logs" / "purge", "*.log", root),
    ):
        if folder.is_dir() and not folder.is_symlink():
            old = sorted(folder.glob(pattern), key=lambda f: f.name)[:-LOGS_KEPT]
            result.items += [
                Item("log", "*", str(f), bytes=f.lstat().st_size)
                for f in old
                if _inside(f, home.resolve())
            ]
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


def execute(p: Plan, cfg: dict, workdir: Path, client=None, pg=None, bucket=None) -> dict:
    from gridflow.sinks.clickhouse import TABLE

    root = Path(cfg["data_root"]).resolve()
    metadata_root = (workdir / ".snakemake" / "metadata").resolve()
    failures = []
    done = []
    if bucket is not None and any(i.kind == "objects" for i in p.items):
        bucket.keep_alive()  # deleting the last object must never take the bucket with it
    for item in p.items:
        try:
            if item.kind == "objects":
                folder = item.target.endswith("/")
                bucket.delete(list(bucket.tree(item.target)) if folder else [item.target])
            elif item.kind == "path":
                _remove(Path(item.target), root)
                _drop_empty_parents(Path(item.target), root)
            elif item.kind == "metadata":
                _remove(Path(item.target), metadata_root)
            elif item.kind == "log":
                target = Path(item.target)
                _remove(target, root if target.is_relative_to(root) else workdir.resolve())
            elif item.kind == "pg_rows":
                cutoff = datetime.fromisoformat(p.cutoffs[item.source])
                with pg.transaction():  # cells, lineage and catalog go together
                    for statement in PG_DELETE:
                        pg.execute(statement, {"s": item.source, "c": cutoff})
            elif client is None:
                raise PurgeError("no ClickHouse connection")
            elif item.kind == "partition":
                day = int(item.target.rsplit(", ", 1)[1].rstrip(")"))
                client.command(
                    f"ALTER TABLE {TABLE} DROP PARTITION (%(s)s, %(d)s)",
                    parameters={"s": item.source, "d": day},
                )
            elif item.kind == "rows":
                client.command(
                    f"DELETE FROM {TABLE} WHERE source = %(s)s AND ref_time < %(c)s",
                    parameters={
                        "s": item.source,
                        "c": datetime.fromisoformat(p.cutoffs[item.source]).replace(tzinfo=None),
                    },
                    settings={"lightweight_deletes_sync": 2},
                )
            done.append(item)
        except Exception as exc:  # one failure must not stop the rest; it is reported
            failures.append({**asdict(item), "error": str(exc)})
    report = {
        "purged_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cutoffs": p.cutoffs,
        "files_deleted": sum(1 for i in done if i.kind == "path"),
        "storage_entries_deleted": sum(1 for i in done if i.kind == "objects"),
        "bytes_freed": sum(i.bytes for i in done),
        "partitions_dropped": sum(1 for i in done if i.kind == "partition"),
        "rows_deleted": sum(i.rows for i in done),
        "metadata_records_deleted": sum(1 for i in done if i.kind == "metadata"),
        "failures": failures,
    }
    reports = root / REPORTS
    reports.mkdir(parents=True, exist_ok=True)
    name = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + ".json"
    (reports / name).write_text(json.dumps(report, indent=1) + "\n")
    return report
