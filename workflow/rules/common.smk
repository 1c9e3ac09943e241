import atexit
import functools
import json
import logging
import os
import shlex
import subprocess
import sys
import time

import psutil

from gridflow.config import loading as gfconfig
from gridflow import errors, formats, paths
from gridflow.net import host_health
from gridflow.config import operating
from gridflow.pipeline import plan as gfplan
from gridflow.pipeline import wildcards as target_wildcards
from gridflow.sources import source as source_of
from gridflow.pipeline.purge_bucket import Bucket

CFG = gfconfig.for_workflow(config, workflow.basedir)
ROOT = CFG["data_root"]
NOW = gfconfig.now(CFG)
DSN = CFG["sinks"]["clickhouse"]["dsn"]
PG_DSN = CFG["sinks"]["postgis"]["dsn"]
# With profiles/s3 every output lives in the bucket under this prefix (the purge needs it).
STORAGE_PREFIX = (
    workflow.storage_settings.default_storage_prefix
    if workflow.storage_settings.default_storage_provider == "s3"
    else None
)
if STORAGE_PREFIX and os.path.isabs(ROOT):
    raise ValueError(
        f"data_root {ROOT} is absolute: with a storage profile it must be relative, "
        "it becomes the key prefix inside the bucket"
    )


# every job of a run, and later runs, share each upstream host's health (circuit breaker):
# the workflow hands its jobs the folder
os.environ[host_health.FOLDER_ENV] = str(host_health.folder(ROOT))
# how to fetch never decides what is fetched, nor where the stores live what is loaded: jobs
# get both untracked (gridflow.config.operating), so a moved project folder reruns nothing
os.environ[operating.ENV] = operating.for_workflow(
    {s: source_of(s, CFG).operating(CFG["fetch"]) for s in CFG["sources"]},
    workflow.basedir,
    {s: gfconfig.validation(CFG, s) for s in CFG["sources"]},
    {"clickhouse": DSN, "postgres": PG_DSN},
)
if not PG_DSN:
    print(
        "gridflow: PostGIS sink off (no GRIDFLOW_PG_DSN or sinks.postgis.dsn): "
        "catalog, cells and routes are not in the DAG",
        file=sys.stderr,
    )


wildcard_constraints:
    source=r"[a-z][a-z0-9_]*",
    cycle=r"\d{10}|\d{14}",
    step=r"f\d{3}|[A-Za-z][A-Za-z0-9_.]*?",
    fmt="|".join(formats.extensions()),


def pattern(template, stage=""):
    """A path template of gridflow.paths with the wildcards left for Snakemake; `stage` names
    a job log's rule."""
    wildcards = {w: f"{{{w}}}" for w in ("source", "cycle", "step", "fmt")}
    return template.format(root=ROOT, rule=stage, **wildcards)


def shred_output():
    """Shreds are deleted once loaded (the load marker stands for them in the DAG), unless
    `keep_shreds` asks to keep them."""
    path = pattern(paths.SHRED)
    return path if CFG["keep_shreds"] else temp(path)


@functools.cache
def _checked(source, cycle, step, fmt, job):
    try:
        return target_wildcards.check(CFG, source, cycle, step, fmt, job)
    except target_wildcards.NoSuchTarget as exc:
        folder = paths.CYCLE_DIR.format(root=ROOT, source=source, cycle=cycle)
        print(f"gridflow: nothing makes a target in {folder}: {exc}", file=sys.stderr)
        note_outcome("error")  # the metrics written at exit count a failed run
        raise SystemExit(errors.USAGE) from None


def checked(wildcards, job=False):
    """A target's wildcards as values (gridflow.pipeline.wildcards); `job` for a job file's. A path
    whose wildcards name nothing configured ends the run with one line: raised, Snakemake
    would wrap it in an InputFunctionException with a traceback."""
    return _checked(
        wildcards.source,
        wildcards.cycle,
        wildcards.get("step"),
        wildcards.get("fmt"),
        job,
    )


