"""`gridflow verify`: the markers, the raw files and the stores told apart where they disagree.

Every ClickHouse load marker says how many rows of its raw file `grid_data` holds; verify counts
them (one GROUP BY per source) and names each file whose rows are missing, partial or
duplicated, and rows whose raw file has no marker. With `--sha256` it also checks each raw file
against the sha256 its sidecar recorded. `--repair` is gridflow.repair: it plans the rebuild
of exactly those files, and removes nothing until Snakemake has accepted that plan.

Gauge rows are not counted against their markers: a later record covering the same gauges and
days replaces them on purpose (gridflow.sinks.clickhouse).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from gridflow import paths
from gridflow.fetch import sha256_of
from gridflow.sinks import clickhouse


@dataclass(frozen=True)
class Finding:
    kind: str  # missing, partial, duplicated, unmarked, changed_bytes
    source: str
    raw_key: str
    expected: int | None
    found: int | None
    path: str | None  # the marker (or, for changed bytes, the raw file) on disk


def _markers(root: Path, source: str) -> dict[str, tuple[Path, dict]]:
    found = {}
    for marker in (root / paths.SOURCES / source).glob("*/loaded/clickhouse/*.json"):
        meta = json.loads(marker.read_text())
        if meta.get("table", clickhouse.TABLE) == clickhouse.TABLE:
            found[meta["raw_key"]] = (marker, meta)
    return found


def rows(cfg: dict, client) -> list[Finding]:
    """Row counts per raw file against the markers (the cheap check)."""
    root = Path(cfg["data_root"]).resolve()
    findings = []
    has_table = int(client.command(f"EXISTS TABLE {clickhouse.TABLE}"))
    for source in cfg["sources_enabled"]:
        markers = _markers(root, source)
        counts = {}
        if has_table:
            counts = dict(
                client.query(
                    f"SELECT raw_key, count() FROM {clickhouse.TABLE} WHERE source = %(s)s "
                    "GROUP BY raw_key",
                    parameters={"s": source},
                ).result_rows
            )
        for raw_key, (marker, meta) in sorted(markers.items()):
            have, want = counts.get(raw_key, 0), meta["rows"]
            if have != want:
                kind = "missing" if have == 0 else "partial" if have < want else "duplicated"
                findings.append(Finding(kind, source, raw_key, want, have, str(marker)))
        for raw_key in sorted(set(counts) - set(markers)):
            findings.append(Finding("unmarked", source, raw_key, None, counts[raw_key], None))
    return findings


def raw_bytes(cfg: dict) -> list[Finding]:
    """Raw files whose bytes are not the ones fetched (their sidecar's sha256)."""
    root = Path(cfg["data_root"]).resolve()
    findings = []
    for source in cfg["sources_enabled"]:
        for sidecar in sorted((root / paths.SOURCES / source).glob("*/raw/*.json")):
            raw = sidecar.with_suffix("")
            meta = json.loads(sidecar.read_text())
            if not raw.exists() or sha256_of(raw) != meta.get("sha256"):
                findings.append(
                    Finding("changed_bytes", source, meta["raw_key"], None, None, str(raw))
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
