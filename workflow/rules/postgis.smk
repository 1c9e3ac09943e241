rule load_postgis:
    """Register the raw file in the catalog and load its selected variables as cells."""
    input:
        unpack(raw_files),
        clickhouse=pattern(paths.MARKER),  # its load is recorded in the catalog too
    output:
        pattern(paths.PG_MARKER),
    log:
        pattern(paths.LOG, "load_postgis"),
    conda:
        "../../envs/gridflow.yaml"
    params:
        spec=postgis_spec,
    shell:
        # the database's DSN comes untracked (gridflow.config.operating): it decides no output
        "gridflow load-postgis --raw {input.raw:q} --idx {input.idx:q}"
        " --sidecar {input.sidecar:q} --spec {params.spec:q}"
        " --marker {output:q} 2>&1 | tee {log:q}"


rule routes:
    """After cells land, recompute every saved route's exposure to the newest hour."""
    input:
        pattern(paths.PG_MARKER),
    output:
        pattern(paths.ROUTES_MARKER),
    log:
        pattern(paths.LOG, "routes"),
    conda:
        "../../envs/gridflow.yaml"
    shell:
        "gridflow routes --marker {output:q} 2>&1 | tee {log:q}"
