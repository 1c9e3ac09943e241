rule load_clickhouse:
    """Load one shred into grid_values, its grids where new (idempotent); leave a marker."""
    input:
        parquet=rules.shred.output.rows,
        grids=rules.shred.output.grids,
        sidecar=lambda wildcards: raw_files(wildcards)["sidecar"],
        idx=lambda wildcards: raw_files(wildcards)["idx"],  # the validators read it
    output:
        pattern(paths.MARKER),
    log:
        pattern(paths.LOG, "load"),
    conda:
        "../../envs/gridflow.yaml"
    resources:
        # chDB allows one process per store: loads take turns (--resources chdb_store=1)
        chdb_store=1,
    shell:
        # the store's DSN comes untracked (gridflow.config.operating): where it lives decides no output
        "gridflow load --parquet {input.parquet:q} --grids {input.grids:q} --sidecar {input.sidecar:q} --idx {input.idx:q}"
        " --marker {output:q} 2>&1 | tee {log:q}"


rule cycle:
    """One cycle's loads; `snakemake <data_root>/cycles/gfs/2025031206/cycle.json --forcerun
    fetch` rebuilds that cycle from upstream."""
    input:
        cycle_markers,
    output:
        pattern(paths.CYCLE),
    log:
        pattern(paths.CYCLE_LOG),
    conda:
        "../../envs/gridflow.yaml"
    shell:
        "gridflow cycle-summary --out {output:q} {input:q} 2>&1 | tee {log:q}"
