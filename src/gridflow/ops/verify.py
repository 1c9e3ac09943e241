"""`gridflow verify`: the markers, the raw files and the stores told apart where they disagree.

Every ClickHouse load marker says how many rows of its raw file `grid_values` holds; verify counts
them (one GROUP BY per source) and names each file whose rows are missing, partial or
duplicated, and rows whose raw file has no marker. With `--sha256` it also checks each raw file
against the sha256 its sidecar recorded. `--repair` is gridflow.ops.repair: it plans the rebuild
of exactly those files, and removes nothing until Snakemake has accepted that plan.

Every source with a folder under the data root is checked, enabled or not: a marker names its
source by its folder. A relative data_root lies below the project folder (gridflow.config.loading).

Gauge rows are not counted against their markers: a later record covering the same gauges and
days replaces them on purpose (gridflow.sinks.clickhouse).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from gridflow import paths
from gridflow.config import loading as config
from gridflow.errors import GridflowError
from gridflow.pipeline.fetch import sha256_of
from gridflow.pipeline.load_marker import LoadMarker
from gridflow.pipeline.sidecar import Sidecar
from gridflow.sinks import clickhouse


@dataclass(frozen=True)
class Finding:
    kind: str  # missing, partial, duplicated, unmarked, changed_bytes
    source: str
    raw_key: str
    expected: int | None
    found: int | None
    path: str | None  # the marker (or, for changed bytes, the raw file) on disk


class NothingToVerify(GridflowError):
    """No load marker under the data root: nothing was checked (exit 1, never "agree")."""


@dataclass(frozen=True)
class RowCheck:
    """What the row counts covered, beside what they found."""

    root: Path  # the data root whose markers were read
    markers: int  # ClickHouse load markers counted against the store
    findings: list[Finding]
    not_enabled: tuple[str, ...]  # sources with markers the configuration leaves out: checked
    not_checked: tuple[str, ...]  # sources with rows in the store but no folder, not enabled


def _markers(root: Path, source: str) -> dict[str, tuple[Path, LoadMarker]]:
    found = {}
    for marker in paths.clickhouse_markers(root, source):
        meta = LoadMarker.read(marker)
        if (meta.table or clickhouse.TABLE) == clickhouse.TABLE:
            found[meta.raw_key] = (marker, meta)
    return found


def _sources_on_disk(root: Path) -> set[str]:
    folder = root / paths.SOURCES
    return {p.name for p in folder.iterdir() if p.is_dir()} if folder.is_dir() else set()


@dataclass(frozen=True)
class Stored:
    """What the store holds of one raw file: its rows (points with a value) and the points of
    its fields without one (counted in grid_fields)."""

    rows: int
    missing: int = 0

    def against(self, marker: LoadMarker) -> int:
        """The count its marker's `rows` stands for: a marker from before grids were stored
        once (no `points`) counted the points without a value as rows too."""
        return self.rows if marker.points is not None else self.rows + self.missing


def _counts(client, recorded: bool = False) -> dict[str, dict[str, Stored]]:
    """Rows per source and raw file in grid_values (one GROUP BY), with the points without a
    value its fields say they had; `recorded`: the rows each load recorded in `grid_fields`
    instead, without reading grid_values (the check before every run: at retention a GROUP BY
    of grid_values reads billions of rows)."""
    if not int(client.command(f"EXISTS TABLE {clickhouse.VALUES}")):
        return {}
    counts: dict[str, dict[str, Stored]] = {}
    found = client.query(
        f"SELECT source, raw_key, sum(rows) FROM {clickhouse.FIELDS} GROUP BY source, raw_key"
        if recorded
        else f"SELECT source, raw_key, count() FROM {clickhouse.VALUES} GROUP BY source, raw_key"
    ).result_rows
    missing = client.query(
        f"SELECT source, raw_key, sum(points) - sum(rows) FROM {clickhouse.FIELDS} "
        "GROUP BY source, raw_key"
    ).result_rows
    for source, raw_key, n in found:
        counts.setdefault(source, {})[raw_key] = Stored(n)
    for source, raw_key, n in missing:
        had = counts.get(source, {}).get(raw_key)
        if had is not None:
            counts[source][raw_key] = Stored(had.rows, n)
    return counts


def check(cfg: dict, client, recorded: bool = False) -> RowCheck:
    """Row counts per raw file against the markers, for every source with a folder under the
    data root (markers name their source by it) and every enabled one; `recorded` counts what
    the loads recorded (`grid_fields`) instead of the rows themselves (see `_counts`)."""
    root = config.data_root(cfg).resolve()
    counts = _counts(client, recorded)
    on_disk = _sources_on_disk(root)
    enabled = set(cfg["sources_enabled"])
    findings, markers_seen, marked = [], 0, set()
    for source in sorted(enabled | on_disk):
        markers, rows_of = _markers(root, source), counts.get(source, {})
        markers_seen += len(markers)
        marked |= {source} if markers else set()
        for raw_key, (marker, meta) in sorted(markers.items()):
            have, want = rows_of.get(raw_key, Stored(0)).against(meta), meta.rows
            if have != want:
                kind = "missing" if have == 0 else "partial" if have < want else "duplicated"
                findings.append(Finding(kind, source, raw_key, want, have, str(marker)))
        for raw_key in sorted(set(rows_of) - set(markers)):
            found = rows_of[raw_key].rows
            findings.append(Finding("unmarked", source, raw_key, None, found, None))
    return RowCheck(
        root,
        markers_seen,
        findings,
        not_enabled=tuple(sorted(marked - enabled)),
        not_checked=tuple(sorted(set(counts) - enabled - on_disk)),
    )


def coverage(checked: RowCheck) -> list[str]:
    """What people should know about what the counts covered."""
    said = []
    if checked.not_enabled:
        said.append(
            f"checked {', '.join(checked.not_enabled)} too: markers under {checked.root}, "
            "though the configuration does not enable it"
        )
    if checked.not_checked:
        said.append(
            f"rows of {', '.join(checked.not_checked)} in the store not checked: "
            f"not enabled and no folder under {checked.root / paths.SOURCES}"
        )
    return said


def rows(cfg: dict, client, recorded: bool = False) -> list[Finding]:
    """What check() found."""
    return check(cfg, client, recorded).findings


def raw_bytes(cfg: dict) -> list[Finding]:
    """Raw files whose bytes are not the ones fetched (their sidecar's sha256), of every source
    under the data root."""
    root = config.data_root(cfg).resolve()
    findings = []
    for source in sorted(set(cfg["sources_enabled"]) | _sources_on_disk(root)):
        for sidecar in sorted(paths.sidecars(root, source)):
            raw = sidecar.with_suffix("")
            meta = Sidecar.read(sidecar)
            if not raw.exists() or sha256_of(raw) != meta.sha256:
                findings.append(
                    Finding("changed_bytes", source, meta.raw_key, None, None, str(raw))
                )
    return findings


def record(finding: Finding) -> dict:
    """One finding as a `--json` record."""
    return {**asdict(finding), "problem": describe(finding)}


def describe(finding: Finding) -> str:
    what = {
        "missing": "its rows are missing",
        "partial": f"{finding.found} of its {finding.expected} rows are there",
        "duplicated": f"{finding.found} rows where {finding.expected} were loaded",
        "unmarked": f"{finding.found} rows whose raw file has no load marker",
        "changed_bytes": "the raw file is not the one fetched (sha256 differs, or it is gone)",
    }[finding.kind]
    return f"{finding.source} {finding.raw_key}: {what}"
