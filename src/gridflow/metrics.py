"""Prometheus metrics after every run (the official `prometheus_client`): written atomically to
a node_exporter textfile-collector path, and pushed to a Pushgateway when one is configured.

What they say comes from the run's own records: `gridflow status` (files per state, lag), the
sidecars (bytes fetched against the whole objects' size), the load markers (rows per table),
Snakemake's records (seconds per rule), the last purge report, and a small counter file in the
data root (runs by outcome: a textfile holds no state of its own).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

from gridflow import paths

RUNS = "metrics-runs.json"  # in the data root: runs counted by outcome


def _count_run(root: Path, outcome: str) -> dict:
    path = root / RUNS
    counts = json.loads(path.read_text()) if path.exists() else {}
    counts[outcome] = counts.get(outcome, 0) + 1
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(counts))
    os.replace(tmp, path)
    return counts


def _rule_seconds(workdir: Path) -> dict[str, tuple[int, float]]:
    """(jobs, seconds) per rule, from Snakemake's records of the outputs it made."""
    jobs: dict[tuple, float] = {}  # one record per output: a job is its rule and job hash
    folder = workdir / ".snakemake" / "metadata"
    for record in folder.glob("*") if folder.is_dir() else []:
        try:
            meta = json.loads(record.read_text())
            seconds = float(meta["endtime"]) - float(meta["starttime"])
            jobs[(meta["rule"], meta["job_hash"])] = max(
                seconds, jobs.get((meta["rule"], meta["job_hash"]), 0)
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    found: dict[str, tuple[int, float]] = {}
    for (rule, _), seconds in jobs.items():
        count, total = found.get(rule, (0, 0.0))
        found[rule] = (count + 1, total + seconds)
    return found


def registry(cfg: dict, report: dict, workdir: Path, outcome: str):
    from prometheus_client import CollectorRegistry, Gauge

    root = Path(cfg["data_root"]).resolve()
    reg = CollectorRegistry()

    def gauge(name, text, labels=()):
        return Gauge(f"gridflow_{name}", text, list(labels), registry=reg)

    runs = gauge("runs", "workflow runs, by outcome", ["outcome"])
    for name, count in _count_run(root, outcome).items():
        runs.labels(name).set(count)
    gauge("last_run_timestamp_seconds", "when the last run ended").set(datetime.now().timestamp())
    files = gauge("files", "files of the catch-up window, by state", ["source", "state"])
    lag = gauge("lag_seconds", "age of the newest complete cycle", ["source"])
    for s in report["sources"]:
        for state in ("loaded", "invalid", "pending", "waiting", "failed"):
            files.labels(s["source"], state).set(s[state])
        if s["lag_hours"] is not None:
            lag.labels(s["source"]).set(s["lag_hours"] * 3600)
    retries = gauge("fetch_retries", "requests tried again by the kept raw files", ["source"])
    host_retries = gauge("host_retries", "requests tried again, by upstream host", ["host"])
    paused = gauge("host_paused", "1 while a host's circuit breaker pauses it", ["host"])
    for host in report.get("hosts", []):
        host_retries.labels(host["host"]).set(host["retries"])
        paused.labels(host["host"]).set(int(host["paused"]))
    fetched = gauge("fetched_bytes", "bytes fetched, raw files on disk", ["source"])
    whole = gauge("upstream_bytes", "size of the whole upstream objects fetched from", ["source"])
    rows = gauge("rows_loaded", "rows loaded, by table", ["source", "table"])
    for s in report["sources"]:
        name, got, full, tried, by_table = s["source"], 0, 0, 0, {}
        folder = root / paths.SOURCES / name
        for sidecar in folder.glob("*/raw/*.json"):
            meta = json.loads(sidecar.read_text())
            got += meta.get("size", 0)
            tried += meta.get("retries", 0)
            full += meta.get("upstream_size") or meta.get("size", 0)
        for marker in folder.glob("*/loaded/*/*.json"):
            meta = json.loads(marker.read_text())
            if "rows" in meta and "table" in meta:
                by_table[meta["table"]] = by_table.get(meta["table"], 0) + meta["rows"]
        fetched.labels(name).set(got)
        retries.labels(name).set(tried)
        whole.labels(name).set(full)
        for table, count in by_table.items():
            rows.labels(name, table).set(count)
    jobs = gauge("rule_jobs", "jobs Snakemake recorded, by rule", ["rule"])
    seconds = gauge("rule_seconds", "seconds those jobs took, by rule", ["rule"])
    for rule, (count, total) in sorted(_rule_seconds(workdir).items()):
        jobs.labels(rule).set(count)
        seconds.labels(rule).set(total)
    purged = report.get("last_purge")
    if purged:
        last = gauge("purge_last", "the last purge", ["what"])
        for what in ("files_deleted", "bytes_freed", "rows_deleted", "failures"):
            last.labels(what).set(purged.get(what) or 0)
    return reg


def write(cfg: dict, report: dict, workdir: Path, outcome: str) -> list[str]:
    """Write and push as configured; returns where the metrics went."""
    from prometheus_client import push_to_gateway, write_to_textfile

    wanted = cfg.get("metrics") or {}
    if not (wanted.get("textfile") or wanted.get("pushgateway")):
        return []
    reg = registry(cfg, report, workdir, outcome)
    went = []
    if wanted.get("textfile"):
        Path(wanted["textfile"]).parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(wanted["textfile"], reg)  # atomic: a temp file renamed over it
        went.append(wanted["textfile"])
    if wanted.get("pushgateway"):
        push_to_gateway(wanted["pushgateway"], job=wanted.get("job", "gridflow"), registry=reg)
        went.append(wanted["pushgateway"])
    return went
