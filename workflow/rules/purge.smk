rule purge:
    log:
        f"{ROOT}/logs/purge/{NOW:%Y%m%dT%H%M%SZ}.log",
    conda:
        "../../envs/gridflow.yaml"
    """Delete everything past retention; preview with `gridflow purge --dry-run`."""
    params:
        cfg=json.dumps(CFG),
    shell:
        "gridflow purge --config-json {params.cfg:q} --workdir . 2>&1 | tee {log:q}"
