# The run's start and end: what every job of the run shares, the at-exit purge, the metrics and
# the outcome (gridflow.ops.run_end). Included after common.smk, whose names it uses.
import atexit
import logging

import psutil

from gridflow.config import operating
from gridflow.net import host_health
from gridflow.ops import run_end
from gridflow.pipeline.purge_bucket import Bucket

# every job of a run, and later runs, share each upstream host's health (circuit breaker):
# the workflow hands its jobs the folder
os.environ[host_health.FOLDER_ENV] = str(host_health.folder(ROOT))
# how to fetch never decides what is fetched, nor where the stores live what is loaded: jobs
# get both untracked (gridflow.config.operating), so a moved project folder reruns nothing
os.environ[operating.ENV] = operating.for_jobs(
    {s: source_of(s, CFG).operating(CFG["fetch"]) for s in CFG["sources"]},
    workflow.basedir,
    {s: gfconfig.load_check_settings(CFG, s) for s in CFG["sources"]},
    {"clickhouse": DSN, "postgres": PG_DSN},
)
if not PG_DSN:
    print(
        "gridflow: PostGIS sink off (no GRIDFLOW_PG_DSN or sinks.postgis.dsn): "
        "catalog, cells and routes are not in the DAG",
        file=sys.stderr,
    )

# The working directory is the run's (--directory) as the Snakefile loads; the duration is
# timed from Snakemake's own start (psutil comes with Snakemake).
RUN_END = run_end.RunEnd(
    CFG, os.getcwd(), psutil.Process().create_time(), storage_options()
)


def note_outcome(outcome):
    """The run's outcome (from the hooks, or a refused target), for when Snakemake exits."""
    RUN_END.outcome.note(outcome)


def _at_exit():
    settings = workflow.execution_settings  # None: a summary, an unlock, a lint, ...
    if workflow.dryrun or workflow.touch or settings is None or settings.no_hooks:
        return
    RUN_END.at_exit(listed=current_plan.cache_info().currsize > 0)


if workflow.is_main_process:
    atexit.register(_at_exit)
    logging.getLogger("snakemake.logging").addHandler(RUN_END.outcome.error_listener())


onstart:
    # the S3 plugin deletes a bucket when it removes its last object: a marker prevents it
    if STORAGE_PREFIX:
        Bucket(STORAGE_PREFIX).keep_alive()


onsuccess:
    RUN_END.after_ingest_purge()
    note_outcome("success")


onerror:
    note_outcome("error")