def is_real_run():
    """A run that executes jobs; a dry run, a touch, a summary or a lint is a preview and
    writes nothing a later run trusts (the listing cache)."""
    return workflow.executor_plugin is not None and not (
        workflow.dryrun or workflow.touch
    )


def raw_files(wildcards):
    """The fetched raw file, its inventory and sidecar, in the source's own format."""
    fmt = source_of(wildcards.source, CFG).extension_of(checked(wildcards).step)
    return {
        name: template.format(
            root=ROOT,
            source=wildcards.source,
            cycle=wildcards.cycle,
            step=wildcards.step,
            fmt=fmt,
        )
        for name, template in (
            ("raw", paths.RAW),
            ("idx", paths.RAW_IDX),
            ("sidecar", paths.SIDECAR),
        )
    }


@functools.cache
def current_plan():
    """Listing upstream happens once per run, and only when `rule all` is asked for."""
    result = gfplan.plan(CFG, NOW, keep=is_real_run())
    print(f"gridflow plan: {result.summary()}", file=sys.stderr)
    return result


def pending_cycles(wildcards):
    cycles = {(t.source, paths.cycle_id(t.cycle)) for t in current_plan().ready}
    return sorted(paths.CYCLE.format(root=ROOT, source=s, cycle=c) for s, c in cycles)


def cycle_markers(wildcards):
    """The load markers of one cycle's published files (also when rebuilding an old cycle)."""
    cycle = checked(wildcards).cycle
    if current_plan.cache_info().currsize:  # `rule all` has listed upstream already
        ready = [
            t
            for t in current_plan().ready
            if t.source == wildcards.source and t.cycle == cycle
        ]
    else:  # a cycle asked for by name (a rebuild): list just that one
        ready, _ = gfplan.cycle_status(
            CFG, wildcards.source, cycle, NOW, keep=is_real_run()
        )
    markers = [paths.MARKER]
    if PG_DSN:
        markers.append(paths.PG_MARKER)
        if CFG["sources"][wildcards.source].get("postgis"):
            markers.append(paths.ROUTES_MARKER)
    return [
        m.format(
            root=ROOT,
            source=wildcards.source,
            cycle=wildcards.cycle,
            step=paths.step_id(t.step),
        )
        for t in ready
        for m in markers
    ]


def fetch_spec(wildcards):
    cycle, step = checked(wildcards).cycle, checked(wildcards).step
    spec = source_of(wildcards.source, CFG).fetch_spec(
        cycle, step, paths.raw_key(wildcards.source, cycle, step, wildcards.fmt)
    )
    return json.dumps(spec, sort_keys=True)


def job_results(wildcards):
    """A job source's fetch waits for the job's results file; other sources need nothing."""
    checked(wildcards)
    if not source_of(wildcards.source, CFG).runs_jobs:
        return {}
    names = dict(root=ROOT, source=wildcards.source, cycle=wildcards.cycle)
    return {"results": paths.JOB_RESULTS.format(**names, step=wildcards.step)}


def job_request(wildcards):
    cycle = checked(wildcards, job=True).cycle
    family = source_of(wildcards.source, CFG)
    return json.dumps(family.request(cycle, wildcards.step), sort_keys=True)


def shred_options(wildcards):
    step = checked(wildcards).step
    options = source_of(wildcards.source, CFG).shred_options(step)
    return json.dumps(options, sort_keys=True)


def postgis_spec(wildcards):
    checked(wildcards)
    src = CFG["sources"][wildcards.source]
    cells = src.get("postgis") or {}
    spec = {
        "variables": cells.get("variables", []),
        "bbox": cells.get("bbox"),
        "stride": cells.get("stride", 1),
        "thresholds": CFG["sinks"]["postgis"].get("thresholds", {}),
    }
    if (
        "dqf_keep" in src
    ):  # quality flags kept (TEMPO): the cells keep what the rows keep
        spec["dqf_keep"] = src["dqf_keep"]
    return json.dumps(spec, sort_keys=True)


