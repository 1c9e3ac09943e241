# The input functions of the rules, and what they need: the configuration, the paths'
# wildcards, the run's plan (gridflow.pipeline.plan, .wildcards and .rule_inputs).
import functools
import json
import os
import sys

from gridflow import errors, formats, paths
from gridflow.config import loading as gfconfig
from gridflow.pipeline import plan as gfplan
from gridflow.pipeline import rule_inputs
from gridflow.pipeline import wildcards as target_wildcards
from gridflow.sources import source as source_of

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


def shred_output(template):
    """Shreds and their grids files are deleted once loaded (the load marker stands for them
    in the DAG), unless `keep_shreds` asks to keep them."""
    path = pattern(template)
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
    names = (wildcards.source, wildcards.cycle, wildcards.step)
    return rule_inputs.raw_files(ROOT, *names, fmt)


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
    steps = [t.step for t in ready]
    return rule_inputs.cycle_markers(CFG, wildcards.source, wildcards.cycle, steps)


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
    spec = rule_inputs.postgis_spec(CFG, wildcards.source)
    return json.dumps(spec, sort_keys=True)


def storage_options():
    """The purge's options for the outputs' bucket, if there is one."""
    return ["--storage-prefix", STORAGE_PREFIX] if STORAGE_PREFIX else []
