# gridflow: a rolling, queryable archive of weather and environmental grids.
# Usage: snakemake --cores 2 [--configfile more.yaml] [--config now=2025-03-12T06:00:00Z]


configfile: f"{workflow.basedir}/config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/lifecycle.smk"


# On a cluster these run on the submitting host, where the store and database connections are.
localrules:
    load_clickhouse,
    cycle,
    load_postgis,
    routes,
    submit_job,
    await_job,
    purge,
    all,


include: "workflow/rules/jobs.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/shred.smk"
include: "workflow/rules/load.smk"
include: "workflow/rules/postgis.smk"


rule all:
    default_target: True
    input:
        pending_cycles,


include: "workflow/rules/purge.smk"