def storage_options():
    """The purge's options for the outputs' bucket, if there is one."""
    return ["--storage-prefix", STORAGE_PREFIX] if STORAGE_PREFIX else []


def keep_bucket_alive():
    """The S3 plugin deletes a bucket when it removes its last object: a marker prevents it."""
    if STORAGE_PREFIX:
        Bucket(STORAGE_PREFIX).keep_alive()


# A run with nothing to do calls no hook, and neither does one that fails while Snakemake
# builds the DAG (an input function's error): Snakemake logs that error, so an error logged
# with no hook called is a failed run, and no hook and no error is a run with nothing to do.
RUN_OUTCOME = {"outcome": "success", "hooked": False, "logged_error": False}
# the run's duration is timed from Snakemake's own start (psutil comes with Snakemake)
RUN_STARTED = psutil.Process().create_time()
WORKDIR = (
    os.getcwd()
)  # the run's working directory (--directory), as the Snakefile loads


def note_outcome(outcome):
    """The run's outcome (from onsuccess / onerror), for what happens when Snakemake exits."""
    RUN_OUTCOME.update(outcome=outcome, hooked=True)


class _NoteErrors(logging.Handler):
    """Notes that Snakemake logged an error (it logs every exception it ends a run with)."""

    def emit(self, record):
        RUN_OUTCOME["logged_error"] = True


def run_outcome():
    """success or error, once Snakemake is done."""
    if RUN_OUTCOME["hooked"]:
        return RUN_OUTCOME["outcome"]
    # an exception nobody caught (Ctrl-C while the DAG is built) ends the run too
    ended_by_exception = getattr(sys, "last_value", None) is not None
    return "error" if RUN_OUTCOME["logged_error"] or ended_by_exception else "success"


def _metrics_at_exit():
    """With `metrics.textfile` or `metrics.pushgateway`, every run (one with nothing to do
    too, which calls no hook) ends by writing metrics; a failure to write them is reported,
    never the run's own outcome."""
    config = json.dumps(CFG)
    command = ["gridflow", "metrics", "--config-json", config, "--workdir", WORKDIR]
    seconds = f"{max(0.0, time.time() - RUN_STARTED):.3f}"
    # at exit Snakemake has left --directory again: the run's paths are relative to it
    ran = subprocess.run(
        [*command, "--outcome", run_outcome(), "--run-seconds", seconds], cwd=WORKDIR
    )
    if ran.returncode:
        print("gridflow: the metrics were not written (see above)", file=sys.stderr)


def _at_exit():
    """A scheduled run with nothing to do calls no hook: it purges here (so a purge cut
    short by a crash is finished by the next run, not the next one with new files), then
    every run writes its metrics."""
    settings = workflow.execution_settings  # None: a summary, an unlock, a lint, ...
    if workflow.dryrun or workflow.touch or settings is None or settings.no_hooks:
        return
    if not RUN_OUTCOME["hooked"] and current_plan.cache_info().currsize:
        try:
            after_ingest_purge(cwd=WORKDIR)
        except subprocess.CalledProcessError:
            print("gridflow: the purge failed (see above)", file=sys.stderr)
    wanted = CFG.get("metrics") or {}
    if wanted.get("textfile") or wanted.get("pushgateway"):
        _metrics_at_exit()


if workflow.is_main_process:
    atexit.register(_at_exit)
    logging.getLogger("snakemake.logging").addHandler(_NoteErrors(logging.ERROR))


def after_ingest_purge(cwd=None):
    """With `purge: after_ingest`, a successful scheduled run ends with a purge."""
    if CFG["purge"] == "after_ingest":
        purge_cmd = [
            "gridflow",
            "purge",
            "--config-json",
            json.dumps(CFG),
            "--workdir",
            ".",
            *storage_options(),
        ]
        subprocess.run(purge_cmd, check=True, cwd=cwd)
