rule fetch:
    """One raw file: the selected messages by ranged GET (or the whole object), verified,
    with its inventory and sidecar. For a job source, the object the job made."""
    input:
        unpack(job_results),
    output:
        raw=pattern(paths.RAW),
        idx=pattern(paths.RAW_IDX),
        sidecar=pattern(paths.SIDECAR),
    log:
        pattern(paths.FETCH_LOG),
    conda:
        "../../envs/gridflow.yaml"
    resources:
        downloads=1,
    params:
        spec=fetch_spec,
        results=lambda wildcards, input: (
            f"--results {input.results}" if "results" in input.keys() else ""
        ),
    shell:
        "gridflow fetch --spec {params.spec:q} {params.results} --raw {output.raw:q}"
        " --idx {output.idx:q} --sidecar {output.sidecar:q} 2>&1 | tee {log:q}"
