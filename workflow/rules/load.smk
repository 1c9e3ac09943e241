rule load_clickhouse:
    """Load one shred into grid_data (idempotent) and leave a marker."""
    input:
        parquet=rules.shred.output[0],
        sidecar=rules.fetch.output.sidecar,
    output:
        paths.MARKER.format(root=ROOT, source="{source}", cycle="{cycle}", step="{step}"),
    params:
        dsn=DSN,
        migrations=MIGRATIONS,
    log:
        f"{ROOT}/logs/load/{{source}}/{{cycle}}/{{step}}.log",
    resources:
        # chDB allows one process per store: loads take turns (--resources chdb_store=1)
        chdb_store=1,
    shell:
        "gridflow load --parquet {input.parquet:q} --sidecar {input.sidecar:q}"
        " --dsn {params.dsn:q} --marker {output:q} --migrations {params.migrations:q}"
        " 2>&1 | tee {log:q}"


rule cycle:
    """One cycle's loads; `snakemake <data_root>/cycles/gfs/2025031206.json --forcerun fetch`
    rebuilds that cycle from upstream."""
    input:
        cycle_markers,
    output:
        paths.CYCLE.format(root=ROOT, source="{source}", cycle="{cycle}"),
    log:
        f"{ROOT}/logs/cycle/{{source}}/{{cycle}}.log",
    shell:
        "gridflow cycle-summary --out {output:q} {input:q} 2>&1 | tee {log:q}"
