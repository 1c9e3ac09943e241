import shlex


# Delete everything past retention; preview with `gridflow purge --dry-run`.
rule purge:
    log:
        f"{ROOT}/logs/purge/{NOW:%Y%m%dT%H%M%SZ}.log",
    conda:
        "../../envs/gridflow.yaml"
    params:
        # a function: the JSON holds braces Snakemake would read as wildcards
        cfg=lambda wildcards: json.dumps(CFG),
        project=workflow.basedir,
        storage=shlex.join(storage_options()),
    shell:
        "gridflow purge --config-json {params.cfg:q} --workdir . --project {params.project:q}"
        " {params.storage} 2>&1 | tee {log:q}"
