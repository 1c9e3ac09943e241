rule shred:
    """Decode a raw file field by field into a long Parquet table."""
    input:
        unpack(raw_files),
    output:
        shred_output(),
    log:
        pattern(paths.LOG, "shred"),
    conda:
        "../../envs/gridflow.yaml"
    params:
        options=shred_options,
    shell:
        "gridflow shred --raw {input.raw:q} --idx {input.idx:q} --sidecar {input.sidecar:q}"
        " --out {output:q} --options {params.options:q} 2>&1 | tee {log:q}"
