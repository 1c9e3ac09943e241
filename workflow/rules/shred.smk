rule shred:
    """Decode a raw file message by message into a long Parquet table."""
    input:
        grib=rules.fetch.output.grib,
        idx=rules.fetch.output.idx,
        sidecar=rules.fetch.output.sidecar,
    output:
        pattern(paths.SHRED),
    log:
        f"{ROOT}/logs/shred/{{source}}/{{cycle}}/{{step}}.log",
    conda:
        "../../envs/gridflow.yaml"
    params:
        options=shred_options,
    shell:
        "gridflow shred --raw {input.grib:q} --idx {input.idx:q} --sidecar {input.sidecar:q}"
        " --out {output:q} --options {params.options:q} 2>&1 | tee {log:q}"
