rule shred:
    """Decode a raw file field by field into a long Parquet table, its grids beside it."""
    input:
        unpack(raw_files),
    output:
        rows=shred_output(paths.SHRED),
        grids=shred_output(paths.SHRED_GRIDS),
    log:
        pattern(paths.LOG, "shred"),
    conda:
        "../../envs/gridflow.yaml"
    params:
        options=shred_options,
    shell:
        "gridflow shred --raw {input.raw:q} --idx {input.idx:q} --sidecar {input.sidecar:q}"
        " --out {output.rows:q} --grids {output.grids:q} --options {params.options:q} 2>&1 | tee {log:q}"
