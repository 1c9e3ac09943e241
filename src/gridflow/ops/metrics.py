"""Prometheus metrics after every run (the official `prometheus_client`): written atomically to
a node_exporter textfile-collector path, and pushed to a Pushgateway when one is configured.

Names follow Prometheus' conventions (`promtool check metrics` is clean): what only grows is a
counter ending in `_total`, each metric has one unit, in base units (seconds, bytes). Counters
keep their totals between runs in the data root (gridflow.ops.metric_counts); gauges say how things
stand now, from `gridflow status` (files per state, lag, staleness) and the hosts' health.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridflow.config import loading as config
from gridflow.ops import metric_counts
from gridflow.ops.metric_counts import Counts


@dataclass(frozen=True)
class CounterSpec:
    key: str  # the name in gridflow.ops.metric_counts
    name: str  # the exposed name, without `_total`
    help: str
    labels: tuple[str, ...]


COUNTERS = (
    CounterSpec("runs", "gridflow_runs", "workflow runs that ended, by outcome", ("outcome",)),
    CounterSpec(
        "files_ingested",
        "gridflow_files_ingested",
        "raw files loaded into ClickHouse, by source",
        ("source",),
    ),
    CounterSpec(
        "rows_loaded", "gridflow_rows_loaded", "rows loaded, by table", ("source", "table")
    ),
    CounterSpec(
        "fetched_bytes",
        "gridflow_fetched_bytes",
        "bytes fetches received over the wire (ranged GETs: only the ranges; gzipped "
        "objects: their packed size)",
        ("source",),
    ),
    CounterSpec(
        "upstream_object_bytes",
        "gridflow_upstream_object_bytes",
        "size of the whole upstream objects those fetches read from",
        ("source",),
    ),
    CounterSpec(
        "fetch_retries",
        "gridflow_fetch_retries",
        "requests the fetches tried again, by source",
        ("source",),
    ),
    CounterSpec("rule_jobs", "gridflow_rule_jobs", "jobs Snakemake recorded, by rule", ("rule",)),
    CounterSpec(
        "rule_seconds", "gridflow_rule_seconds", "seconds those jobs took, by rule", ("rule",)
    ),
    CounterSpec(
        "purge_files_deleted",
        "gridflow_purge_files_deleted",
        "files the purge deleted (in cycle folders or the bucket), by source",
        ("source",),
    ),
    CounterSpec(
        "purge_bytes_freed",
        "gridflow_purge_bytes_freed",
        "bytes the purge freed, by source",
        ("source",),
    ),
    CounterSpec(
        "purge_rows_deleted",
        "gridflow_purge_rows_deleted",
        "store rows the purge deleted, by source",
        ("source",),
    ),
    CounterSpec(
        "purge_failures",
        "gridflow_purge_failures",
        "purge items that failed (retried by the next purge), by source",
        ("source",),
    ),
)
STATES = ("loaded", "invalid", "pending", "waiting", "failed")


class Collected:
    """What a registry collects: the counters' totals and the gauges of the status report."""

    def __init__(self, counts: Counts, report: dict | None):
        self.counts = counts
        self.report = report

    def describe(self):
        return []  # the families vary with the data; nothing to check at registration

    def collect(self):
        yield from self._counters()
        yield self._durations()
        yield from self._gauges()

    def _counters(self):
        from prometheus_client.core import CounterMetricFamily

        for spec in COUNTERS:
            family = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
            found = dict(self.counts.of(spec.key))
            if spec.key == "runs":
                for outcome in metric_counts.OUTCOMES:  # both from the start, for rate()
                    found.setdefault((outcome,), 0)
            for labels, value in sorted(found.items()):
                family.add_metric(list(labels), value)
            yield family
        hosts = CounterMetricFamily(
            "gridflow_host_retries", "requests tried again, by upstream host", labels=["host"]
        )
        for host in (self.report or {}).get("hosts", []):
            hosts.add_metric([host["host"]], host["retries"])
        yield hosts

    def _durations(self):
        from prometheus_client.core import HistogramMetricFamily

        durations = self.counts.durations
        return HistogramMetricFamily(
            "gridflow_run_duration_seconds",
            "how long workflow runs took, from the Snakefile's start to its exit",
            buckets=durations.cumulative(),
            sum_value=durations.total,
        )

    def _gauges(self):
        from prometheus_client.core import GaugeMetricFamily

        last = GaugeMetricFamily(
            "gridflow_last_run_timestamp_seconds",
            "when the last run ended, by outcome",
            labels=["outcome"],
        )
        for outcome, at in sorted(self.counts.last_run.items()):
            last.add_metric([outcome], at)
        yield last
        if self.report is None:
            return
        files = GaugeMetricFamily(
            "gridflow_files",
            "files of the catch-up window now, by state",
            labels=["source", "state"],
        )
        lag = GaugeMetricFamily(
            "gridflow_lag_seconds", "age of the newest complete cycle", labels=["source"]
        )
        stale = GaugeMetricFamily(
            "gridflow_stale",
            "1 when the newest complete cycle is older than stale_after_hours",
            labels=["source"],
        )
        for s in self.report["sources"]:
            for state in STATES:
                if s[state] is not None:  # unknown while upstream cannot be reached
                    files.add_metric([s["source"], state], s[state])
            if s["lag_seconds"] is not None:
                lag.add_metric([s["source"]], s["lag_seconds"])
            stale.add_metric([s["source"]], int(s["stale"]))
        yield from (files, lag, stale)
        paused = GaugeMetricFamily(
            "gridflow_host_paused", "1 while a host's circuit breaker pauses it", labels=["host"]
        )
        for host in self.report.get("hosts", []):
            paused.add_metric([host["host"]], int(host["paused"]))
        yield paused
        purged = self.report.get("last_purge") or {}
        at = metric_counts.when(purged.get("purged_at"))
        if at is not None:
            yield GaugeMetricFamily(
                "gridflow_last_purge_timestamp_seconds", "when the last purge ended", value=at
            )


def wanted(cfg: dict) -> bool:
    """Whether the configuration asks for metrics (a textfile or a Pushgateway)."""
    where = cfg.get("metrics") or {}
    return bool(where.get("textfile") or where.get("pushgateway"))


def registry(counts: Counts, report: dict | None):
    from prometheus_client import CollectorRegistry

    reg = CollectorRegistry(auto_describe=False)
    reg.register(Collected(counts, report))
    return reg


def write(
    cfg: dict,
    report: dict | None,
    workdir: Path,
    outcome: str | None = None,
    seconds: float | None = None,
) -> list[str]:
    """Count the run (when its outcome is given), then write and push as configured; returns
    where the metrics went. `report` is `gridflow status`'s (None when it could not be made:
    the counters are written all the same)."""
    from prometheus_client import push_to_gateway, write_to_textfile

    if not wanted(cfg):
        return []
    where = cfg["metrics"]
    root = config.data_root(cfg).resolve()
    counts = metric_counts.update(root, Path(workdir), outcome, seconds)
    reg = registry(counts, report)
    went = []
    if where.get("textfile"):
        Path(where["textfile"]).parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(where["textfile"], reg)  # atomic: a temp file renamed over it
        went.append(where["textfile"])
    if where.get("pushgateway"):
        push_to_gateway(where["pushgateway"], job=where.get("job", "gridflow"), registry=reg)
        went.append(where["pushgateway"])
    return went
