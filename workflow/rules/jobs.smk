rule submit_job:
    """Submit one request to a source's job service (the ADS), once: the job file remembers it."""
    output:
        pattern(paths.JOB),
    log:
        pattern(paths.LOG, "submit_job"),
    conda:
        "../../envs/gridflow.yaml"
    params:
        request=job_request,
    shell:
        "gridflow job-submit --source {wildcards.source} --request {params.request:q}"
        " --out {output:q} 2>&1 | tee {log:q}"


rule await_job:
    """Wait politely for a submitted job; its results file names the object to fetch."""
    input:
        pattern(paths.JOB),
    output:
        pattern(paths.JOB_RESULTS),
    log:
        pattern(paths.LOG, "await_job"),
    conda:
        "../../envs/gridflow.yaml"
    shell:
        "gridflow job-await --source {wildcards.source} --job {input:q} --out {output:q}"
        " 2>&1 | tee {log:q}"
