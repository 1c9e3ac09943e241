rule fetch:
    """One raw file: the selected messages by ranged GET, verified, with its .idx and sidecar."""
    output:
        grib=pattern(paths.RAW),
        idx=pattern(paths.RAW_IDX),
        sidecar=pattern(paths.SIDECAR),
    log:
        f"{ROOT}/logs/fetch/{{source}}/{{cycle}}/{{step}}.log",
    conda:
        "../../envs/gridflow.yaml"
    resources:
        downloads=1,
    params:
        spec=fetch_spec,
    shell:
        "gridflow fetch --spec {params.spec:q} --grib {output.grib:q} --idx {output.idx:q}"
        " --sidecar {output.sidecar:q} 2>&1 | tee {log:q}"
